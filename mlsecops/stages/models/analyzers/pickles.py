"""Raw pickles: a pickle, a stack of pickles, a joblib dump, or a legacy torch.save file,
walked from its first byte to wherever the loader stops (shared/pickle_region.py)."""

from __future__ import annotations

from typing import BinaryIO

from mlsecops.formats.kinds import Format
from mlsecops.stages.models.context import ScanState
from mlsecops.stages.models.interface import Handles
from mlsecops.stages.models.shared.pickle_region import analyze_region


def analyze_pickle_file(state: ScanState, fmt: Format, fh: BinaryIO, size: int | None, name: str, member: str | None,
                        depth: int) -> None:
    """A raw pickle, a stack of pickles, or a legacy torch.save file (size None: a stream whose
    end is found by reading it)."""
    walk = analyze_region(state, fh, 0, size, member, name, legacy_torch=fmt == Format.pytorch_legacy,
                          expect_pickle=fmt == Format.pytorch_legacy, depth=depth)
    if walk.joblib_arrays:
        state.formats.append(Format.joblib.value)


ANALYZERS = (Handles(frozenset({Format.pickle, Format.pytorch_legacy}), analyze_pickle_file),)
