"""The worker's numbers, checked against the libraries called directly (in the test process, no sandbox)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fairlearn")
pytest.importorskip("onnxruntime")

from mlsecops.policy.loader import load_policy_text  # noqa: E402
from mlsecops.stages.assess import worker  # noqa: E402
from mlsecops.stages.assess.fixtures import FAIR, POLICY, UNFAIR  # noqa: E402
from mlsecops.stages.assess.job import Job, ModelInput, Results  # noqa: E402
from mlsecops.stages.assess.policy import ModelEntry  # noqa: E402
from tests.assess import models  # noqa: E402
from tests.assess.helpers import DATA  # noqa: E402


def entry(text: str = POLICY, **replace: str) -> ModelEntry:
    for old, new in replace.items():
        text = text.replace(old, new)
    return load_policy_text(text, "p.yml").assess.models[0]


def run(tmp_path: Path, model: Path, fmt: str, e: ModelEntry | None = None, data: str | None = None,
        trusted: list[str] | None = None, data_format: str = "csv") -> Results:
    csv = tmp_path / "eval.csv"
    if data is None:
        csv.write_text(DATA.csv())
    else:
        csv.write_text(data)
    job = Job(data=str(csv), data_format=data_format, entry=e or entry(),  # type: ignore[arg-type]
              models=[ModelInput(role="head", file=str(model), format=fmt)],  # type: ignore[arg-type]
              out=str(tmp_path / "results.json"), inflight=str(tmp_path / "inflight.txt"), max_rows=10_000,
              entry_trusted=trusted or [])
    out = worker.run(job)
    assert (tmp_path / "inflight.txt").read_text() == "done"
    assert Results.model_validate_json((tmp_path / "results.json").read_text()) == out
    return out


def onnx(tmp_path: Path, kind=UNFAIR) -> Path:  # noqa: ANN001
    p = tmp_path / "m.onnx"
    p.write_bytes(DATA.model(*kind))
    return p


def test_onnx_metrics_and_fairness_match_the_libraries(tmp_path: Path) -> None:
    import onnxruntime as ort
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

    r = run(tmp_path, onnx(tmp_path), "onnx").results[0]
    assert not r.error, r.error
    labels = ort.InferenceSession(str(onnx(tmp_path))).run(None, {"features": DATA.X.astype(np.float32)})[0]
    assert r.metrics["accuracy"] == pytest.approx(float((labels == DATA.y).mean()))
    assert r.metrics["demographic_parity_difference"] == pytest.approx(
        demographic_parity_difference(DATA.y, labels, sensitive_features=DATA.sex))
    assert r.metrics["equalized_odds_difference"] == pytest.approx(
        equalized_odds_difference(DATA.y, labels, sensitive_features=DATA.sex))
    groups = {g.group: g.values for g in r.groups}
    assert set(groups) == {"F", "M"}
    for sex, g in groups.items():
        mask = DATA.sex == sex
        assert g["count"] == mask.sum()
        assert g["selection_rate"] == pytest.approx(labels[mask].mean())
    noise = r.robustness[0]
    assert noise.name == "gaussian_noise" and noise.clean == r.metrics["accuracy"]
    assert noise.value == pytest.approx(noise.clean - noise.perturbed)


def test_sensitive_columns_are_not_features_unless_listed(tmp_path: Path) -> None:
    e = entry(**{"      features: [income, age, debt]\n": ""})
    r = run(tmp_path, onnx(tmp_path), "onnx", e).results[0]
    assert not r.error  # the model takes 3 features: income, age, debt, without sex and the target
    e = entry(**{"features: [income, age, debt]": "features: [income, age, debt, sex]"})
    r = run(tmp_path, onnx(tmp_path), "onnx", e).results[0]
    assert "takes 3 features" in r.error and "sex" in r.error


def test_scores_give_roc_auc_and_log_loss(tmp_path: Path) -> None:
    from sklearn.metrics import log_loss, roc_auc_score
    import onnxruntime as ort

    e = entry(**{"accuracy: {min: 0.80, max_drop: 0.02}": "roc_auc: {min: 0.5}\n        log_loss: {}"})
    r = run(tmp_path, onnx(tmp_path), "onnx", e).results[0]
    probs = ort.InferenceSession(str(onnx(tmp_path))).run(None, {"features": DATA.X.astype(np.float32)})[1]
    assert r.metrics["roc_auc"] == pytest.approx(roc_auc_score(DATA.y, probs[:, 1]))
    assert r.metrics["log_loss"] == pytest.approx(log_loss(DATA.y, probs), rel=1e-5)


def test_skops_model_runs_with_its_trees_trusted(tmp_path: Path) -> None:
    import skops.io as sio

    path = models.skops_model(tmp_path / "m.skops")
    r = run(tmp_path, path, "skops").results[0]
    assert not r.error, r.error
    model = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    assert r.metrics["accuracy"] == pytest.approx(float((model.predict(DATA.X) == DATA.y).mean()))


def test_skops_types_off_the_list_are_refused_unless_the_policy_trusts_them(tmp_path: Path) -> None:
    path = models.skops_model(tmp_path / "m.skops", custom=True)
    r = run(tmp_path, path, "skops").results[0]
    assert "off the trusted list" in r.error and "Doubler" in r.error and not r.metrics
    r = run(tmp_path, path, "skops", trusted=["tests.assess.models.Doubler"]).results[0]
    assert not r.error and r.metrics["accuracy"] > 0.7


@pytest.mark.parametrize("suffix, fmt", [(".json", "xgboost-json"), (".ubj", "xgboost-ubj")])
def test_xgboost_native_files(tmp_path: Path, suffix: str, fmt: str) -> None:
    import xgboost as xgb

    path = models.xgboost_model(tmp_path / f"m{suffix}")
    r = run(tmp_path, path, fmt).results[0]
    assert not r.error, r.error
    p = xgb.Booster(model_file=str(path)).predict(xgb.DMatrix(DATA.X.astype(np.float32)))
    assert r.metrics["accuracy"] == pytest.approx(float(((p > 0.5).astype(int) == DATA.y).mean()))


def test_lightgbm_text_file(tmp_path: Path) -> None:
    import lightgbm as lgb

    path = models.lightgbm_model(tmp_path / "m.txt")
    r = run(tmp_path, path, "lightgbm-text").results[0]
    assert not r.error, r.error
    p = lgb.Booster(model_file=str(path)).predict(DATA.X)
    assert r.metrics["accuracy"] == pytest.approx(float(((p > 0.5).astype(int) == DATA.y).mean()))


def test_regression_with_regression_metrics(tmp_path: Path) -> None:
    from sklearn.metrics import mean_absolute_error, r2_score

    path = models.skops_model(tmp_path / "r.skops", regression=True)
    text = """assess:
  models:
    - path: m.skops
      data: eval.csv
      target: age
      features: [income, debt]
      sensitive: [sex]
      metrics: {r2: {}, mean_absolute_error: {max: 100}, mean_absolute_error_group_max: {}}
      robustness: {gaussian_noise: {sigma: 0.5, metric: r2, max_accuracy_drop: 1}}
"""
    r = run(tmp_path, path, "skops", entry(text)).results[0]
    assert not r.error, r.error and r.task == "regression"
    import skops.io as sio
    pred = sio.load(path).predict(DATA.X[:, [0, 2]])
    assert r.metrics["r2"] == pytest.approx(r2_score(DATA.X[:, 1], pred))
    assert r.metrics["mean_absolute_error"] == pytest.approx(mean_absolute_error(DATA.X[:, 1], pred))
    assert {g.group for g in r.groups} == {"F", "M"} and "mean_prediction" in r.groups[0].values


def test_parquet_data(tmp_path: Path) -> None:
    import fastparquet
    import pandas as pd
    from io import StringIO

    fastparquet.write(str(tmp_path / "eval.parquet"), pd.read_csv(StringIO(DATA.csv())))
    csv_result = run(tmp_path / "a" if (tmp_path / "a").mkdir() is None else tmp_path, onnx(tmp_path), "onnx")
    job_dir = tmp_path / "b"
    job_dir.mkdir()
    job = Job(data=str(tmp_path / "eval.parquet"), data_format="parquet", entry=entry(),
              models=[ModelInput(role="head", file=str(onnx(tmp_path)), format="onnx")],
              out=str(job_dir / "r.json"), inflight=str(job_dir / "i.txt"), max_rows=10_000)
    parquet_result = worker.run(job)
    assert parquet_result.results[0].metrics == csv_result.results[0].metrics


def test_missing_column_and_too_many_rows(tmp_path: Path) -> None:
    e = entry(**{"target: approved": "target: granted"})
    out = run(tmp_path, onnx(tmp_path), "onnx", e)
    assert "'granted' not in the data" in out.error and not out.results
    csv = tmp_path / "eval.csv"
    job = Job(data=str(csv), data_format="csv", entry=entry(), models=[], out=str(tmp_path / "r.json"),
              inflight=str(tmp_path / "i.txt"), max_rows=100)
    assert "more than assess.max_rows (100)" in worker.run(job).error


@pytest.mark.parametrize("attack", ["hop_skip_jump", "boundary"])
def test_black_box_attack_respects_its_query_budget(tmp_path: Path, attack: str) -> None:
    pytest.importorskip("art")
    base = "robustness:\n        gaussian_noise: {sigma: 0.1, max_accuracy_drop: 0.05}"
    bb = "robustness:\n        black_box: {attack: %s, samples: 4, max_queries: 2000, eps: %s, max_success_rate: 0.5}"
    wide = entry(**{base: bb % (attack, 10)})
    narrow = entry(**{base: bb % (attack, 0.001)})
    wide_check = run(tmp_path, onnx(tmp_path, FAIR), "onnx", wide).results[0].robustness[0]
    narrow_check = run(tmp_path, onnx(tmp_path, FAIR), "onnx", narrow).results[0].robustness[0]
    assert not wide_check.error, wide_check.error
    assert wide_check.details["queries"] <= 2000 and narrow_check.details["queries"] <= 2000
    assert wide_check.value == 1.0  # a linear model always flips within 10 standard deviations
    assert narrow_check.value == 0.0
    assert wide_check.details["median_distance"] == narrow_check.details["median_distance"]


def test_edge_values_flag_nan_from_zeros(tmp_path: Path) -> None:
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.array([[1.0], [-1.0], [0.0]], dtype=np.float32), "w")
    nodes = [helper.make_node("Reciprocal", ["features"], ["r"]), helper.make_node("MatMul", ["r", "w"], ["m"]),
             helper.make_node("Sigmoid", ["m"], ["p"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, 3])],
                              [helper.make_tensor_value_info("p", TensorProto.FLOAT, [None, 1])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "recip.onnx"
    path.write_bytes(model.SerializeToString())
    e = entry(**{"gaussian_noise: {sigma: 0.1, max_accuracy_drop: 0.05}": "edge_values: {rows: 8}"})
    check = run(tmp_path, path, "onnx", e).results[0].robustness[0]
    assert check.name == "edge_values" and check.value == 3.0  # zeros, -0.0, subnormal: 1/x overflows to inf-inf
    assert check.details["zeros"] > 0 and check.details["max"] == 0
    plain = run(tmp_path, onnx(tmp_path, FAIR), "onnx", e).results[0].robustness[0]
    assert plain.value == 0.0
