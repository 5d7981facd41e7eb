"""safetensors-aware mutations: the 8-byte header length and the JSON header's entries.

A safetensors file is `u64 header length | JSON header | tensor bytes`. The
loaders must reject inconsistent dtypes, shapes and data offsets (overlapping,
out of range, overflowing); these moves produce exactly such headers, keeping
the rest of the file valid so the mutant gets past the first checks.
"""

from __future__ import annotations

import json
import random
import struct

from mlsecops.stages.fuzz.mutators import bytewise as bytemut

DTYPES = ("F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "U16", "U32", "U64", "BOOL",
          "F8_E4M3", "F8_E5M2", "C64", "X", "")
BIG = (0, 1, -1, 2**31, 2**32 - 1, 2**32, 2**53, 2**63 - 1, 2**64, 10**30)


def split(data: bytes) -> tuple[dict, bytes] | None:
    if len(data) < 8:
        return None
    (n,) = struct.unpack_from("<Q", data)
    if n > len(data) - 8 or n > 100_000_000:
        return None
    try:
        header = json.loads(data[8 : 8 + n])
    except (ValueError, RecursionError):
        return None
    return (header, data[8 + n :]) if isinstance(header, dict) else None


def join(header: dict, body: bytes, rng: random.Random | None = None) -> bytes:
    raw = json.dumps(header, separators=(",", ":")).encode()
    n = len(raw)
    if rng is not None and rng.random() < 0.1:
        n = rng.choice((n + 1, n - 1, n + 8, 0, len(raw) + len(body) + 1, 2**63))
    return struct.pack("<Q", n & (2**64 - 1)) + raw + body


def _tensor(rng: random.Random, header: dict) -> tuple[str, dict] | None:
    names = [k for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)]
    if not names:
        return None
    name = rng.choice(names)
    return name, header[name]


def _ints(value: object) -> list[object]:
    """A header list as an earlier mutant may have left it (null, a string, a float...)."""
    return list(value) if isinstance(value, list) else []


def mutate(rng: random.Random, data: bytes, others: list[bytes] | None = None) -> bytes:
    parts = split(data)
    if parts is None:
        return bytemut.mutate(rng, data, others)
    header, body = parts
    picked = _tensor(rng, header)
    move = rng.randrange(9)
    if picked is None or move == 0:
        header["__metadata__"] = rng.choice(({"a": "b"}, {"a": 1}, [], "x", {"k" * 10000: "v"}, None))
    else:
        name, info = picked
        if move == 1:
            info["dtype"] = rng.choice(DTYPES)
        elif move == 2:
            shape = _ints(info.get("shape"))
            if shape and rng.random() < 0.6:
                shape[rng.randrange(len(shape))] = rng.choice(BIG)
            else:
                shape = rng.choice(([], [0], [1] * 64, shape + [rng.choice(BIG)], shape[:-1]))
            info["shape"] = shape
        elif move == 3:
            offs = _ints(info.get("data_offsets"))[:2] or [0, 0]
            offs[rng.randrange(len(offs))] = rng.choice((*BIG, len(body), len(body) + 1))
            info["data_offsets"] = offs
        elif move == 4:
            offs = _ints(info.get("data_offsets"))
            info["data_offsets"] = list(reversed(offs)) if rng.random() < 0.5 else [0, len(body)]
        elif move == 5:
            header[name + "\u0000" if rng.random() < 0.5 else name * 2] = dict(info)
        elif move == 6:
            del header[name]
        elif move == 7:
            info[rng.choice(("dtype", "shape", "data_offsets"))] = rng.choice((None, "1", 1.5, {}, [[1]]))
        else:
            body = bytemut.mutate(rng, body, None)
    return join(header, body, rng)
