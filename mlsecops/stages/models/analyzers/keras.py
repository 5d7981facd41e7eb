"""Keras HDF5 models: the architecture config (HDF5 attribute `model_config`) is JSON; a
Lambda layer in it carries code (shared/keras_config.py, which also reads `.keras` zips).

mlsecops reads the config itself, without TensorFlow or Keras: the HDF5 file with
h5py (attributes only, no datasets) inside the sandboxed worker. modelscan's Keras
scanners need TensorFlow (without it they only report an error), so they run on
top-level files only where TensorFlow is installed.
"""

from __future__ import annotations

import json
from typing import BinaryIO

from mlsecops.findings import Severity
from mlsecops.formats.kinds import Format
from mlsecops.stages.models import rules
from mlsecops.stages.models.context import ScanState
from mlsecops.stages.models.interface import Handles
from mlsecops.stages.models.shared.keras_config import judge_config, whole_file_engines


def analyze_h5(state: ScanState, fmt: Format, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> None:
    import h5py

    fh.seek(0)
    try:
        with h5py.File(fh, "r") as f:
            raw = f.attrs.get("model_config")
    except Exception as exc:  # noqa: BLE001 - h5py raises many types on hostile files
        state.observe(rules.CORRUPT_MODEL_FILE, Severity.medium, f"Not a readable HDF5 file: {type(exc).__name__}: {exc}"[:200], member, "corrupt-h5")
        return
    if raw is None:
        return
    state.formats.append(Format.keras_h5.value)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    try:
        config = json.loads(text)
    except ValueError as exc:
        state.observe(rules.CORRUPT_MODEL_FILE, Severity.medium, f"Keras model_config is not JSON: {exc}", member, "keras-config")
        return
    judge_config(state, config, member)
    state.engines_run.add("mlsecops")
    if member is None:
        whole_file_engines(state, ".h5")


ANALYZERS = (Handles(frozenset({Format.hdf5, Format.keras_h5}), analyze_h5),)
