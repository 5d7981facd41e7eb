"""Pickle-opcode mutations for the data.pkl of PyTorch checkpoints (fed to weights_only loaders only).

The opcode stream is *read* with `pickletools.genops`, which decodes opcodes
and arguments without executing anything; then one opcode is changed in
place: an integer argument set to a boundary value, a string (a storage type, a
dtype, a key) swapped or re-encoded with its length prefix, an opcode deleted,
duplicated or swapped with its neighbour. The result is only ever given to
`torch.load(weights_only=True)`, whose restricted unpickler must refuse it cleanly.
"""

from __future__ import annotations

import pickletools
import random
import struct
from functools import lru_cache

from mlsecops.stages.fuzz.mutators import bytewise as bytemut

STRINGS = ("FloatStorage", "LongStorage", "HalfStorage", "BoolStorage", "ByteStorage", "QInt8Storage", "storage",
           "torch", "_rebuild_tensor_v2", "collections", "OrderedDict", "cpu", "cuda", "meta", "", "0", "9999",
           "builtins", "eval", "../../x", "a" * 300)
INTS = (0, 1, -1, 2, 255, 256, 65535, 2**31 - 1, -(2**31), 2**32, 2**62)


@lru_cache(maxsize=8)
def opcodes(data: bytes) -> tuple[tuple[str, object, int, int], ...]:
    """(opcode name, argument, start, end) for each opcode of the first pickle in `data`."""
    ops: list[tuple[str, object, int]] = []
    try:
        for op, arg, pos in pickletools.genops(data):
            ops.append((op.name, arg, int(pos or 0)))
            if len(ops) > 200_000:
                break
    except Exception:  # noqa: BLE001 - a partial opcode list is still useful
        pass
    out = []
    for i, (name, arg, pos) in enumerate(ops):
        end = ops[i + 1][2] if i + 1 < len(ops) else min(len(data), pos + 1)
        out.append((name, arg, pos, end))
    return tuple(out)


def _encode_int(name: str, value: int) -> bytes | None:
    if name == "BININT1":
        return b"K" + struct.pack("<B", value & 0xFF)
    if name == "BININT2":
        return b"M" + struct.pack("<H", value & 0xFFFF)
    if name in ("BININT", "LONG1", "LONG4", "INT", "LONG"):
        if -(2**31) <= value < 2**31:
            return b"J" + struct.pack("<i", value)
        raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
        return b"\x8a" + bytes([len(raw)]) + raw
    return None


def _encode_str(text: str) -> bytes:
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) < 256:
        return b"\x8c" + bytes([len(raw)]) + raw
    return b"X" + struct.pack("<I", len(raw)) + raw


def mutate(rng: random.Random, data: bytes, others: list[bytes] | None = None) -> bytes:
    ops = opcodes(data)
    if len(ops) < 2:
        return bytemut.mutate(rng, data, others)
    move = rng.randrange(6)
    name, arg, start, end = rng.choice(ops)
    if move == 0:
        ints = [o for o in ops if isinstance(o[1], int) and o[0] in ("BININT1", "BININT2", "BININT", "LONG1")]
        if ints:
            name, arg, start, end = rng.choice(ints)
            new = _encode_int(name, rng.choice(INTS) if rng.random() < 0.7 else int(arg) + rng.choice((-1, 1)))  # type: ignore[call-overload]
            if new is not None:
                return data[:start] + new + data[end:]
    elif move == 1:
        strs = [o for o in ops if isinstance(o[1], str) and o[0] in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE")]
        if strs:
            name, arg, start, end = rng.choice(strs)
            text = rng.choice(STRINGS) if rng.random() < 0.7 else str(arg)[::-1]
            return data[:start] + _encode_str(text) + data[end:]
    elif move == 2:
        return data[:start] + data[end:]
    elif move == 3:
        return data[:end] + data[start:end] + data[start:]
    elif move == 4:
        i = rng.randrange(len(ops) - 1)
        a, b = ops[i], ops[i + 1]
        return data[: a[2]] + data[b[2] : b[3]] + data[a[2] : a[3]] + data[b[3] :]
    return data[:start] + bytes([rng.choice(b"()]}.01NJKMXq\x8c\x94\x85\x86\x87QRbtseuc")]) + data[start:]
