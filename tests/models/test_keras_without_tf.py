"""Keras files are read without TensorFlow: ordinary models are neither errors nor findings,
Lambda layers are MLS108 as before."""

from __future__ import annotations

import importlib.util
import io
import json
import zipfile
from pathlib import Path

import pytest

from tests.models.helpers import blocks, rules, scan_bytes

needs_no_tf = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is not None, reason="TensorFlow is installed here")

DENSE = {"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", "units": 2, "activation": "relu",
                                                                      "kernel_initializer": {"module": "keras.initializers",
                                                                                             "class_name": "GlorotUniform",
                                                                                             "config": {"seed": None}}}}
LAMBDA = {"module": "keras.layers", "class_name": "Lambda",
          "config": {"name": "l", "function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAA" * 8}}}}


def keras_v3(layers: list[dict]) -> bytes:  # type: ignore[type-arg]
    config = {"module": "keras", "class_name": "Sequential", "config": {"name": "seq", "layers": layers}}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.6.0", "date_saved": "2026-01-01"}))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", b"")
    return out.getvalue()


def keras_h5(tmp_path: Path, layers: list[dict]) -> bytes:  # type: ignore[type-arg]
    import h5py

    path = tmp_path / "k.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"layers": layers}})
        f.create_group("model_weights")
    return path.read_bytes()


@needs_no_tf
def test_an_ordinary_keras_file_is_neither_an_error_nor_a_finding(tmp_path: Path) -> None:
    for name, data in (("m.keras", keras_v3([DENSE])), ("m.h5", keras_h5(tmp_path, [DENSE]))):
        res = scan_bytes(tmp_path, name, data)
        assert not res.errors and not res.findings, (name, res.errors, res.findings)
        assert any("TensorFlow" in n for n in res.notes)


def test_a_lambda_layer_is_still_found(tmp_path: Path) -> None:
    for name, data in (("m.keras", keras_v3([DENSE, LAMBDA])), ("m.h5", keras_h5(tmp_path, [LAMBDA]))):
        res = scan_bytes(tmp_path, name, data)
        assert "MLS108" in rules(res) and blocks(res), (name, res.findings)
        assert not res.errors or importlib.util.find_spec("tensorflow") is not None, res.errors
