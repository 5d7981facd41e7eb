"""Pickles, read as CPython's unpicklers read them, without running anything.

- `walk` follows every import and call in a pickle stream (opcodes.py, reader.py,
  vm.py, ops.py and hotloop.py, stream.py; fastpath.py proves data-only pickles at C
  speed; joblib_arrays.py reads joblib's inline arrays; resolve.py knows a few
  callables; skeleton.py is what the engines are handed);
- `would_run` decides whether a file with no magic number is a pickle (sniff.py).
"""

from __future__ import annotations

import dataclasses
from typing import BinaryIO

from mlsecops.formats.pickle.fastpath import FAST_MIN, data_only
from mlsecops.formats.pickle.opcodes import VALID
from mlsecops.formats.pickle.results import BLIND, BREAKS, Embedded, GlobalRef, Issue, Nested, WalkResult
from mlsecops.formats.pickle.sniff import would_run
from mlsecops.formats.pickle.stream import walk_stream
from mlsecops.formats.pickle.values import Global
from mlsecops.formats.pickle.vm import ALL, BIG, C, MAX_DEPTH, P, Budget, Options

__all__ = ["ALL", "BIG", "BLIND", "BREAKS", "C", "MAX_DEPTH", "P", "VALID", "Embedded", "Global", "GlobalRef", "Issue", "Nested",
           "Options", "WalkResult", "walk", "would_run"]


def walk(fh: BinaryIO, start: int, end: int | None, max_opcodes: int, legacy_torch: bool = False,
         opts: Options | None = None, readers: int = ALL, max_pickles: int | None = None) -> WalkResult:
    """Every pickle stacked in fh[start:end]: the C-speed proof of a data-only pickle when it
    applies, else the opcode-by-opcode walk. `legacy_torch`: the five pickles torch.load reads;
    `max_pickles`: read no more pickles than a loader that reads that many.

    end=None reads to wherever the stream ends, without knowing it in advance (a stream
    decoded as it is walked; it must bound itself): the walk then reports exactly what it
    reports on the same bytes with their end given."""
    opts = opts or Options()
    if legacy_torch and opts.persistent is None:
        opts = dataclasses.replace(opts, persistent="torch-legacy")
    if (end is None or end - start >= FAST_MIN) and not legacy_torch and not opts.trace and max_pickles is None:
        fast = data_only(fh, start, end)
        # (An open stream that turns out to be short is walked, as it would be with its end given.)
        if fast is not None and (fast.end == end or (end is None and fast.end - start >= FAST_MIN
                                                     and _ends_at(fh, fast.end))):
            return fast
    return walk_stream(fh, start, end, Budget(max_opcodes), opts, readers, 5 if legacy_torch else max_pickles)


def _ends_at(fh: BinaryIO, pos: int) -> bool:
    fh.seek(pos)
    return not fh.read(1)
