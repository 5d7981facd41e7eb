"""Recognise a file's format from its content: magic bytes first, then structure.

Never by extension alone: a pickle named `.txt` is a pickle. The only names
consulted are for formats with no magic at all (a TensorFlow `saved_model.pb`,
standalone Jinja templates, YAML configs), and even then the content must fit.
Detection reads a few KiB (plus the zip directory); it never parses a payload. A
file nothing else claims is a pickle when an unpickler reading it from its first
byte would import or call something before failing (`would_run`: the scan's own
symbolic unpickler, bounded at 16 MiB), whatever its first byte: the unpickler
needs no magic number, and no text heuristic decides it.
Detection runs in the gate process on hostile files: it never raises on content.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

from mlsecops.formats import protobuf, ziparchive
from mlsecops.formats.kinds import Format
from mlsecops.formats.pickle import VALID as PICKLE_OPCODES
from mlsecops.formats.pickle import would_run
from mlsecops.formats.safe_open import open_regular

HEAD = 4096
HDF5_SIG = b"\x89HDF\r\n\x1a\n"
SEVENZIP_SIG = b"7z\xbc\xaf\x27\x1c"
LFS_PREFIX = b"version https://git-lfs.github.com/spec/"
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
JINJA_SUFFIXES = (".j2", ".jinja", ".jinja2", ".template", ".tmpl")
CONFIG_SUFFIXES = (".json", ".yaml", ".yml")
MAX_CONFIG_BYTES = 16 * 1024 * 1024
ONNX_FIELDS = {1, 2, 3, 4, 5, 6, 7, 8, 14, 20, 25}


def detect(fh: BinaryIO, name: str, size: int) -> Format | None:
    """The format of the stream `fh` (seekable), or None for files of no interest."""
    fh.seek(0)
    head = fh.read(HEAD)
    lower = name.lower()
    if not head:
        return None
    if head.startswith(LFS_PREFIX) and size < 1024:
        return Format.lfs_pointer
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return zip_kind(fh, size)
    if head.startswith(SEVENZIP_SIG):
        return Format.sevenzip
    if len(head) >= 262 and head[257:262] == b"ustar":
        return Format.tar
    if head[:2] == b"\x1f\x8b":
        return Format.gzip
    if head[:3] == b"BZh" and head[4:10] == b"1AY&SY":
        return Format.bz2
    if head[:6] == b"\xfd7zXZ\x00":
        return Format.xz
    if head.startswith(b"\x93NUMPY"):
        return numpy_kind(head)
    if head.startswith(HDF5_SIG) or _hdf5_userblock(fh, size):
        return Format.hdf5
    if head[:4] == b"GGUF":
        return Format.gguf
    if _is_safetensors(head, size):
        return Format.safetensors
    if head[0] == 0x80 and len(head) > 1 and 2 <= head[1] <= 5:
        return Format.pytorch_legacy if _torch_legacy(head) else Format.pickle
    if _compressed_pickle(head):
        return _compressed_kind(head)
    if would_run(fh, size):
        return Format.pickle
    if lower.endswith(".pb") and _tf_graph(fh, size):
        return Format.tf_savedmodel
    if _onnx(fh, size):
        return Format.onnx
    if lower.endswith(JINJA_SUFFIXES) and size <= MAX_CONFIG_BYTES:
        return Format.jinja
    if size <= MAX_CONFIG_BYTES and _config_with_template(fh, lower, head):
        return Format.config
    if ziparchive.has_directory(fh, size):
        return zip_kind(fh, size)
    return None


def zip_kind(fh: BinaryIO, size: int) -> Format:
    try:
        directory = ziparchive.read_directory(fh, size, 50_000)
    except ziparchive.ZipFormatError:
        return Format.zip
    names = [e.name for e in directory.entries]
    if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
        if any("/code/" in n or n.startswith("code/") for n in names) and any(n.endswith("constants.pkl") for n in names):
            return Format.torchscript
        return Format.pytorch_zip
    if "config.json" in names and ("metadata.json" in names or "model.weights.h5" in names):
        return Format.keras_v3
    if names and all(n.endswith(".npy") for n in names if not n.endswith("/")):
        return Format.npz
    return Format.zip


def numpy_kind(head: bytes) -> Format:
    """`.npy`: an object dtype means the payload is a pickle."""
    try:
        major = head[6]
        if major == 1:
            (hlen,) = struct.unpack_from("<H", head, 8)
            start = 10
        else:
            (hlen,) = struct.unpack_from("<I", head, 8)
            start = 12
        header = head[start : start + hlen].decode("latin1")
    except (IndexError, struct.error):
        return Format.numpy
    descr = header.split("'descr':", 1)[-1].split(",", 1)[0] if "'descr'" in header else header
    return Format.numpy_object if "O" in descr or "|O" in header else Format.numpy


def _hdf5_userblock(fh: BinaryIO, size: int) -> bool:
    for off in (512, 1024, 2048):
        if size > off + 8:
            fh.seek(off)
            if fh.read(8) == HDF5_SIG:
                return True
    return False


def _is_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 10:
        return False
    (n,) = struct.unpack_from("<Q", head, 0)
    if not 2 <= n <= min(size - 8, 100 * 1024 * 1024):
        return False
    return head[8:9] == b"{" or (head[8:9] in (b" ", b"\n") and head[8:].lstrip()[:1] == b"{")


def _torch_legacy(head: bytes) -> bool:
    # torch.save (legacy): the first pickle is the magic number as a LONG1 opcode.
    magic = TORCH_LEGACY_MAGIC.to_bytes(10, "little")
    return head[2:4] == b"\x8a\x0a" and head[4:14] == magic


def _compressed_pickle(head: bytes) -> bool:
    if len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        return True
    return head[:1] == b"\x5d" and head[1:5] in (b"\x00\x00\x80\x00", b"\x00\x00\x00\x01", b"\x00\x00\x10\x00", b"\x00\x00\x00\x04")


def _compressed_kind(head: bytes) -> Format | None:
    """zlib or raw-lzma streams are only of interest when they hold a pickle (joblib)."""
    if head[0] == 0x78:
        try:
            out = zlib.decompressobj().decompress(head, 64)
        except zlib.error:
            return None
        return Format.zlib if _unpickler_would_start(out) else None
    import lzma

    try:
        out = lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(head, max_length=64)
    except lzma.LZMAError:
        return None
    return Format.lzma if _unpickler_would_start(out) else None


def _unpickler_would_start(out: bytes) -> bool:
    """joblib unpickles whatever the stream decompresses to: any opening opcode makes it a
    candidate (a pickle without PROTO is still a pickle); the worker decides on all of it."""
    return bool(out) and out[0] in PICKLE_OPCODES


def _tf_graph(fh: BinaryIO, size: int) -> bool:
    top = protobuf.top_level(fh, size, max_fields=10_000)
    if not top:
        return False
    nums = {(num, wt) for num, wt, _, _ in top}
    saved_model = nums <= {(1, protobuf.VARINT), (2, protobuf.LEN)} and (2, protobuf.LEN) in nums
    graph_def = nums <= {(1, protobuf.LEN), (2, protobuf.LEN), (3, protobuf.VARINT), (4, protobuf.LEN)}
    return saved_model or graph_def


def _onnx(fh: BinaryIO, size: int) -> bool:
    if size < 8:
        return False
    top = protobuf.top_level(fh, size, max_fields=10_000)
    if not top:
        return False
    nums = {num for num, _, _, _ in top}
    if not nums <= ONNX_FIELDS or 1 not in nums or 7 not in nums:
        return False
    ir = next(val for num, wt, _, val in top if num == 1)
    return all(wt == protobuf.VARINT for num, wt, _, _ in top if num in (1, 5)) and 1 <= ir <= 64


def _config_with_template(fh: BinaryIO, lower: str, head: bytes) -> bool:
    stripped = head.lstrip()
    is_json = stripped[:1] in (b"{", b"[")
    if not (is_json or lower.endswith(CONFIG_SUFFIXES)):
        return False
    fh.seek(0)
    data = fh.read(MAX_CONFIG_BYTES)
    if b"{{" not in data and b"{%" not in data:
        return False
    if is_json and not lower.endswith((".yaml", ".yml")):
        try:
            json.loads(data)
        except (ValueError, RecursionError):  # deeply nested JSON must not crash detection
            return lower.endswith(".json")
    return True


def detect_path(path: Path, name: str | None = None) -> Format | None:
    """Detect a file on disk; raise OSError when it is not (or no longer) a regular file."""
    fh, st = open_regular(path)
    with fh:
        return detect(fh, name or path.name, st.st_size)
