"""Protobuf-aware mutations (ONNX): parse the wire format into a tree, change one field, re-encode.

Length-delimited fields are parsed as nested messages when their bytes parse
cleanly, so a change deep in a graph (a node's attribute, a tensor's dims or
data type, an initializer's raw data) is re-encoded with every enclosing length
fixed up, and the mutant gets past the protobuf decoder into the checker and
the runtime. Some moves break framing on purpose (a wrong length, a wrong wire
type). Parsing is bounded in depth and field count.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import lru_cache

from mlsecops.formats.protobuf import I32, I64, LEN, VARINT, WireError, fields
from mlsecops.stages.fuzz.mutators import bytewise as bytemut

MAX_DEPTH = 12
MAX_FIELDS = 20_000
VARINTS = (0, 1, 2, 3, 7, 8, 16, 127, 128, 255, 256, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1)


@dataclass
class Field:
    num: int
    wire: int
    value: int | bytes = 0
    children: list[Field] | None = None


@dataclass
class _Budget:
    left: int = MAX_FIELDS
    all: list[Field] = field(default_factory=list)


def parse(buf: bytes, depth: int = 0, budget: _Budget | None = None) -> list[Field]:
    """The message as a tree: the wire decoding is `formats.protobuf.fields`; this adds
    the nesting (a length-delimited field that parses cleanly gets children) and the bounds."""
    budget = budget or _Budget()
    out: list[Field] = []
    for num, wire, value in fields(buf):
        budget.left -= 1
        if budget.left < 0:
            raise WireError("too many fields")
        f = Field(num, wire, value)
        if wire == LEN and depth < MAX_DEPTH and value and len(budget.all) < MAX_FIELDS:
            mark = len(budget.all)
            try:
                f.children = parse(value, depth + 1, budget)  # type: ignore[arg-type]
            except (WireError, RecursionError):
                del budget.all[mark:]
                f.children = None
        out.append(f)
        budget.all.append(f)
    return out


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


Edits = dict[int, list[Field]]


def encode(fields: list[Field], edits: Edits | None = None) -> bytes:
    """Serialize, replacing each field whose id() is in `edits` by its list (empty: deleted)."""
    out = bytearray()
    for original in fields:
        for f in (edits or {}).get(id(original), [original]):
            out += _varint((f.num << 3) | f.wire)
            if f.wire == VARINT:
                out += _varint(int(f.value))  # type: ignore[arg-type]
            elif f.wire in (I64, I32):
                out += bytes(f.value)  # type: ignore[arg-type]
            else:
                payload = encode(f.children, edits) if f.children is not None else bytes(f.value)  # type: ignore[arg-type]
                out += _varint(len(payload)) + payload
    return bytes(out)


@lru_cache(maxsize=8)
def parsed(data: bytes) -> tuple[list[Field], list[Field]] | None:
    """The tree and a flat list of its fields; seeds are mutated many times, so parse once."""
    try:
        budget = _Budget()
        tree = parse(data, 0, budget)
    except (WireError, RecursionError):
        return None
    return (tree, budget.all) if budget.all else None


def _replacement(rng: random.Random, f: Field) -> Field:
    move = rng.randrange(4)
    if move == 0 or f.wire == VARINT:
        old = f.value if isinstance(f.value, int) else 0
        value = rng.choice(VARINTS) if rng.random() < 0.7 else old + rng.choice((-1, 1))
        return Field(f.num, VARINT, value)
    if move == 1 and f.wire == LEN and f.children is None:
        return Field(f.num, LEN, bytemut.mutate(rng, bytes(f.value), None))  # type: ignore[arg-type]
    if move == 2 and f.wire in (I32, I64):
        raw = bytes(f.value)  # type: ignore[arg-type]
        return Field(f.num, f.wire, bytemut.set_int(rng, raw)[: len(raw)])
    num = rng.choice((f.num, f.num + 1, 1, 2, 7, 8, 14, 536870911))
    wire = rng.choice((VARINT, LEN, I32, I64))
    if wire == VARINT:
        return Field(num, wire, rng.choice(VARINTS))
    if wire in (I32, I64):
        return Field(num, wire, bytes(8 if wire == I64 else 4))
    return Field(num, wire, bytes(f.value) if isinstance(f.value, bytes) else b"")


def mutate(rng: random.Random, data: bytes, others: list[bytes] | None = None) -> bytes:
    tree_all = parsed(data)
    if tree_all is None or rng.random() < 0.1:
        return bytemut.mutate(rng, data, others)
    tree, fields = tree_all
    edits: Edits = {}
    for _ in range(rng.choice((1, 1, 2, 3))):
        move = rng.randrange(6)
        pool = [f for f in fields if f.wire == VARINT] if move <= 1 else fields
        target = rng.choice(pool or fields)
        if move <= 2:
            edits[id(target)] = [_replacement(rng, target)]
        elif move == 3:
            edits[id(target)] = []
        elif move == 4:
            edits[id(target)] = [target, target]
        else:
            edits[id(target)] = [target, _replacement(rng, target)]
    return encode(tree, edits)
