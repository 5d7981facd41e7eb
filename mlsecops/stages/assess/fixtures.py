"""Small, deterministic models and data for the assess stage's tests, demo and benchmark.

A credit-approval table (income, age, debt, and a sensitive column `sex` that
only `age` correlates with) and logistic-regression classifiers written as
ONNX graphs by hand with `onnx.helper` (no converter needed): a fair one that
ignores age, an unfair one that leans on age (a proxy for sex) with about the
same accuracy, and a weak one. Generated in code; no binary is committed.
"""

from __future__ import annotations

import io

import numpy as np

FEATURES = ("income", "age", "debt")
TRUE_WEIGHTS = (3.0, 0.0, -3.0)
TRUE_BIAS = 0.4
FAIR = ((3.0, 0.0, -3.0), 0.4)
FAIR_RETRAINED = ((2.8, 0.05, -3.1), 0.35)
UNFAIR = ((3.0, 1.0, -3.0), 0.4)
WEAK = ((3.0, 0.0, -0.5), 0.4)


class CreditData:
    def __init__(self, rows: int = 2000, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.sex = rng.choice(np.array(["F", "M"]), rows)
        income = rng.normal(60, 15, rows).round(1)
        debt = rng.normal(20, 8, rows).round(1)
        age = np.where(self.sex == "F", rng.normal(34, 7, rows), rng.normal(46, 7, rows)).round()
        self.X = np.column_stack([income, age, debt])
        self.mean = self.X.mean(axis=0)
        self.std = self.X.std(axis=0)
        z = (self.X - self.mean) / self.std
        logit = z @ np.array(TRUE_WEIGHTS) + TRUE_BIAS
        self.y = (logit + rng.logistic(0, 1, rows) > 0).astype(np.int64)

    def csv(self) -> str:
        out = io.StringIO()
        out.write("income,age,debt,sex,approved\n")
        for (inc, age, debt), s, y in zip(self.X, self.sex, self.y, strict=True):
            out.write(f"{inc:.1f},{int(age)},{debt:.1f},{s},{int(y)}\n")
        return out.getvalue()

    def model(self, weights: tuple[float, ...], bias: float) -> bytes:
        return logistic_onnx(weights, bias, self.mean, self.std)


def logistic_onnx(weights: tuple[float, ...], bias: float, mean: np.ndarray, std: np.ndarray) -> bytes:
    """A standardising logistic regression: outputs `label` (int64) then `probabilities` (float, 2 columns)."""
    from onnx import TensorProto, helper, numpy_helper

    d = len(weights)
    inits = [
        numpy_helper.from_array(np.asarray(mean, dtype=np.float32).reshape(1, d), "mean"),
        numpy_helper.from_array(np.asarray(std, dtype=np.float32).reshape(1, d), "std"),
        numpy_helper.from_array(np.asarray(weights, dtype=np.float32).reshape(d, 1), "w"),
        numpy_helper.from_array(np.asarray([bias], dtype=np.float32), "b"),
        numpy_helper.from_array(np.asarray([1.0], dtype=np.float32), "one"),
    ]
    nodes = [
        helper.make_node("Sub", ["features", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "std"], ["z"]),
        helper.make_node("MatMul", ["z", "w"], ["zw"]),
        helper.make_node("Add", ["zw", "b"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["p"]),
        helper.make_node("Sub", ["one", "p"], ["q"]),
        helper.make_node("Concat", ["q", "p"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "credit",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, d])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
         helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="mlsecops-fixtures")
    model.ir_version = 8
    return model.SerializeToString()


POLICY = """\
assess:
  fail_on: high
  models:
    - path: models/credit.onnx
      data: data/eval.csv
      target: approved
      sensitive: [sex]
      features: [income, age, debt]
      metrics:
        accuracy: {min: 0.80, max_drop: 0.02}
        demographic_parity_difference: {max: 0.10}
        equalized_odds_difference: {max: 0.15}
      robustness:
        gaussian_noise: {sigma: 0.1, max_accuracy_drop: 0.05}
"""
