"""A Keras model's architecture config (HDF5 attribute `model_config`, or `config.json` in
a `.keras` zip) is JSON; a Lambda layer in it carries code, a layer from a module outside
Keras runs that module's code. Read by analyzers/keras.py (HDF5) and analyzers/zips.py
(`.keras`); the engines that read a whole Keras file run on top-level files only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from mlsecops.findings import Severity
from mlsecops.stages.models import rules
from mlsecops.stages.models.context import ScanState

MAX_CONFIG = 64 * 1024 * 1024


def _layers(node: Any, path: str = "", budget: list[int] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    budget = budget if budget is not None else [200_000]
    budget[0] -= 1
    if budget[0] < 0:
        return
    if isinstance(node, dict):
        if "class_name" in node:
            yield path, node
        for k, v in node.items():
            yield from _layers(v, f"{path}/{k}", budget)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _layers(v, f"{path}[{i}]", budget)


def judge_config(state: ScanState, config: Any, member: str | None) -> None:
    for where, layer in _layers(config):
        cls = str(layer.get("class_name", ""))
        cfg = layer.get("config") if isinstance(layer.get("config"), dict) else {}
        name = str(layer.get("name") or (cfg.get("name", "") if cfg else "") or where)
        if cls == "Lambda":
            fn = cfg.get("function") if cfg else None
            has_code = isinstance(fn, (list, dict)) or (isinstance(fn, str) and len(fn) > 40)
            state.observe(rules.KERAS_LAMBDA_LAYER, Severity.high,
                          f"Keras Lambda layer {name!r}" + (" carries serialized Python bytecode" if has_code else " references a Python function"),
                          member, f"keras-lambda:{name or where}", evidence=[where])
        module = layer.get("module")
        if isinstance(module, str) and module and not module.startswith(("keras", "tensorflow", "tf_keras")):
            state.observe(rules.UNKNOWN_PICKLE_IMPORT, Severity(state.task.unknown_globals) if state.task.unknown_globals != "off" else Severity.info,
                          f"Keras layer {cls!r} comes from module {module!r}, whose code runs when the model is loaded",
                          member, f"keras-custom:{module}.{cls}")


def whole_file_engines(state: ScanState, suffix: str) -> None:
    """The engines that read a whole Keras file (`.h5`, `.keras`) themselves, on the file as it lies."""
    for engine in state.enabled_engines():
        if suffix in engine.whole:
            engine.scan_whole(state, Path(state.task.source), suffix, None)


def analyze_config_json(state: ScanState, fh: BinaryIO, size: int, member: str | None) -> None:
    """`config.json` of a Keras v3 archive."""
    if size > MAX_CONFIG:
        state.observe(rules.SCAN_LIMIT_EXCEEDED, Severity.high, "Keras config.json is too large to check", member, "keras-config-size")
        return
    fh.seek(0)
    try:
        config = json.loads(fh.read(size))
    except (ValueError, RecursionError) as exc:
        state.observe(rules.CORRUPT_MODEL_FILE, Severity.medium, f"Keras config.json is not JSON: {exc}"[:200], member, "keras-config")
        return
    judge_config(state, config, member)
