"""Shrink a crashing input while it still crashes the same way (ddmin), within a time limit.

Two passes. First, when the crash was derived from a seed of the same length,
ddmin over the runs of bytes that differ from the seed: each run either keeps
its mutated bytes or goes back to the seed's, and we look for the smallest set
of runs that still crashes (for a model file, this points at the few bytes
that matter). Second, classic ddmin deletion of chunks, over the whole input
when it is small, or only over the region that differs from the seed. The
predicate is "replays with the same signature"; it is the caller's (a
sandboxed session), so nothing here runs the input.
"""

from __future__ import annotations

import time
from collections.abc import Callable

MAX_DELETE_INPUT = 256 * 1024
MAX_TESTS = 3000

Predicate = Callable[[bytes], bool]


class _Budget:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.tests = 0

    def ok(self) -> bool:
        return time.monotonic() < self.deadline and self.tests < MAX_TESTS


def _runs(a: bytes, b: bytes) -> list[tuple[int, int]]:
    """Maximal [start, end) ranges where a and b (same length) differ; equal 4 KiB blocks are skipped."""
    runs: list[tuple[int, int]] = []
    start = -1
    for off in range(0, len(a), 4096):
        if a[off : off + 4096] == b[off : off + 4096]:
            if start >= 0:
                runs.append((start, off))
                start = -1
            continue
        for i in range(off, min(len(a), off + 4096)):
            if a[i] != b[i]:
                if start < 0:
                    start = i
            elif start >= 0:
                runs.append((start, i))
                start = -1
    if start >= 0:
        runs.append((start, len(a)))
    return runs


def _apply(seed: bytes, crash: bytes, runs: list[tuple[int, int]]) -> bytes:
    buf = bytearray(seed)
    for s, e in runs:
        buf[s:e] = crash[s:e]
    return bytes(buf)


def revert_to_seed(crash: bytes, seed: bytes, test: Predicate, budget: _Budget) -> bytes:
    """Zeller's ddmin over the differing runs: subsets first, then complements."""
    runs = _runs(crash, seed)
    n = 2
    while len(runs) >= 2 and budget.ok():
        size = -(-len(runs) // n)
        chunks = [runs[i : i + size] for i in range(0, len(runs), size)]
        complements = [[r for j, c in enumerate(chunks) if j != i for r in c] for i in range(len(chunks))]
        found = None
        for candidate, next_n in [(c, 2) for c in chunks] + [(c, max(n - 1, 2)) for c in complements]:
            if not budget.ok():
                break
            if candidate and len(candidate) < len(runs):
                budget.tests += 1
                if test(_apply(seed, crash, candidate)):
                    found = (candidate, next_n)
                    break
        if found is not None:
            runs, n = found
        elif n >= len(runs):
            break
        else:
            n = min(len(runs), n * 2)
    return _apply(seed, crash, runs)


def delete_chunks(data: bytes, lo: int, hi: int, test: Predicate, budget: _Budget) -> bytes:
    """ddmin by deletion of chunks inside [lo, hi)."""
    n = 2
    while hi - lo >= 1 and budget.ok():
        size = -(-(hi - lo) // n)
        reduced = False
        for start in range(lo, hi, size):
            if not budget.ok():
                break
            end = min(hi, start + size)
            candidate = data[:start] + data[end:]
            budget.tests += 1
            if candidate != data and test(candidate):
                data, hi, reduced = candidate, hi - (end - start), True
                n = max(2, n - 1)
                break
        if not reduced:
            if n >= hi - lo:
                break
            n = min(hi - lo, n * 2)
    return data


def _common(a: bytes, b: bytes) -> tuple[int, int]:
    p = 0
    limit = min(len(a), len(b))
    while p < limit and a[p] == b[p]:
        p += 1
    s = 0
    while s < limit - p and a[-1 - s] == b[-1 - s]:
        s += 1
    return p, s


def minimize(crash: bytes, seed: bytes | None, test: Predicate, deadline: float) -> bytes:
    budget = _Budget(deadline)
    data = crash
    if seed is not None and len(seed) == len(crash):
        data = revert_to_seed(crash, seed, test, budget)
    if len(data) <= MAX_DELETE_INPUT and (seed is None or len(data) != len(seed)):
        if seed is not None:
            p, s = _common(data, seed)
            return delete_chunks(data, p, len(data) - s, test, budget)
        return delete_chunks(data, 0, len(data), test, budget)
    return data


def transplant(head: bytes, crash: bytes, base: bytes) -> bytes | None:
    """The crash's change to the head seed, applied to the base version at the same offsets."""
    p, s = _common(crash, head)
    if p + s > len(base):
        return None
    return base[:p] + crash[p : len(crash) - s] + base[len(base) - s :]
