"""The assess section of a policy: metric names, consistency, and errors with file, line and field."""

from __future__ import annotations

import pytest

from mlsecops.policy.loader import PolicyError, load_policy_text
from mlsecops.stages.assess import catalog
from mlsecops.stages.assess.fixtures import POLICY


def test_the_contract_example_loads() -> None:
    policy = load_policy_text(POLICY, "p.yml")
    entry = policy.assess.models[0]
    assert entry.path == "models/credit.onnx" and entry.sensitive == ["sex"]
    assert entry.metrics["accuracy"].max_drop == 0.02
    assert entry.robustness.gaussian_noise is not None and entry.robustness.gaussian_noise.sigma == 0.1
    assert entry.resolved_task == "classification"
    assert policy.threshold("assess") == "high"


def test_unknown_metric_is_rejected_with_line_and_field() -> None:
    text = POLICY.replace("equalized_odds_difference: {max: 0.15}", "equalised_odds_difference: {max: 0.15}")
    with pytest.raises(PolicyError) as err:
        load_policy_text(text, "p.yml")
    msg = str(err.value)
    line = text.splitlines().index(next(ln for ln in text.splitlines() if "equalised" in ln)) + 1
    assert f"p.yml:{line}:" in msg
    assert "assess.models[0].metrics.equalised_odds_difference" in msg
    assert "did you mean 'equalized_odds_difference'" in msg


@pytest.mark.parametrize("bad, expected", [
    ("      features: [income, age, debt]\n", "classification and regression metrics are mixed"),
    ("      sensitive: [sex]\n", "fairness metrics need `sensitive`"),
])
def test_inconsistent_entries_are_rejected(bad: str, expected: str) -> None:
    if "features" in bad:
        text = POLICY.replace("        accuracy:", "        r2: {min: 0.1}\n        accuracy:")
    else:
        text = POLICY.replace(bad, "")
    with pytest.raises(PolicyError) as err:
        load_policy_text(text, "p.yml")
    assert expected in str(err.value)


@pytest.mark.parametrize("path", ["../outside.onnx", "/etc/model.onnx", "models//x.onnx", "models\\x.onnx"])
def test_model_paths_stay_in_the_repository(path: str) -> None:
    with pytest.raises(PolicyError) as err:
        load_policy_text(POLICY.replace("models/credit.onnx", path), "p.yml")
    assert "assess.models[0].path" in str(err.value)


def test_scikit_learn_function_names_are_accepted_as_aliases() -> None:
    policy = load_policy_text(POLICY.replace("accuracy: {min", "accuracy_score: {min"), "p.yml")
    assert catalog.canonical(next(iter(policy.assess.models[0].metrics))) == "accuracy"


def test_every_fairlearn_metric_named_exists_in_fairlearn() -> None:
    fm = pytest.importorskip("fairlearn.metrics")
    for name, info in catalog.METRICS.items():
        if info.library == "fairlearn":
            assert callable(getattr(fm, name)), name


def test_compute_view_ignores_bounds_only() -> None:
    a = load_policy_text(POLICY, "p.yml").assess.models[0]
    b = load_policy_text(POLICY.replace("max: 0.10", "max: 0.05").replace("max_accuracy_drop: 0.05",
                                                                         "max_accuracy_drop: 0.01"), "p.yml").assess.models[0]
    c = load_policy_text(POLICY.replace("sigma: 0.1", "sigma: 0.2"), "p.yml").assess.models[0]
    assert a.compute_view() == b.compute_view()
    assert a.compute_view() != c.compute_view()
