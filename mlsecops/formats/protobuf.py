"""A minimal protobuf wire-format reader: enough to recognise ONNX and TensorFlow
files and to pull op names out of a graph, without protobuf, onnx or tensorflow.

Length-delimited payloads are seeked over, not read, so a multi-GB ONNX file
costs a few reads. Every loop is bounded by the bytes actually present.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message (the real parser would fail too)."""


class FieldLimit(ValueError):
    """More fields than the caller allows: the rest was not read."""


WINDOW = 1 << 16


def iter_fields(fh: BinaryIO, start: int, end: int, max_fields: int) -> Iterator[tuple[int, int, int, int]]:
    """(field, wire type, offset of payload, length or value) of the message in fh[start:end],
    read through a 64 KiB window; length-delimited payloads are stepped over, not read.
    Raises WireError on malformed bytes and FieldLimit past `max_fields`."""
    buf, base, i, count = b"", start, 0, 0

    def need(n: int) -> None:
        nonlocal buf, base, i
        if i + n <= len(buf):
            return
        pos = base + i
        fh.seek(pos)
        buf = fh.read(min(max(WINDOW, n), end - pos))
        base, i = pos, 0

    def varint() -> int:
        nonlocal i
        need(10)
        try:
            value, j = read_varint(buf, i)
        except WireError:
            if base + len(buf) < end:
                raise WireError("varint too long") from None
            raise WireError("truncated varint") from None
        i = j
        return value

    while base + i < end:
        count += 1
        if count > max_fields:
            raise FieldLimit(f"more than {max_fields} fields")
        key = varint()
        num, wt = key >> 3, key & 7
        if num == 0 or num > 536_870_911:
            raise WireError(f"bad field number {num}")
        if wt == VARINT:
            value = varint()
            yield num, wt, base + i, value
            continue
        if wt in (I64, I32):
            n = 8 if wt == I64 else 4
        elif wt == LEN:
            n = varint()
        else:
            raise WireError(f"unsupported wire type {wt}")
        at = base + i
        if at + n > end:
            raise WireError("a field runs past the end of its message")
        yield num, wt, at, n
        if i + n <= len(buf):
            i += n
        else:
            buf, base, i = b"", at + n, 0


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint too long")


def fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) for each field of an in-memory message."""
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise WireError("field number 0")
        if wt == VARINT:
            val, pos = read_varint(buf, pos)
            yield num, wt, val
        elif wt == I64:
            if pos + 8 > len(buf):
                raise WireError("truncated fixed64")
            yield num, wt, buf[pos : pos + 8]
            pos += 8
        elif wt == I32:
            if pos + 4 > len(buf):
                raise WireError("truncated fixed32")
            yield num, wt, buf[pos : pos + 4]
            pos += 4
        elif wt == LEN:
            n, pos = read_varint(buf, pos)
            if pos + n > len(buf):
                raise WireError("truncated length-delimited field")
            yield num, wt, buf[pos : pos + n]
            pos += n
        else:
            raise WireError(f"unsupported wire type {wt}")


def _stream_varint(fh: BinaryIO) -> int | None:
    result = shift = 0
    while True:
        b = fh.read(1)
        if not b:
            return None if shift == 0 else -1
        result |= (b[0] & 0x7F) << shift
        if not b[0] & 0x80:
            return result
        shift += 7
        if shift > 63:
            return -1


def top_level(fh: BinaryIO, size: int, max_fields: int = 100_000, start: int = 0) -> list[tuple[int, int, int, int]] | None:
    """(field, wire type, offset of payload, length or value) of the message in
    fh[start:size], or None when the bytes are not a well-formed protobuf message.
    Payloads are not read, so nested messages can be walked the same way."""
    out: list[tuple[int, int, int, int]] = []
    fh.seek(start)
    pos = start
    while pos < size:
        if len(out) >= max_fields:
            return out
        key = _stream_varint(fh)
        if key is None or key < 0:
            return None
        num, wt = key >> 3, key & 7
        if num == 0 or num > 536_870_911:
            return None
        if wt == VARINT:
            val = _stream_varint(fh)
            if val is None or val < 0:
                return None
            out.append((num, wt, fh.tell(), val))
        elif wt in (I64, I32):
            n = 8 if wt == I64 else 4
            start = fh.tell()
            if start + n > size:
                return None
            fh.seek(n, 1)
            out.append((num, wt, start, n))
        elif wt == LEN:
            n = _stream_varint(fh)
            if n is None or n < 0:
                return None
            start = fh.tell()
            if start + n > size:
                return None
            fh.seek(n, 1)
            out.append((num, wt, start, n))
        else:
            return None
        pos = fh.tell()
    return out


def read_at(fh: BinaryIO, offset: int, length: int) -> bytes:
    fh.seek(offset)
    return fh.read(length)
