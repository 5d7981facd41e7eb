"""The metric names a policy may bound: scikit-learn's and fairlearn's, and what each needs.

Only names and properties live here (no scikit-learn import), so a policy is
checked at load time without the assess extra installed. `direction` says which
way is better: a `max_drop` is a move the bad way. The worker maps each name to
the library function in `measure.py`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Task = Literal["classification", "regression"]
Direction = Literal["higher", "lower"]


class MetricInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    task: Task
    direction: Direction
    fairness: bool = False
    needs_scores: bool = False
    binary_only: bool = False
    library: Literal["scikit-learn", "fairlearn"] = "scikit-learn"


def _m(name: str, task: Task, direction: Direction, **kw: object) -> MetricInfo:
    return MetricInfo(name=name, task=task, direction=direction, **kw)  # type: ignore[arg-type]


_CLASSIFICATION = [
    _m("accuracy", "classification", "higher"),
    _m("balanced_accuracy", "classification", "higher"),
    _m("f1", "classification", "higher", binary_only=True),
    _m("precision", "classification", "higher", binary_only=True),
    _m("recall", "classification", "higher", binary_only=True),
    _m("jaccard", "classification", "higher", binary_only=True),
    *[_m(f"{base}_{avg}", "classification", "higher") for base in ("f1", "precision", "recall", "jaccard")
      for avg in ("macro", "micro", "weighted")],
    _m("matthews_corrcoef", "classification", "higher"),
    _m("cohen_kappa", "classification", "higher"),
    _m("roc_auc", "classification", "higher", needs_scores=True),
    _m("roc_auc_ovr", "classification", "higher", needs_scores=True),
    _m("roc_auc_ovo", "classification", "higher", needs_scores=True),
    _m("average_precision", "classification", "higher", needs_scores=True, binary_only=True),
    _m("log_loss", "classification", "lower", needs_scores=True),
    _m("brier_score_loss", "classification", "lower", needs_scores=True, binary_only=True),
]
_REGRESSION = [
    _m("mean_absolute_error", "regression", "lower"),
    _m("mean_squared_error", "regression", "lower"),
    _m("root_mean_squared_error", "regression", "lower"),
    _m("median_absolute_error", "regression", "lower"),
    _m("max_error", "regression", "lower"),
    _m("mean_absolute_percentage_error", "regression", "lower"),
    _m("r2", "regression", "higher"),
    _m("explained_variance", "regression", "higher"),
]
_FAIR = dict(fairness=True, library="fairlearn")
_FAIRNESS = [
    _m("demographic_parity_difference", "classification", "lower", binary_only=True, **_FAIR),
    _m("demographic_parity_ratio", "classification", "higher", binary_only=True, **_FAIR),
    _m("equalized_odds_difference", "classification", "lower", binary_only=True, **_FAIR),
    _m("equalized_odds_ratio", "classification", "higher", binary_only=True, **_FAIR),
    _m("equal_opportunity_difference", "classification", "lower", binary_only=True, **_FAIR),
    _m("equal_opportunity_ratio", "classification", "higher", binary_only=True, **_FAIR),
    *[_m(f"{rate}_{kind}", "classification", "lower" if kind == "difference" else "higher", binary_only=True, **_FAIR)
      for rate in ("selection_rate", "true_positive_rate", "true_negative_rate", "false_positive_rate",
                   "false_negative_rate")
      for kind in ("difference", "ratio")],
    _m("accuracy_score_difference", "classification", "lower", **_FAIR),
    _m("accuracy_score_ratio", "classification", "higher", **_FAIR),
    _m("zero_one_loss_difference", "classification", "lower", **_FAIR),
    _m("zero_one_loss_ratio", "classification", "higher", **_FAIR),
    _m("zero_one_loss_group_max", "classification", "lower", **_FAIR),
    *[_m(f"{base}_group_min", "classification", "higher", **_FAIR) for base in ("accuracy_score", "balanced_accuracy_score")],
    *[_m(f"{base}_group_min", "classification", "higher", binary_only=True, **_FAIR)
      for base in ("f1_score", "precision_score", "recall_score")],
    _m("roc_auc_score_group_min", "classification", "higher", needs_scores=True, binary_only=True, **_FAIR),
    _m("log_loss_group_max", "classification", "lower", needs_scores=True, binary_only=True, **_FAIR),
    _m("mean_absolute_error_group_max", "regression", "lower", **_FAIR),
    _m("mean_squared_error_group_max", "regression", "lower", **_FAIR),
    _m("r2_score_group_min", "regression", "higher", **_FAIR),
]

METRICS: dict[str, MetricInfo] = {m.name: m for m in (*_CLASSIFICATION, *_REGRESSION, *_FAIRNESS)}

ALIASES = {
    "accuracy_score": "accuracy", "balanced_accuracy_score": "balanced_accuracy", "f1_score": "f1",
    "precision_score": "precision", "recall_score": "recall", "jaccard_score": "jaccard",
    "cohen_kappa_score": "cohen_kappa", "roc_auc_score": "roc_auc", "average_precision_score": "average_precision",
    "r2_score": "r2", "explained_variance_score": "explained_variance",
}
"""scikit-learn's function names for its scorer names: either spelling is accepted."""


def canonical(name: str) -> str:
    return ALIASES.get(name, name)


def info(name: str) -> MetricInfo | None:
    return METRICS.get(canonical(name))


def known_names(task: Task | None = None) -> list[str]:
    return sorted(n for n, m in METRICS.items() if task is None or m.task == task)
