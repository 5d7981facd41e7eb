"""The `assess:` section of a policy: which models to evaluate, on which data, within which bounds.

Every bound is optional; a metric listed without bounds is measured and shown.
Metric names are checked here, at load time, so a typo is a policy error with
file, line and field instead of a silently unchecked bound. Robustness checks
are opt-in per model. Fields that only judge (bounds, severities) are kept
apart from the fields that change what the sandbox computes (`compute_view`),
which is what the result cache is keyed on.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from mlsecops.policy.common import NonEmpty, Strict, Threshold
from mlsecops.stages.assess import catalog

BoundSeverity = Literal["critical", "high", "medium", "low", "info"]


def _repo_path(value: str) -> str:
    parts = value.split("/")
    if value.startswith("/") or "\\" in value or "\x00" in value or any(p in ("", ".", "..") for p in parts):
        raise ValueError("must be a path relative to the scanned folder, with '/' separators and no '..'")
    return value


def _metric_name(value: str) -> str:
    if catalog.info(value) is None:
        hint = difflib.get_close_matches(value, list(catalog.METRICS) + list(catalog.ALIASES), n=1)
        suffix = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise ValueError(f"unknown metric '{value}'{suffix}; see docs/assess.md for the scikit-learn and fairlearn names")
    return value


RepoPath = Annotated[str, AfterValidator(_repo_path)]
MetricName = Annotated[str, AfterValidator(_metric_name)]


class Bound(Strict):
    """Bounds on one metric. `max_drop` compares with the base commit's model, in the metric's bad direction."""

    min: float | None = None
    max: float | None = None
    max_drop: float | None = Field(default=None, ge=0)
    severity: BoundSeverity = "high"


class GaussianNoise(Strict):
    """Noise of `sigma` standard deviations (per numeric feature column) added to the evaluation data."""

    sigma: float = Field(gt=0, le=10)
    max_accuracy_drop: float | None = Field(default=None, ge=0, description="bound on the drop of `metric`")
    metric: MetricName = "accuracy"
    repeats: int = Field(default=3, ge=1, le=20)
    seed: int = 0
    severity: BoundSeverity = "high"

    @model_validator(mode="after")
    def _plain_metric(self) -> GaussianNoise:
        if (m := catalog.info(self.metric)) is not None and m.fairness:
            raise ValueError("gaussian_noise.metric must be a performance metric, not a fairness metric")
        return self


class BlackBox(Strict):
    """A decision-based attack from the Adversarial Robustness Toolbox, with a hard query budget."""

    attack: Literal["hop_skip_jump", "boundary"] = "hop_skip_jump"
    samples: int = Field(default=20, ge=1, le=1000, description="correctly classified rows attacked")
    max_queries: int = Field(default=5000, ge=50, le=2_000_000, description="model rows evaluated, all samples together")
    eps: float = Field(default=0.25, gt=0, description="success: an adversarial within this RMS change, in standard deviations")
    max_success_rate: float | None = Field(default=None, ge=0, le=1)
    seed: int = 0
    severity: BoundSeverity = "high"


class EdgeValues(Strict):
    """Rows of the evaluation data with NaN, ±Inf, extremes, subnormals and -0.0 in the numeric features."""

    rows: int = Field(default=16, ge=1, le=1000)
    severity: BoundSeverity = "high"


class Robustness(Strict):
    gaussian_noise: GaussianNoise | None = None
    black_box: BlackBox | None = None
    edge_values: EdgeValues | None = None


class ModelEntry(Strict):
    path: RepoPath = Field(description="ONNX, skops, or XGBoost/LightGBM native model file")
    data: RepoPath = Field(description="evaluation data: CSV or Parquet")
    target: NonEmpty = Field(description="label column")
    sensitive: list[NonEmpty] = Field(default_factory=list, description="group columns for fairness metrics")
    features: list[NonEmpty] | None = Field(default=None, description="default: every column but target and sensitive")
    task: Literal["auto", "classification", "regression"] = "auto"
    pos_label: str | int | bool | None = Field(default=None, description="the positive class (binary metrics)")
    classes: list[str | int | bool] | None = Field(
        default=None, description="the labels in the order of the model's class scores"
    )
    metrics: dict[MetricName, Bound] = Field(default_factory=dict)
    robustness: Robustness = Field(default_factory=Robustness)

    @model_validator(mode="after")
    def _consistent(self) -> ModelEntry:
        infos = {name: catalog.info(name) for name in self.metrics}
        tasks = {m.task for m in infos.values() if m is not None}
        if self.task != "auto":
            wrong = [n for n, m in infos.items() if m is not None and m.task != self.task]
            if wrong:
                raise ValueError(f"metric '{wrong[0]}' is a {infos[wrong[0]].task} metric but task is {self.task}")  # type: ignore[union-attr]
        elif len(tasks) > 1:
            raise ValueError("classification and regression metrics are mixed; set `task` or remove one kind")
        if any(m is not None and m.fairness for m in infos.values()) and not self.sensitive:
            raise ValueError("fairness metrics need `sensitive` (the group columns)")
        if self.features is not None and self.target in self.features:
            raise ValueError(f"the target '{self.target}' cannot also be a feature")
        if self.target in self.sensitive:
            raise ValueError(f"the target '{self.target}' cannot also be a sensitive column")
        if self.robustness.black_box is not None and self.resolved_task == "regression":
            raise ValueError("robustness.black_box attacks classifiers; this model's task is regression")
        return self

    @property
    def resolved_task(self) -> catalog.Task:
        if self.task != "auto":
            return self.task
        tasks = {m.task for n in self.metrics if (m := catalog.info(n)) is not None}
        noise = self.robustness.gaussian_noise
        if noise is not None and (m := catalog.info(noise.metric)) is not None:
            tasks.add(m.task)
        return "regression" if tasks == {"regression"} else "classification"

    def compute_view(self) -> dict[str, Any]:
        """What changes the sandbox's answer (not the bounds): the result cache's key."""
        data = self.model_dump(mode="json", exclude={"metrics", "path", "data"})
        data["metrics"] = sorted(catalog.canonical(n) for n in self.metrics)
        data["task"] = self.resolved_task
        rob = data["robustness"]
        for key in ("gaussian_noise", "black_box", "edge_values"):
            if rob.get(key):
                for judged in ("max_accuracy_drop", "max_success_rate", "severity"):
                    rob[key].pop(judged, None)
        return data


class AssessPolicy(Strict):
    fail_on: Threshold = "high"
    budget_seconds: float = Field(default=300, ge=1, le=3600, description="whole stage, wall clock")
    memory_mb: int = Field(default=2048, ge=256, description="per sandboxed evaluation")
    max_rows: int = Field(default=1_000_000, ge=1, description="evaluation rows; more is a stage error")
    max_data_mb: int = Field(default=512, ge=1)
    max_model_mb: int = Field(default=1024, ge=1)
    trusted_types: list[NonEmpty] = Field(
        default_factory=list, description="extra types a skops file may hold, after review (never everything)"
    )
    models: list[ModelEntry] = Field(default_factory=list)
