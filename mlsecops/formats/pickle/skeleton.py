"""The skeleton of a pickle stream: what fickling and modelscan are handed.

The stream with every large payload replaced by a short placeholder of the
same type, joblib's inline array data cut out, FRAME headers dropped (their
lengths would no longer match), the two opcodes fickling cannot parse
(text FLOAT, BYTEARRAY8) rewritten as their binary equivalents, and NEWOBJ_EX
(whose keywords fickling's AST cannot take) as POP + NEWOBJ. Every import
and call of the stream is still in it: the differential tests check that
CPython's unpicklers do at least as much on the skeleton as on the original.
"""

from __future__ import annotations

from typing import BinaryIO

from mlsecops.formats.pickle.results import WalkResult


def skeleton(fh: BinaryIO, walk: WalkResult, start: int, end: int, max_bytes: int) -> bytes | None:
    """fh[start:end] rewritten as above; None when even that is larger than max_bytes."""
    if end <= start:
        return None
    regions = sorted(r for r in walk.elided if start <= r[0] and r[0] + r[1] <= end)
    kept: list[tuple[int, int, bytes]] = []
    pos = start
    for off, n, replacement in regions:
        if off < pos:
            continue  # inside a region already cut out
        kept.append((off, n, replacement))
        pos = off + n
    total = (end - start) - sum(n - len(rep) for _, n, rep in kept)
    if total > max_bytes:
        return None
    parts: list[bytes] = []
    pos = start
    for off, n, replacement in kept:
        fh.seek(pos)
        parts.append(fh.read(off - pos))
        parts.append(replacement)
        pos = off + n
    fh.seek(pos)
    parts.append(fh.read(end - pos))
    return b"".join(parts)
