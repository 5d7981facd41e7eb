"""Format-blind mutations: the libFuzzer-style moves every format gets, plus a few that know
binary formats in general (integers at interesting boundaries, values that look like
in-file offsets or lengths). Positions are biased towards the first 4 KiB, where headers live.

Every function takes a `random.Random` and returns new bytes; none parses anything.
"""

from __future__ import annotations

import random
import struct

HEAD = 4096
INTERESTING_8 = (0, 1, 0x7F, 0x80, 0xFF, 0x10, 0x20, 0x40)
INTERESTING_32 = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000,
                  0xFFFFFFFF, 0xFFFFFFFE)
INTERESTING_64 = (0, 1, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF, 0x100000000, 0xFFFFFFFF,
                  1 << 40, 1 << 48)
MAX_GROWTH = 1 << 20


def position(rng: random.Random, size: int) -> int:
    if size <= 1:
        return 0
    if rng.random() < 0.5:
        return rng.randrange(min(size, HEAD))
    return rng.randrange(size)


def flip_bit(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return bytes([rng.randrange(256)])
    buf = bytearray(data)
    i = position(rng, len(buf))
    buf[i] ^= 1 << rng.randrange(8)
    return bytes(buf)


def set_byte(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return bytes([rng.choice(INTERESTING_8)])
    buf = bytearray(data)
    buf[position(rng, len(buf))] = rng.choice(INTERESTING_8) if rng.random() < 0.5 else rng.randrange(256)
    return bytes(buf)


def set_int(rng: random.Random, data: bytes) -> bytes:
    """An interesting 16/32/64-bit value, either endianness, at a random place."""
    width = rng.choice((2, 4, 8))
    if len(data) < width:
        return data + bytes(width)
    table = INTERESTING_64 if width == 8 else INTERESTING_32
    value = rng.choice(table) & ((1 << (8 * width)) - 1)
    if rng.random() < 0.3:
        value = (value + rng.choice((-1, 1))) & ((1 << (8 * width)) - 1)
    raw = value.to_bytes(width, rng.choice(("little", "big")))
    i = position(rng, len(data) - width + 1)
    return data[:i] + raw + data[i + width :]


def offsets(data: bytes, limit: int = 4096) -> list[int]:
    """Places holding a little-endian u32/u64 that points inside the file: likely offsets or sizes."""
    found: list[int] = []
    size = len(data)
    end = min(size - 8, 1 << 16)
    for i in range(0, max(0, end), 4):
        (v64,) = struct.unpack_from("<Q", data, i)
        (v32,) = struct.unpack_from("<I", data, i)
        if 16 <= v64 < size or 16 <= v32 < size:
            found.append(i)
            if len(found) >= limit:
                break
    return found


def tweak_offset(rng: random.Random, data: bytes) -> bytes:
    """Nudge or break a value that looks like an offset or a length."""
    spots = offsets(data)
    if not spots:
        return set_int(rng, data)
    i = rng.choice(spots)
    width = 8 if rng.random() < 0.5 else 4
    if i + width > len(data):
        return data
    old = int.from_bytes(data[i : i + width], "little")
    new = rng.choice((old + 1, old - 1, old * 2, old + 4096, len(data), len(data) + 1, 0, (1 << (8 * width)) - 1,
                      old ^ (1 << rng.randrange(8 * width))))
    new &= (1 << (8 * width)) - 1
    return data[:i] + new.to_bytes(width, "little") + data[i + width :]


def insert(rng: random.Random, data: bytes) -> bytes:
    n = rng.choice((1, 2, 4, 8, 16, 64, 512))
    fill = bytes([rng.randrange(256)]) * n if rng.random() < 0.5 else rng.randbytes(n)
    i = position(rng, len(data) + 1)
    return data[:i] + fill + data[i:]


def delete(rng: random.Random, data: bytes) -> bytes:
    if len(data) < 2:
        return data
    i = position(rng, len(data))
    n = min(len(data) - i, rng.choice((1, 2, 4, 8, 64, 512, 4096)))
    return data[:i] + data[i + n :]


def duplicate(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    i = position(rng, len(data))
    n = min(len(data) - i, rng.choice((1, 4, 16, 256, 4096)), MAX_GROWTH)
    j = position(rng, len(data) + 1)
    return data[:j] + data[i : i + n] + data[j:]


def truncate(rng: random.Random, data: bytes) -> bytes:
    if len(data) < 2:
        return data
    return data[: rng.randrange(1, len(data))]


def splice(rng: random.Random, data: bytes, other: bytes) -> bytes:
    if not data or not other:
        return data
    i = rng.randrange(len(data))
    j = rng.randrange(len(other))
    return data[:i] + other[j : j + rng.randrange(1, 4096)] + data[i:]


MOVES = (flip_bit, flip_bit, set_byte, set_int, set_int, tweak_offset, tweak_offset, insert, delete, duplicate, truncate)


def mutate(rng: random.Random, data: bytes, others: list[bytes] | None = None) -> bytes:
    """One to four stacked byte-level moves (and sometimes a splice with another seed)."""
    for _ in range(rng.choice((1, 1, 2, 3, 4))):
        if others and rng.random() < 0.05:
            data = splice(rng, data, rng.choice(others))
        else:
            data = rng.choice(MOVES)(rng, data)
    return data
