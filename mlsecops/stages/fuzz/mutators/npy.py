"""`.npy`-aware mutations: the version bytes, the header length and the header dict.

An .npy file is `\\x93NUMPY | major | minor | header length (u16 or u32) |
Python-literal dict {'descr', 'fortran_order', 'shape'} padded with spaces |
data`. The header is rebuilt here as text (never evaluated), so mutants carry
odd dtypes (structured, unicode, big-endian, object), huge or negative shapes,
and lengths that disagree with the data that follows.
"""

from __future__ import annotations

import random
import re
import struct

from mlsecops.stages.fuzz.mutators import bytewise as bytemut

MAGIC = b"\x93NUMPY"
DESCRS = ("'<f8'", "'>f8'", "'<f4'", "'<f2'", "'|b1'", "'<i8'", "'|u1'", "'<c16'", "'<U10'", "'|S0'", "'|V8'",
          "'|O'", "'<M8[s]'", "'<m8'", "[('a', '<f4'), ('b', '<i8')]", "[('a', '<f4', (2, 3))]", "'<f16'", "''",
          "'<f8x'", "[('', '<f4')]", "[('a', [('b', '<i4')])]", "'<U2147483647'", "'|V0'")
DIMS = ("0", "1", "-1", "2147483647", "2147483648", "9223372036854775807", "18446744073709551616", "3", "1000000")


def split(data: bytes) -> tuple[int, int, str, bytes] | None:
    if not data.startswith(MAGIC) or len(data) < 10:
        return None
    major, minor = data[6], data[7]
    if major == 1:
        (n,) = struct.unpack_from("<H", data, 8)
        start = 10
    else:
        if len(data) < 12:
            return None
        (n,) = struct.unpack_from("<I", data, 8)
        start = 12
    header = data[start : start + n].decode("latin1")
    return major, minor, header, data[start + n :]


def join(major: int, minor: int, header: str, body: bytes, rng: random.Random) -> bytes:
    raw = header.encode("latin1", "replace")
    if rng.random() < 0.1:
        major = rng.choice((0, 1, 2, 3, 4, 255))
    n = len(raw)
    if rng.random() < 0.1:
        n = rng.choice((0, n - 1, n + 1, n + 100, 65535))
    if major == 1:
        length = struct.pack("<H", n & 0xFFFF)
    else:
        length = struct.pack("<I", n & 0xFFFFFFFF)
    return MAGIC + bytes([major & 0xFF, minor & 0xFF]) + length + raw + body


def _shape(rng: random.Random) -> str:
    dims = [rng.choice(DIMS) for _ in range(rng.choice((0, 1, 2, 3, 33, 64)))]
    if len(dims) == 1:
        return f"({dims[0]},)"
    return "(" + ", ".join(dims) + ")"


def mutate(rng: random.Random, data: bytes, others: list[bytes] | None = None) -> bytes:
    parts = split(data)
    if parts is None:
        return bytemut.mutate(rng, data, others)
    major, minor, header, body = parts
    move = rng.randrange(7)
    if move == 0:
        header = re.sub(r"'descr':\s*('[^']*'|\[.*?\])", f"'descr': {rng.choice(DESCRS)}", header, count=1)
    elif move == 1:
        header = re.sub(r"'shape':\s*\([^)]*\)", f"'shape': {_shape(rng)}", header, count=1)
    elif move == 2:
        header = header.replace("False", "True") if "False" in header else header.replace("True", "False")
    elif move == 3:
        header = rng.choice(("{}", "[]", "{'descr': '<f8'}", "{" * 500 + "}" * 500, "x" * 100, header[:-5],
                             header.replace("}", ", 'extra': 1}", 1), "{'descr': '<f8', 'fortran_order': 1, 'shape': 5}"))
    elif move == 4:
        body = bytemut.mutate(rng, body, None) if body else rng.randbytes(8)
    elif move == 5:
        body = body[: rng.randrange(len(body) + 1)] if body else body
    else:
        return bytemut.mutate(rng, data, others)
    return join(major, minor, header, body, rng)
