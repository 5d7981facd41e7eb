"""ONNX external data: every tensor a loader resolves is checked, wherever it sits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.models.helpers import blocks, rules, scan_bytes, scan_path

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402


from tests.adversarial.attacks import onnx_external_tensor as _ext  # noqa: E402


def test_every_place_a_loader_resolves_is_checked(tmp_path: Path) -> None:
    from tests.adversarial.attacks import onnx_external_everywhere

    res = scan_bytes(tmp_path, "model.onnx", onnx_external_everywhere())
    found = {f.properties["key"] for f in res.findings if f.rule_id == "MLS114"}
    assert found == {"onnx-external:../../../etc/passwd", "onnx-external:/etc/passwd", "onnx-external:../../e.bin",
                     "onnx-external:../values.bin", "onnx-external:../indices.bin", "onnx-external:/etc/shadow"}, res.findings
    where = " | ".join(f.message for f in res.findings)
    assert "(Constant)" in where and "subgraph" in where and "sparse initializer" in where and "function" in where
    assert blocks(res)


def test_a_subgraph_inside_a_loop_body_inside_a_function_attribute(tmp_path: Path) -> None:
    inner = helper.make_graph([helper.make_node("Constant", [], ["y"], value=_ext("deep", "..\\..\\win.ini"))], "body", [],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    loop = helper.make_node("Loop", ["n", "c"], ["o"], body=inner)
    graph = helper.make_graph([loop], "g", [], [helper.make_tensor_value_info("o", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph)
    assert "MLS114" in rules(scan_bytes(tmp_path, "loop.onnx", model.SerializeToString()))


def test_benign_external_data_in_the_model_folder_passes(tmp_path: Path) -> None:
    graph = helper.make_graph([], "g", [], [], initializer=[_ext("w", "weights.bin"), _ext("b", "data/bias.bin")])
    res = scan_bytes(tmp_path, "m.onnx", helper.make_model(graph).SerializeToString())
    assert not res.findings and not res.errors


def test_a_location_through_a_symlink_escapes(tmp_path: Path) -> None:
    folder = tmp_path / "repo"
    folder.mkdir()
    os.symlink("/etc", folder / "data")
    graph = helper.make_graph([], "g", [], [], initializer=[_ext("w", "data/passwd")])
    path = folder / "m.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    res = scan_path(tmp_path, path)
    [hit] = [f for f in res.findings if f.rule_id == "MLS114"]
    assert "symbolic link" in hit.message


def test_a_model_with_a_field_from_a_newer_onnx_is_still_onnx(tmp_path: Path) -> None:
    graph = helper.make_graph([], "g", [], [], initializer=[_ext("w", "/etc/passwd")])
    data = helper.make_model(graph).SerializeToString() + b"\xd2\x06\x00"  # field 106, empty: unknown to this onnx
    assert onnx.load_from_string(data).graph.name == "g"
    assert "MLS114" in rules(scan_bytes(tmp_path, "new.onnx", data))
