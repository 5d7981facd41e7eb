"""Formats other than pickles: Keras, TensorFlow, ONNX, GGUF, safetensors, numpy, templates."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from mlsecops import fixtures as fx
from tests.models.helpers import blocks, rules, scan_bytes, scan_path


def keras_config(lambda_layer: bool) -> dict:
    layers = [{"class_name": "Dense", "config": {"name": "dense", "units": 2}}]
    if lambda_layer:
        layers.append({"class_name": "Lambda", "config": {"name": "backdoor", "function": ["4wEAAAAAAAAAAAAAAAEAAAADAAAAQwAAAHMEAAAAfABTACkBTqkAKQHaAXhyAgAAAHICAAAA", None, None]}})
    return {"class_name": "Sequential", "config": {"name": "m", "layers": layers}}


def test_keras_h5_lambda_layer(tmp_path: Path) -> None:
    import h5py

    for name, lam in (("evil.h5", True), ("ok.h5", False)):
        with h5py.File(tmp_path / name, "w") as f:
            f.attrs["model_config"] = json.dumps(keras_config(lam))
            f.attrs["keras_version"] = "2.15.0"
            f.create_dataset("w", data=[1.0, 2.0])
    evil = scan_path(tmp_path, tmp_path / "evil.h5")
    assert "MLS108" in rules(evil) and blocks(evil) and "keras-h5" in evil.formats
    assert "backdoor" in " ".join(f.message for f in evil.findings)
    assert not scan_path(tmp_path, tmp_path / "ok.h5").findings


def test_keras_v3_archive_lambda(tmp_path: Path) -> None:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("config.json", json.dumps(keras_config(True)))
        zf.writestr("metadata.json", "{}")
    res = scan_bytes(tmp_path, "m.keras", out.getvalue())
    assert "MLS108" in rules(res) and "keras-v3" in res.formats


def _field(num: int, payload: bytes) -> bytes:
    def varint(n: int) -> bytes:
        out = b""
        while True:
            b = n & 0x7F
            n >>= 7
            out += bytes([b | (0x80 if n else 0)])
            if not n:
                return out
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def test_tensorflow_graph_ops(tmp_path: Path) -> None:
    def saved_model(*ops: str) -> bytes:
        nodes = b"".join(_field(1, _field(1, f"n{k}".encode()) + _field(2, op.encode())) for k, op in enumerate(ops))
        return _field(2, _field(2, nodes))
    evil = scan_bytes(tmp_path, "saved_model.pb", saved_model("Const", "PyFunc", "ReadFile"))
    sev = {f.properties["key"]: f.severity.value for f in evil.findings}
    assert sev == {"tf-op:PyFunc": "critical", "tf-op:ReadFile": "high"}
    assert not scan_bytes(tmp_path, "saved_model.pb", saved_model("Const", "MatMul", "SaveV2")).findings


def test_onnx_external_data_outside_the_model_folder(tmp_path: Path) -> None:
    from onnx import TensorProto, helper
    from onnx.external_data_helper import set_external_data

    def model(location: str) -> bytes:
        t = helper.make_tensor("w", TensorProto.FLOAT, [2], struct.pack("<2f", 1.0, 2.0), raw=True)
        set_external_data(t, location=location)
        t.ClearField("raw_data")
        t.data_location = TensorProto.EXTERNAL
        node = helper.make_node("Identity", ["w"], ["y"])
        graph = helper.make_graph([node], "g", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])], [t])
        return helper.make_model(graph).SerializeToString()
    res = scan_bytes(tmp_path, "m.onnx", model("../../../etc/passwd"))
    assert "MLS114" in rules(res) and "onnx" in res.formats
    assert not scan_bytes(tmp_path, "ok.onnx", model("weights.bin")).findings


def gguf(kv: dict[str, str]) -> bytes:
    def gs(text: str) -> bytes:
        raw = text.encode()
        return struct.pack("<Q", len(raw)) + raw
    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kv) + 1)
    for k, v in kv.items():
        out += gs(k) + struct.pack("<I", 8) + gs(v)
    tokens = [f"tok{i}" for i in range(5000)]
    out += gs("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, len(tokens)) + b"".join(gs(t) for t in tokens)
    return out


def test_gguf_chat_template_injection(tmp_path: Path) -> None:
    evil = scan_bytes(tmp_path, "m.gguf", gguf({"general.name": "m", "tokenizer.chat_template": fx.SSTI_CHAT_TEMPLATE}))
    assert "MLS118" in rules(evil) and blocks(evil)
    assert not scan_bytes(tmp_path, "ok.gguf", gguf({"tokenizer.chat_template": fx.BENIGN_CHAT_TEMPLATE})).findings
    assert "MLS120" in rules(scan_bytes(tmp_path, "cut.gguf", gguf({"a": "b"})[:60]))


@pytest.mark.parametrize(
    "template",
    [
        fx.SSTI_CHAT_TEMPLATE,
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ request['application']['\\x5f\\x5fglobals\\x5f\\x5f'] }}",
        "{{ x|attr('__class__') }}",
        "{{ getattr(x, 'y') }}",
        "{% set a = ''.join([chr(95), chr(95)]) %}{{ x[''.join([chr(95)])] }}",
    ],
)
def test_template_injection_variants(tmp_path: Path, template: str) -> None:
    assert "MLS118" in rules(scan_bytes(tmp_path, "tokenizer_config.json", fx.chat_template_config(template)))


def test_benign_templates_and_yaml_configs_pass(tmp_path: Path) -> None:
    assert not scan_bytes(tmp_path, "tokenizer_config.json", fx.chat_template_config(fx.BENIGN_CHAT_TEMPLATE)).findings
    yml = "chat_template: \"{{ messages[0]['content'] }}\"\nname: x\n"
    assert not scan_bytes(tmp_path, "config.yaml", yml.encode()).findings
    evil = "chat_template: \"{{ self.__init__.__globals__ }}\"\n"
    assert "MLS118" in rules(scan_bytes(tmp_path, "config.yaml", evil.encode()))


def test_yaml_alias_bomb_is_bounded(tmp_path: Path) -> None:
    lines = ["a0: &a0 ['{{ x }}', '{{ y }}']"] + [f"a{k}: &a{k} [*a{k-1}, *a{k-1}, *a{k-1}]" for k in range(1, 30)]
    res = scan_bytes(tmp_path, "bomb.yaml", ("\n".join(lines) + "\n").encode())
    assert not res.errors


def test_safetensors_header_checks(tmp_path: Path) -> None:
    assert not scan_bytes(tmp_path, "ok.safetensors", fx.safetensors_file({"a": 4, "b": 2}, {"k": "v"})).findings
    good = fx.safetensors_file({"a": 4})
    n = struct.unpack("<Q", good[:8])[0]
    header = json.loads(good[8 : 8 + n])
    header["a"]["data_offsets"] = [0, 4096]
    raw = json.dumps(header).encode()
    res = scan_bytes(tmp_path, "bad.safetensors", struct.pack("<Q", len(raw)) + raw + good[8 + n :])
    assert "MLS120" in rules(res) and not blocks(res)


def test_numpy_object_array_pickles(tmp_path: Path) -> None:
    import numpy as np

    np.save(tmp_path / "ok.npy", np.array([{"a": 1}, [1, 2]], dtype=object), allow_pickle=True)
    assert not scan_path(tmp_path, tmp_path / "ok.npy").findings
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += " " * (64 - (10 + len(header) + 1) % 64) + "\n"
    evil = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + fx.malicious_pickle()
    res = scan_bytes(tmp_path, "evil.npy", evil)
    assert "MLS101" in rules(res) and "numpy-object" in res.formats
    assert "MLS120" in rules(scan_bytes(tmp_path, "bad.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': eval}"))
