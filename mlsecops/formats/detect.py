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

import io
import json
import re
import struct
import tarfile
import zlib
from pathlib import Path
from typing import BinaryIO

from mlsecops.formats import protobuf, ziparchive
from mlsecops.formats.kinds import Format
from mlsecops.formats.pickle import VALID as PICKLE_OPCODES
from mlsecops.formats.pickle import would_run
from mlsecops.formats.pickle.resolve import TORCH_LEGACY_MAGIC
from mlsecops.formats.safe_open import open_regular

HEAD = 4096
HDF5_SIG = b"\x89HDF\r\n\x1a\n"
SEVENZIP_SIG = b"7z\xbc\xaf\x27\x1c"
LFS_PREFIX = b"version https://git-lfs.github.com/spec/"
JINJA_SUFFIXES = (".j2", ".jinja", ".jinja2", ".template", ".tmpl")
CONFIG_SUFFIXES = (".json", ".yaml", ".yml")
MAX_CONFIG_BYTES = 16 * 1024 * 1024
ONNX_FIELDS = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2, 26: 2}  # ModelProto: field -> wire type
MAX_UNKNOWN_ONNX_FIELDS = 3  # fields a newer ONNX may add: protobuf parsers keep unknown fields


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
    if tar_header(head):
        return Format.tar
    if head[:2] == b"\x1f\x8b":
        return Format.gzip
    if _bz2(head):
        return Format.bz2
    if head[:6] == b"\xfd7zXZ\x00":
        return Format.xz
    framed = _frame_kind(fh, size, head)
    if framed is not None:
        return framed
    if _zfile(head):
        return Format.joblib_zfile
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
    compressed = _compressed_kind(head) if _compressed_pickle(head) else _lzma_alone(head)
    if compressed is not None:
        return compressed
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


def tar_header(head: bytes) -> bool:
    """Does tarfile read `head` as a first member header? tarfile's own parser decides
    (`TarInfo.frombuf`: the header checksum, every numeric field), not the `ustar` magic,
    which V7 headers do not have. torch.load tries every file as a legacy tar checkpoint
    first, and pandas opens `.tar` files, with tarfile."""
    if len(head) < tarfile.BLOCKSIZE:
        return False
    try:
        tarfile.TarInfo.frombuf(head[: tarfile.BLOCKSIZE], "utf-8", "surrogateescape")
    except Exception:  # noqa: BLE001 - tarfile raises several types on what it does not read as a header
        return False
    return True


def zip_kind(fh: BinaryIO, size: int) -> Format:
    try:
        directory = ziparchive.read_directory(fh, size, 50_000)
    except ziparchive.ZipFormatError:
        return Format.zip
    return zip_kind_of([e.name for e in directory.entries])


def zip_kind_of(names: list[str]) -> Format:
    """Which zip-based format these member names make."""
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
    """`.npy`: an object dtype (numpy's own header parser decides) means the payload is a pickle.
    Only the header inside the head is parsed here; the worker reads longer ones."""
    from mlsecops.formats.npy import read_header

    header = read_header(io.BytesIO(head), len(head), max_header=len(head))
    return Format.numpy_object if header.hasobject or header.dtype_unknown else Format.numpy


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


def _bz2(head: bytes) -> bool:
    """`BZh1`..`BZh9`, then a block (`1AY&SY`) or the end of an empty stream: BZ2File reads
    every stream that follows, so an empty first stream must not hide the second."""
    return head[:3] == b"BZh" and head[3:4] in b"123456789" and len(head) >= 10 and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90")


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
LZ4_MAGIC = b"\x04\x22\x4d\x18"
MAX_SKIPPABLE = 64


def _frame_kind(fh: BinaryIO, size: int, head: bytes) -> Format | None:
    """zstd (pandas) and lz4 (joblib) frames, after any skippable frames both formats allow
    before the first real one (magic 0x184D2A50-5F, a length, and bytes to ignore)."""
    pos, magic = 0, head[:4]
    for _ in range(MAX_SKIPPABLE):
        if magic == ZSTD_MAGIC:
            return Format.zstd
        if magic == LZ4_MAGIC:
            return Format.lz4
        if len(magic) < 4 or magic[1:] != b"\x2a\x4d\x18" or not 0x50 <= magic[0] <= 0x5F:
            return None
        fh.seek(pos + 4)
        raw = fh.read(4)
        if len(raw) < 4:
            return None
        pos += 8 + struct.unpack("<I", raw)[0]
        if pos + 4 > size:
            return None
        fh.seek(pos)
        magic = fh.read(4)
    return Format.zstd  # a long run of skippable frames: let the decoder decide


def _zfile(head: bytes) -> bool:
    """joblib < 0.10 (`numpy_pickle_compat.read_zfile`): `ZF`, a hex length padded to 19 bytes."""
    if head[:2] != b"ZF" or len(head) < 22:
        return False
    try:
        int(head[2:21], 16)
    except ValueError:
        return False
    return True


def _compressed_pickle(head: bytes) -> bool:
    """joblib's zlib (`x`) and lzma (`]\\x00`) prefixes: a stream joblib decompresses and unpickles."""
    if len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        return True
    return head[:2] == b"\x5d\x00"


def _compressed_kind(head: bytes) -> Format | None:
    """zlib or raw-lzma streams are only of interest when they may hold a pickle (joblib)."""
    if head[0] == 0x78:
        try:
            out = zlib.decompressobj().decompress(head, 64)
        except zlib.error:
            return None
        return Format.zlib if _unpickler_would_start(out) else None
    import lzma

    try:
        out = lzma.LZMADecompressor(lzma.FORMAT_AUTO).decompress(head, max_length=64)
    except lzma.LZMAError:
        return None
    return Format.lzma if _unpickler_would_start(out) else None


def _lzma_alone(head: bytes) -> Format | None:
    """A `.lzma` stream with other properties than joblib's `5d 00`: pandas' xz reader
    (LZMAFile, FORMAT_AUTO) opens any header liblzma's picky check accepts (properties below
    225, a dictionary of 2^n or 2^n + 2^(n-1) bytes, a plausible size). It counts when the
    first decoded bytes are a pickle."""
    if len(head) < 13 or head[0] >= 225:
        return None
    (dict_size,) = struct.unpack_from("<I", head, 1)
    (usize,) = struct.unpack_from("<Q", head, 5)
    low = dict_size & -dict_size if dict_size else 0
    if not dict_size or dict_size not in (low, low * 3) or not (usize == 2**64 - 1 or usize < 2**38):
        return None
    import lzma

    decoder = lzma.LZMADecompressor(lzma.FORMAT_ALONE)
    try:
        out = decoder.decompress(head, max_length=4096)
    except lzma.LZMAError:
        return None
    proto = out[:1] == b"\x80" and out[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
    return Format.lzma if proto or would_run(io.BytesIO(out), len(out), more=not decoder.eof) else None


def _unpickler_would_start(out: bytes) -> bool:
    """joblib unpickles whatever the stream decompresses to: any opening opcode makes it a
    candidate (a pickle without PROTO is still a pickle); the worker decides on all of it.
    No output yet (empty blocks first) is a candidate too: only the decoder can tell."""
    return not out or out[0] in PICKLE_OPCODES


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
    if 1 not in nums or 7 not in nums or len(nums - ONNX_FIELDS.keys()) > MAX_UNKNOWN_ONNX_FIELDS:
        return False
    if any(num in ONNX_FIELDS and wt != ONNX_FIELDS[num] for num, wt, _, _ in top):
        return False
    ir = next(val for num, wt, _, val in top if num == 1)
    return 1 <= ir <= 64


# How a `{` or `%` can be spelled inside a JSON or YAML string without the character itself
# (`\u007b`, YAML's `\x7b` and `\U0000007b`), and YAML's escaped line break, which joins
# `"{\` and `{` on the next line into `{{`. A template is decided on the parsed document.
_ESCAPED_DELIMITER = re.compile(rb"\\(?:u00(?:7[bB]|25)|x(?:7[bB]|25)|U0000(?:007[bB]|0025)|\r?\n)")


def _config_with_template(fh: BinaryIO, lower: str, head: bytes) -> bool:
    """JSON or YAML that may hold a Jinja template once parsed: `{{` or `{%` written out, or a
    brace or percent sign written as an escape (the analyzer reads the parsed strings)."""
    stripped = head.lstrip()
    is_json = stripped[:1] in (b"{", b"[")
    if not (is_json or lower.endswith(CONFIG_SUFFIXES)):
        return False
    fh.seek(0)
    data = fh.read(MAX_CONFIG_BYTES)
    if b"{{" not in data and b"{%" not in data and not _ESCAPED_DELIMITER.search(data):
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
