"""PyTorch's oldest checkpoint format: a tar with members `sys_info`, `pickle`, `storages`
and `tensors` (`torch.serialization._legacy_load.legacy_load`, still read by torch.load
with weights_only=False).

`pickle` is one pickle. `storages` and `tensors` are pickles interleaved with raw data,
which a scanner that reads stacked pickles stops at: `storages` is a pickle of the count,
then per storage a pickle `(key, location, storage_type)` followed by an int64 element
count and that many elements of the storage type's size, then a pickle of the storage
views; `tensors` is a pickle of the count, then per tensor a pickle followed by
ndim (int32), 4 bytes, ndim sizes, ndim strides and an offset (int64). Every pickle
is walked where torch unpickles it; where the layout cannot be followed (a count or a
storage type that is not a plain constant) the rest fails closed.
"""

from __future__ import annotations

import io
import pickletools
import struct
from typing import BinaryIO

from mlsecops.findings import Severity
from mlsecops.stages.models.analyzers import pickles
from mlsecops.stages.models.scanfile import ScanState

STREAMS = frozenset({"storages", "tensors"})  # tar.extract() names: exact, at the top
MAX_SMALL = 1 << 20
ELEMENT_SIZE = {"DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "LongStorage": 8, "IntStorage": 4,
                "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1, "BFloat16Storage": 2,
                "ComplexDoubleStorage": 16, "ComplexFloatStorage": 8, "QUInt8Storage": 1, "QInt8Storage": 1,
                "QInt32Storage": 4, "QUInt4x2Storage": 1, "QUInt2x4Storage": 1}


class _Lost(Exception):
    """The layout cannot be followed from here on."""


def analyze_member(state: ScanState, fh: BinaryIO, size: int, name: str, member: str, depth: int) -> bool:
    """Walk `storages` or `tensors` as torch reads them; False for any other member."""
    if name not in ("storages", "tensors"):
        return False
    pos = 0
    try:
        pos, count = _small_pickle(state, fh, pos, size, member, name, depth)
        if not isinstance(count, int) or count < 0:
            raise _Lost(f"the {name} count is not an integer")
        for _ in range(count):
            start = pos
            pos, _ = _small_pickle(state, fh, pos, size, member, name, depth)
            pos = _skip_storage(fh, start, pos, size) if name == "storages" else _skip_tensor(fh, pos, size)
        if name == "storages":
            _small_pickle(state, fh, pos, size, member, name, depth)
    except _Lost as exc:
        state.observe("MLS115", Severity.high, f"The legacy torch checkpoint's {name!r} stream could not be followed "
                      f"after offset {pos} ({exc}): torch.load unpickles what follows", member, f"torch-tar:{name}")
    return True


def _small_pickle(state: ScanState, fh: BinaryIO, pos: int, size: int, member: str, name: str,
                  depth: int) -> tuple[int, object]:
    """Walk and judge the one pickle at `pos`; (its end, its value when it is a plain constant)."""
    if pos >= size:
        raise _Lost("the stream ends early")
    one = pickles.analyze_region(state, fh, pos, size, f"{member}#pickle@{pos}", name, expect_pickle=True,
                                 max_pickles=1, depth=depth)
    end = one.end
    if one.broken is not None or one.blind:
        raise _Lost("a pickle in it is broken" if one.broken is not None else "a pickle in it could not be read")
    if end - pos > MAX_SMALL:
        return end, None
    fh.seek(pos)
    return end, _constant(fh.read(end - pos))


def _constant(data: bytes) -> object:
    """An int, or the name of the last global, read from the opcodes (nothing is unpickled)."""
    value: object = None
    strings: list[str] = []
    try:
        for op, arg, _ in pickletools.genops(io.BytesIO(data)):
            if op.name in ("BININT", "BININT1", "BININT2", "LONG1", "LONG4", "INT", "LONG") and isinstance(arg, int):
                value = arg
            elif op.name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE") and isinstance(arg, str):
                strings.append(arg)
            elif op.name == "GLOBAL" and isinstance(arg, str):
                value = ("global", arg.split(" ", 1)[-1])
            elif op.name == "STACK_GLOBAL" and strings:
                value = ("global", strings[-1])
    except (ValueError, UnicodeDecodeError, struct.error):
        return None
    return value


def _skip_storage(fh: BinaryIO, start: int, pos: int, size: int) -> int:
    fh.seek(start)
    kind = _constant(fh.read(min(pos - start, MAX_SMALL)))
    if not (isinstance(kind, tuple) and kind[1] in ELEMENT_SIZE):
        raise _Lost("a storage type that is not a known torch storage class")
    fh.seek(pos)
    raw = fh.read(8)
    if len(raw) < 8:
        raise _Lost("the stream ends early")
    (count,) = struct.unpack("<q", raw)
    end = pos + 8 + count * ELEMENT_SIZE[kind[1]]
    if count < 0 or end > size:
        raise _Lost("a storage runs past the end")
    return end


def _skip_tensor(fh: BinaryIO, pos: int, size: int) -> int:
    fh.seek(pos)
    raw = fh.read(4)
    if len(raw) < 4:
        raise _Lost("the stream ends early")
    (ndim,) = struct.unpack("<i", raw)
    end = pos + 8 + 16 * ndim + 8
    if ndim < 0 or end > size:
        raise _Lost("a tensor header runs past the end")
    return end
