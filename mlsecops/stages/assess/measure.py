"""From raw model outputs to labels, scores and metric values, with scikit-learn and fairlearn. Sandbox only.

`decide` turns a `Prediction` into what metrics need: predicted labels in the
target's own vocabulary, class scores aligned with a known class list, or
regression values. Binary metrics and fairlearn's disparity metrics work on the
positive class (the policy's `pos_label`, else 1 or True). `metric` maps a
policy name to the library call; `group_table` is fairlearn's MetricFrame
over the sensitive columns, the evidence shown with a fairness finding.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlsecops.stages.assess import catalog
from mlsecops.stages.assess.job import MAX_GROUPS, GroupRow
from mlsecops.stages.assess.policy import ModelEntry
from mlsecops.stages.assess.runners import ModelError, Prediction


class MetricError(Exception):
    """This metric cannot be computed here (needs scores the model does not give, a binary task...)."""


@dataclass
class Decided:
    task: catalog.Task
    y: np.ndarray
    pred: np.ndarray
    classes: list[Any]
    scores: np.ndarray | None = None
    pos: Any = None
    nonfinite_rows: int = 0

    @property
    def binary(self) -> bool:
        return self.task == "classification" and len(self.classes) <= 2

    def yb(self) -> np.ndarray:
        return (self.y == self.pos).astype(np.int64)

    def pb(self) -> np.ndarray:
        return (self.pred == self.pos).astype(np.int64)

    def pos_scores(self) -> np.ndarray:
        if self.scores is None:
            raise MetricError("needs class scores, and the model gives labels only")
        return self.scores[:, self.classes.index(self.pos)]


def normalize(values: Any) -> np.ndarray:
    """Labels in one comparable form: integers when integral numbers, else strings."""
    arr = np.asarray(values)
    if arr.dtype.kind == "b":
        return arr.astype(np.int64)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        if np.isfinite(arr).all() and np.equal(np.mod(arr, 1), 0).all():
            return arr.astype(np.int64)
        return arr.astype(str)
    out = pd.Series(arr, dtype=object)
    numeric = pd.to_numeric(out, errors="coerce")
    if numeric.notna().all() and np.equal(np.mod(numeric.to_numpy(dtype=float), 1), 0).all():
        return numeric.to_numpy(dtype=float).astype(np.int64)
    return out.astype(str).to_numpy()


def _same_kind(y: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if (y.dtype.kind == "i") != (pred.dtype.kind == "i"):
        return y.astype(str), pred.astype(str)
    return y, pred


def predicted(raw: Prediction, entry: ModelEntry) -> tuple[np.ndarray, np.ndarray | None, list[Any] | None, int]:
    """A classifier's labels, its class scores with the class of each column, and the rows with NaN/Inf scores."""
    scores = None if raw.scores is None else np.asarray(raw.scores, dtype=np.float64)
    if scores is not None and (scores.ndim == 1 or scores.shape[1] == 1):
        scores = scores.reshape(-1)
        scores = np.column_stack([1.0 - scores, scores])
    nonfinite = 0 if scores is None else int((~np.isfinite(scores)).any(axis=1).sum())
    classes: list[Any] | None = None
    if scores is not None:
        if raw.score_classes is not None:
            classes = list(normalize(np.asarray(raw.score_classes)))
        elif entry.classes is not None:
            classes = list(normalize(np.asarray(entry.classes)))
        else:
            classes = list(range(scores.shape[1]))
        if len(classes) != scores.shape[1]:
            raise ModelError(f"the model gives {scores.shape[1]} class scores but {len(classes)} classes are known "
                             "(set the policy's `classes`)")
    if raw.labels is not None:
        pred = normalize(raw.labels)
        if raw.score_classes is None and entry.classes is not None and pred.dtype.kind == "i" and scores is None:
            table = normalize(np.asarray(entry.classes))
            if pred.size and 0 <= pred.min() and pred.max() < len(table):
                pred = table[pred]
    elif scores is not None and classes is not None:
        idx = np.argmax(np.nan_to_num(scores, nan=-np.inf), axis=1)
        pred = normalize(np.asarray(classes, dtype=object)[idx])
    else:
        raise ModelError("the model returned neither labels nor class scores")
    return pred, scores, classes, nonfinite


def labels_like(raw: Prediction, entry: ModelEntry, d: Decided) -> np.ndarray:
    """Predicted labels in the same form as an earlier decision's (for perturbed inputs)."""
    return _same_kind(d.y, predicted(raw, entry)[0])[1]


def decide(raw: Prediction, y_raw: Any, entry: ModelEntry, task: catalog.Task) -> Decided:
    if task == "regression":
        values = raw.values if raw.values is not None else raw.labels
        if values is None:
            raise ModelError("the model returned no values")
        values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
        if values.shape[1] != 1:
            raise ModelError(f"a regression model must return one value per row, got {values.shape[1]}")
        values = values[:, 0]
        y = np.asarray(pd.to_numeric(pd.Series(np.asarray(y_raw)), errors="coerce"), dtype=np.float64)
        if np.isnan(y).any():
            raise ModelError("the target column has values that are not numbers")
        bad = ~np.isfinite(values)
        return Decided(task=task, y=y, pred=np.where(bad, 0.0, values), classes=[], nonfinite_rows=int(bad.sum()))
    y = normalize(y_raw)
    pred, scores, classes, nonfinite = predicted(raw, entry)
    y, pred = _same_kind(y, pred)
    if classes is not None:
        classes = list(_same_kind(y, np.asarray(classes))[1])
        if not set(np.unique(y)) <= set(classes):
            raise ModelError(f"the data has labels {sorted(set(map(str, np.unique(y))) - set(map(str, classes)))[:5]} "
                             f"that are not among the model's classes {list(map(str, classes))[:10]} (set the policy's "
                             "`classes` to the labels in the order of the model's scores)")
    else:
        classes = sorted(set(np.unique(y)) | set(np.unique(pred)), key=str)
    pos = _positive(entry, classes, y)
    if scores is not None:
        scores = np.nan_to_num(scores, nan=0.0, posinf=1.0, neginf=0.0)
    return Decided(task=task, y=y, pred=pred, classes=classes, scores=scores, pos=pos, nonfinite_rows=nonfinite)


def _positive(entry: ModelEntry, classes: list[Any], y: np.ndarray) -> Any:
    if entry.pos_label is not None:
        want = normalize(np.asarray([entry.pos_label]))[0]
        want = want if y.dtype.kind == np.asarray([want]).dtype.kind else str(want)
        return want
    for candidate in (1, "1", "True", "true", "yes"):
        if candidate in classes:
            return candidate
    return classes[-1] if len(classes) == 2 and all(isinstance(c, (int, np.integer)) for c in classes) else None


def metric(name: str, d: Decided, sensitive: pd.DataFrame) -> float:
    info = catalog.info(name)
    if info is None:
        raise MetricError("unknown metric")
    if info.task != d.task:
        raise MetricError(f"is a {info.task} metric; this model's task is {d.task}")
    if info.binary_only:
        if len(d.classes) > 2:
            raise MetricError(f"needs a binary task; there are {len(d.classes)} classes (use a _macro/_weighted variant)")
        if d.pos is None:
            raise MetricError(f"needs the positive class: set the policy's pos_label (classes: {d.classes})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if info.fairness:
            return _fairness(info.name, d, sensitive)
        return _performance(info.name, d)


def _performance(name: str, d: Decided) -> float:
    from sklearn import metrics as sk

    if d.task == "regression":
        funcs = {"mean_absolute_error": sk.mean_absolute_error, "mean_squared_error": sk.mean_squared_error,
                 "root_mean_squared_error": sk.root_mean_squared_error, "median_absolute_error": sk.median_absolute_error,
                 "max_error": sk.max_error, "mean_absolute_percentage_error": sk.mean_absolute_percentage_error,
                 "r2": sk.r2_score, "explained_variance": sk.explained_variance_score}
        return float(funcs[name](d.y, d.pred))
    plain = {"accuracy": sk.accuracy_score, "balanced_accuracy": sk.balanced_accuracy_score,
             "matthews_corrcoef": sk.matthews_corrcoef, "cohen_kappa": sk.cohen_kappa_score}
    if name in plain:
        return float(plain[name](d.y, d.pred))
    averaged = {"f1": sk.f1_score, "precision": sk.precision_score, "recall": sk.recall_score, "jaccard": sk.jaccard_score}
    base, _, avg = name.partition("_")
    if base in averaged:
        if not avg:
            return float(averaged[base](d.yb(), d.pb(), zero_division=0))
        return float(averaged[base](d.y, d.pred, average=avg, labels=d.classes, zero_division=0))
    if name == "roc_auc" and d.binary:
        return float(sk.roc_auc_score(d.yb(), d.pos_scores()))
    if name.startswith("roc_auc"):
        if d.scores is None:
            raise MetricError("needs class scores, and the model gives labels only")
        mode = "ovo" if name.endswith("ovo") else "ovr"
        return float(sk.roc_auc_score(d.y, _normalized(d.scores), multi_class=mode, labels=d.classes))
    if name == "average_precision":
        return float(sk.average_precision_score(d.yb(), d.pos_scores()))
    if name == "brier_score_loss":
        return float(sk.brier_score_loss(d.yb(), d.pos_scores()))
    if name == "log_loss":
        if d.scores is None:
            raise MetricError("needs class scores, and the model gives labels only")
        return float(sk.log_loss(d.y, _normalized(d.scores), labels=d.classes))
    raise MetricError("not implemented")


def _normalized(scores: np.ndarray) -> np.ndarray:
    total = scores.sum(axis=1, keepdims=True)
    return np.divide(scores, total, out=np.full_like(scores, 1.0 / scores.shape[1]), where=total > 0)


def _fairness(name: str, d: Decided, sensitive: pd.DataFrame) -> float:
    import fairlearn.metrics as fm

    func = getattr(fm, name)
    groups = _group_keys(sensitive)
    if d.task == "regression":
        return float(func(d.y, d.pred, sensitive_features=groups))
    if name in ("roc_auc_score_group_min", "log_loss_group_max"):
        return float(func(d.yb(), d.pos_scores(), sensitive_features=groups))
    if catalog.METRICS[name].binary_only:
        return float(func(d.yb(), d.pb(), sensitive_features=groups))
    return float(func(d.y, d.pred, sensitive_features=groups))


def _group_keys(sensitive: pd.DataFrame) -> pd.Series:
    """One group label per row; several sensitive columns make intersectional groups."""
    text = sensitive.astype(str)
    if text.shape[1] == 1:
        return text.iloc[:, 0].rename(str(sensitive.columns[0]))
    return text.agg(", ".join, axis=1).rename(" × ".join(map(str, sensitive.columns)))


def group_table(d: Decided, sensitive: pd.DataFrame) -> tuple[list[GroupRow], int]:
    """fairlearn's MetricFrame by group: the per-group numbers behind every fairness metric."""
    import fairlearn.metrics as fm
    from sklearn import metrics as sk

    groups = _group_keys(sensitive)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if d.task == "regression":
            frame = fm.MetricFrame(metrics={"count": fm.count, "mean_prediction": fm.mean_prediction,
                                            "mean_absolute_error": sk.mean_absolute_error},
                                   y_true=d.y, y_pred=d.pred, sensitive_features=groups)
        elif d.binary and d.pos is not None:
            frame = fm.MetricFrame(metrics={"count": fm.count, "selection_rate": fm.selection_rate,
                                            "accuracy": sk.accuracy_score, "true_positive_rate": fm.true_positive_rate,
                                            "false_positive_rate": fm.false_positive_rate},
                                   y_true=d.yb(), y_pred=d.pb(), sensitive_features=groups)
        else:
            frame = fm.MetricFrame(metrics={"count": fm.count, "accuracy": sk.accuracy_score},
                                   y_true=d.y, y_pred=d.pred, sensitive_features=groups)
    table = frame.by_group.sort_values("count", ascending=False)
    rows = [GroupRow(group=str(idx), values={str(k): _num(v) for k, v in row.items()}) for idx, row in table.iterrows()]
    return rows[:MAX_GROUPS], max(0, len(rows) - MAX_GROUPS)


def _num(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None
