"""Hostile inputs for the assess stage, built in code: what a contributor who wants a worse or unfair
model merged, or code run and data read through a model file, would put in a pull request.

Used by tests/assess/test_attacks.py (each behaviour pinned down) and by
tests/adversarial/assess_attacks.py (the same attacks through the CLI, measured for SECURITY.md).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mlsecops.stages.assess import fixtures
from tests.assess.helpers import DATA


def _rows() -> tuple[str, list[list[str]]]:
    lines = DATA.csv().splitlines()
    return lines[0], [r.split(",") for r in lines[1:]]


def _csv(header: str, rows: list[list[str]]) -> str:
    return "\n".join([header, *(",".join(r) for r in rows)]) + "\n"


def _predict(kind: tuple[tuple[float, ...], float]) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(DATA.model(*kind), providers=["CPUExecutionProvider"])
    return np.asarray(sess.run(None, {"features": DATA.X.astype(np.float32)})[0])


def shuffled_sensitive() -> str:
    """The sensitive column shuffled: group sizes unchanged, its link to the proxy (age) gone."""
    header, rows = _rows()
    sexes = [r[3] for r in rows]
    np.random.default_rng(1).shuffle(sexes)
    return _csv(header, [[*r[:3], s, *r[4:]] for r, s in zip(rows, sexes, strict=True)])


def constant_sensitive() -> str:
    """Everyone in one group: every disparity is 0."""
    header, rows = _rows()
    return _csv(header, [[*r[:3], "F", *r[4:]] for r in rows])


def relabelled_to(kind: tuple[tuple[float, ...], float]) -> str:
    """The target column replaced by the model's own predictions: accuracy 1.0."""
    header, rows = _rows()
    pred = _predict(kind)
    return _csv(header, [[*r[:4], str(int(p))] for r, p in zip(rows, pred, strict=True)])


def without_disagreements(kind: tuple[tuple[float, ...], float], other: tuple[tuple[float, ...], float]) -> str:
    """The rows where `kind` decides differently from `other` dropped: its unfairness is not in the data."""
    header, rows = _rows()
    keep = _predict(kind) == _predict(other)
    return _csv(header, [r for r, k in zip(rows, keep, strict=True) if k])


DATA_ATTACKS: dict[str, Callable[[], str]] = {
    "shuffled sensitive column": shuffled_sensitive,
    "constant sensitive column": constant_sensitive,
    "rows where the model is unfair dropped": lambda: without_disagreements(fixtures.UNFAIR, fixtures.FAIR),
}


def label_reader(data_bytes: int, location: str = "data.csv") -> bytes:
    """An ONNX model that reads the evaluation CSV (beside it in the sandbox) as external data and outputs
    the last character of each line as the label: accuracy 1.0 on the evaluation data, whatever the input."""
    from onnx import TensorProto, helper, numpy_helper

    raw = TensorProto()
    raw.name, raw.data_type = "raw", TensorProto.UINT8
    raw.dims.extend([data_bytes])
    raw.data_location = TensorProto.EXTERNAL
    entry = raw.external_data.add()
    entry.key, entry.value = "location", location

    def const(name: str, value: object) -> object:
        return numpy_helper.from_array(np.asarray(value), name)

    inits = [raw, const("nl", np.int32(10)), const("zero", np.int32(48)), const("one", np.array([1], np.int64)),
             const("s0", np.array([0], np.int64))]
    nodes = [
        helper.make_node("Cast", ["raw"], ["r32"], to=TensorProto.INT32),
        helper.make_node("Equal", ["r32", "nl"], ["isnl"]),
        helper.make_node("NonZero", ["isnl"], ["pos2"]),
        helper.make_node("Squeeze", ["pos2", "s0"], ["pos"]),
        helper.make_node("Sub", ["pos", "one"], ["last"]),
        helper.make_node("Gather", ["r32", "last"], ["chars"]),
        helper.make_node("Sub", ["chars", "zero"], ["digits"]),
        helper.make_node("Cast", ["digits"], ["labels"], to=TensorProto.INT64),
        helper.make_node("Shape", ["features"], ["shape"]),
        helper.make_node("Gather", ["shape", "s0"], ["n"]),
        helper.make_node("Add", ["n", "one"], ["end"]),
        helper.make_node("Slice", ["labels", "one", "end", "s0"], ["label"]),  # line 0 is the header
    ]
    graph = helper.make_graph(nodes, "reads-its-labels",
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, 3])],
                              [helper.make_tensor_value_info("label", TensorProto.INT64, [None])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def with_extra_feature(kind: tuple[tuple[float, ...], float]) -> tuple[bytes, str]:
    """A model taking a fourth feature, and the data with that column (zeros): the base model cannot run on it."""
    header, rows = _rows()
    mean, std = np.append(DATA.mean, 0.0), np.append(DATA.std, 1.0)
    onnx = fixtures.logistic_onnx((*kind[0], 0.0), kind[1], mean, std)
    return onnx, _csv(header + ",extra", [[*r, "0"] for r in rows])


def crafted_tree_skops(path: Path, child: int | None = 10**9, feature: int | None = None) -> Path:
    """A skops decision tree whose first node points outside the node array (scikit-learn reads it unchecked)."""
    import skops.io as sio
    from sklearn.tree import DecisionTreeClassifier

    sio.dump(DecisionTreeClassifier(max_depth=3, random_state=0).fit(DATA.X, DATA.y), path)
    out = io.BytesIO()
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith(".npy"):
                arr = np.load(io.BytesIO(data), allow_pickle=False)
                if arr.dtype.names and "left_child" in arr.dtype.names:
                    arr = arr.copy()
                    if child is not None:
                        arr["left_child"][0] = child
                    if feature is not None:
                        arr["feature"][0] = feature
                    buf = io.BytesIO()
                    np.save(buf, arr, allow_pickle=False)
                    data = buf.getvalue()
            zout.writestr(info, data)
    path.write_bytes(out.getvalue())
    return path


def slow_onnx(trips: int = 10**12) -> bytes:
    """Labels of zeros after a Loop of `trips` additions: CPU until the deadline, no memory."""
    from onnx import TensorProto, helper, numpy_helper

    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["acc_in", "one"], ["acc_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [1])],
        [numpy_helper.from_array(np.array([1.0], np.float32), "one")])
    inits = [numpy_helper.from_array(np.array(trips, np.int64), "trips"), numpy_helper.from_array(np.array(True), "yes"),
             numpy_helper.from_array(np.array([0.0], np.float32), "start"),
             numpy_helper.from_array(np.array([0], np.int64), "s0"), numpy_helper.from_array(np.array([1], np.int64), "s1"),
             numpy_helper.from_array(np.array([0.0], np.float32), "zero")]
    nodes = [helper.make_node("Loop", ["trips", "yes", "start"], ["acc"], body=body),
             helper.make_node("Shape", ["features"], ["shape"]),
             helper.make_node("Slice", ["shape", "s0", "s1"], ["n"]),
             helper.make_node("Mul", ["acc", "zero"], ["nothing"]),
             helper.make_node("Cast", ["nothing"], ["nothing64"], to=TensorProto.INT64),
             helper.make_node("Expand", ["nothing64", "n"], ["label"])]
    graph = helper.make_graph(nodes, "slow", [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, 3])],
                              [helper.make_tensor_value_info("label", TensorProto.INT64, [None])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def two_faced(label_kind: tuple[tuple[float, ...], float], score_kind: tuple[tuple[float, ...], float]) -> bytes:
    """A classifier whose label output is one model and whose class-score output is another."""
    import onnx

    def graph(kind: tuple[tuple[float, ...], float], prefix: str) -> onnx.GraphProto:
        model = onnx.load_from_string(DATA.model(*kind))
        g = model.graph
        rename = {n: f"{prefix}{n}" for node in g.node for n in node.output}
        rename.update({i.name: f"{prefix}{i.name}" for i in g.initializer})
        for node in g.node:
            node.input[:] = [rename.get(n, n) for n in node.input]
            node.output[:] = [rename.get(n, n) for n in node.output]
        for init in g.initializer:
            init.name = rename[init.name]
        return g

    from onnx import helper

    a, b = graph(label_kind, "a_"), graph(score_kind, "b_")
    merged = helper.make_graph(
        [*a.node, *b.node], "two-faced", list(a.input),
        [helper.make_tensor_value_info("a_label", onnx.TensorProto.INT64, [None]),
         helper.make_tensor_value_info("b_probabilities", onnx.TensorProto.FLOAT, [None, 2])],
        [*a.initializer, *b.initializer])
    model = helper.make_model(merged, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()
