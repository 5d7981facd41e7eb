"""numpy `.npy`: whether the payload is a pickle is numpy's decision (`formats.npy`, numpy's
own header parser and `dtype.hasobject`); when it is, the pickle numpy.load(allow_pickle=True)
unpickles is walked. A header numpy refuses is corrupt (numpy.load fails before the payload);
a dtype the gate's numpy cannot build fails closed: another numpy may build it and unpickle."""

from __future__ import annotations

from typing import BinaryIO

from mlsecops.findings import Severity
from mlsecops.formats.kinds import Format
from mlsecops.formats.npy import read_header
from mlsecops.stages.models import rules
from mlsecops.stages.models.context import ScanState
from mlsecops.stages.models.interface import Handles
from mlsecops.stages.models.shared.pickle_region import analyze_region

MAX_HEADER = 16 * 1024 * 1024


def analyze_npy(state: ScanState, fmt: Format, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> None:
    state.engines_run.add("mlsecops")
    header = read_header(fh, size, MAX_HEADER)
    if header.corrupt is not None:
        state.observe(rules.CORRUPT_MODEL_FILE, Severity.medium, f"Malformed .npy header (numpy.load refuses it): {header.corrupt}"[:300],
                      member, "npy-header")
        return
    if header.unreadable is not None:
        state.observe(rules.SCAN_LIMIT_EXCEEDED, Severity.high, f"The .npy payload could not be classified: {header.unreadable}; "
                      "numpy.load(allow_pickle=True) unpickles it if its numpy makes the dtype an object dtype, "
                      "so it was walked as a pickle"[:400], member, "npy-unreadable")
    elif not header.hasobject:
        return
    state.formats.append(Format.numpy_object.value)
    analyze_region(state, fh, header.data_offset, size, member, name, expect_pickle=True, depth=depth)


ANALYZERS = (Handles(frozenset({Format.numpy, Format.numpy_object}), analyze_npy),)
