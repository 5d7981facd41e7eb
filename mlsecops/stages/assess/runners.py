"""Run a model on a table of features, per format. Sandbox only: this is where model files are loaded.

Each runner takes the feature columns as a DataFrame and returns the raw
outputs as a `Prediction`: labels, class scores (with the class each column
stands for) or regression values. Nothing here loads a pickle: ONNX goes to
onnxruntime, skops to `skops.io.load` with an explicit list of trusted types,
XGBoost and LightGBM files to their own Booster readers, which parse data and
never import code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BATCH = 8192

TRUSTED_SKOPS_TYPES = frozenset({
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss.loss.AbsoluteError",
    "sklearn._loss.loss.HalfPoissonLoss",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.link.LogLink",
})
"""Types skops does not trust by default that scikit-learn's own estimators are built from.
Each is a data container of scikit-learn, reviewed to construct nothing else."""

_ONNX_TYPES = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int16)": np.int16, "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_, "tensor(string)": np.str_,
}


class ModelError(Exception):
    """The model cannot be run on this data (its inputs do not fit, a type is not trusted). `str()` says why."""


@dataclass
class Prediction:
    labels: np.ndarray | None = None
    scores: np.ndarray | None = None
    score_classes: list[Any] | None = None
    values: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Runner:
    def predict(self, X: pd.DataFrame) -> Prediction:  # noqa: N803 - the usual name for a feature table
        raise NotImplementedError


def _batches(X: pd.DataFrame):  # type: ignore[no-untyped-def]  # noqa: N803
    for start in range(0, max(len(X), 1), BATCH):
        yield X.iloc[start:start + BATCH]


def _concat(parts: list[Prediction]) -> Prediction:
    def cat(name: str) -> np.ndarray | None:
        arrays = [getattr(p, name) for p in parts]
        return None if any(a is None for a in arrays) else np.concatenate(arrays, axis=0)

    return Prediction(labels=cat("labels"), scores=cat("scores"), values=cat("values"),
                      score_classes=parts[0].score_classes if parts else None)


class OnnxRunner(Runner):
    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        self.inputs = self.sess.get_inputs()

    def _feeds(self, X: pd.DataFrame) -> dict[str, np.ndarray]:  # noqa: N803
        if len(self.inputs) == 1:
            inp = self.inputs[0]
            dtype = _ONNX_TYPES.get(inp.type)
            if dtype is None:
                raise ModelError(f"the model's input {inp.name!r} has type {inp.type}, which mlsecops cannot feed")
            width = inp.shape[-1] if inp.shape and len(inp.shape) == 2 else None
            if isinstance(width, int) and width != X.shape[1]:
                raise ModelError(f"the model's input {inp.name!r} takes {width} features; the policy gives "
                                 f"{X.shape[1]} ({', '.join(map(str, X.columns))})")
            try:
                return {inp.name: X.to_numpy().astype(dtype)}
            except (TypeError, ValueError) as exc:
                raise ModelError(f"the feature columns cannot be converted to the model's {inp.type}: {exc}") from None
        feeds = {}
        for inp in self.inputs:
            if inp.name not in X.columns:
                raise ModelError(f"the model's input {inp.name!r} is not a feature column; with several inputs, "
                                 "each must be named after a column")
            dtype = _ONNX_TYPES.get(inp.type)
            if dtype is None:
                raise ModelError(f"the model's input {inp.name!r} has type {inp.type}, which mlsecops cannot feed")
            col = X[inp.name].to_numpy()
            col = col.astype(str).astype(object) if dtype is np.str_ else col.astype(dtype)
            feeds[inp.name] = col.reshape(-1, 1) if inp.shape is None or len(inp.shape) != 1 else col
        return feeds

    def predict(self, X: pd.DataFrame) -> Prediction:  # noqa: N803
        parts = []
        for chunk in _batches(X):
            outs = self.sess.run(None, self._feeds(chunk))
            parts.append(_onnx_prediction(outs))
        return _concat(parts)


def _onnx_prediction(outs: list[Any]) -> Prediction:
    """First output: labels, or class scores. A later float matrix or list of maps: the class scores."""
    first = outs[0]
    if isinstance(first, list):  # a ZipMap: one {class: score} per row
        return _zipmap(first, None)
    first = np.asarray(first)
    if first.dtype.kind == "f":
        return Prediction(scores=first, values=first)
    pred = Prediction(labels=first.reshape(len(first), -1)[:, 0] if first.ndim > 1 else first)
    for out in outs[1:]:
        if isinstance(out, list) and out and isinstance(out[0], dict):
            return _zipmap(out, pred.labels)
        arr = np.asarray(out)
        if arr.dtype.kind == "f" and arr.ndim == 2 and len(arr) == len(first):
            pred.scores = arr
            break
    return pred


def _zipmap(rows: list[dict[Any, float]], labels: np.ndarray | None) -> Prediction:
    keys = sorted(rows[0]) if rows else []
    scores = np.array([[r.get(k, np.nan) for k in keys] for r in rows], dtype=np.float64).reshape(len(rows), len(keys))
    return Prediction(labels=labels, scores=scores, score_classes=list(keys))


class SkopsRunner(Runner):
    def __init__(self, path: Path, extra_trusted: list[str]) -> None:
        import skops.io as sio

        untrusted = sio.get_untrusted_types(file=str(path))
        allowed = TRUSTED_SKOPS_TYPES | set(extra_trusted)
        refused = sorted(t for t in untrusted if t not in allowed)
        if refused:
            raise ModelError(f"the skops file holds types off the trusted list, not loaded: {', '.join(refused[:8])}"
                             f"{' ...' if len(refused) > 8 else ''} (review them, then list them in the policy's "
                             "assess.trusted_types)")
        self.model = sio.load(str(path), trusted=list(untrusted))
        if not hasattr(self.model, "predict"):
            raise ModelError(f"the skops file holds a {type(self.model).__name__}, which has no predict()")

    def predict(self, X: pd.DataFrame) -> Prediction:  # noqa: N803
        parts = []
        for chunk in _batches(X):
            data: Any = chunk if getattr(self.model, "feature_names_in_", None) is not None else chunk.to_numpy()
            out = np.asarray(self.model.predict(data))
            pred = Prediction(labels=out, values=out)
            if hasattr(self.model, "predict_proba") and hasattr(self.model, "classes_"):
                pred.scores = np.asarray(self.model.predict_proba(data), dtype=np.float64)
                pred.score_classes = [c.item() if hasattr(c, "item") else c for c in self.model.classes_]
            parts.append(pred)
        return _concat(parts)


def _ordered(X: pd.DataFrame, names: list[str] | None) -> pd.DataFrame:  # noqa: N803
    """The model's own feature order when it stored names that match the columns."""
    if names and set(names) == set(X.columns):
        return X[names]
    if names and len(names) == X.shape[1] and not all(n.startswith(("f", "Column_")) for n in names):
        raise ModelError(f"the model was trained on features {names[:8]}; the policy gives {list(X.columns)[:8]}")
    return X


def _probabilities(raw: np.ndarray, objective: str) -> Prediction:
    if raw.ndim == 2 and raw.shape[1] > 1:
        return Prediction(scores=raw, values=raw)
    p = raw.reshape(-1)
    if "softmax" in objective:  # class indices
        return Prediction(labels=p.astype(np.int64), values=p)
    if objective.startswith(("binary", "reg:logistic", "cross_entropy", "xentropy")):
        if "logitraw" in objective:
            p = 1.0 / (1.0 + np.exp(-p))
        return Prediction(scores=np.column_stack([1.0 - p, p]), values=p)
    return Prediction(values=p, scores=None)


class XGBoostRunner(Runner):
    def __init__(self, path: Path) -> None:
        import xgboost as xgb

        self.xgb = xgb
        self.booster = xgb.Booster(model_file=str(path))
        self.booster.set_param({"nthread": 1})
        config = json.loads(self.booster.save_config())
        self.objective = str(config["learner"]["objective"]["name"])

    def predict(self, X: pd.DataFrame) -> Prediction:  # noqa: N803
        X = _ordered(X, self.booster.feature_names)
        names = list(map(str, X.columns)) if self.booster.feature_names else None
        raw = self.booster.predict(self.xgb.DMatrix(X.to_numpy(dtype=np.float32), feature_names=names))
        return _probabilities(np.asarray(raw), self.objective)


class LightGBMRunner(Runner):
    def __init__(self, path: Path) -> None:
        import lightgbm as lgb

        self.booster = lgb.Booster(model_file=str(path))
        self.objective = str(self.booster.dump_model(num_iteration=0).get("objective", "")).split(" ")[0]

    def predict(self, X: pd.DataFrame) -> Prediction:  # noqa: N803
        X = _ordered(X, self.booster.feature_name())
        raw = self.booster.predict(X.to_numpy(dtype=np.float64), num_threads=1)
        return _probabilities(np.asarray(raw), self.objective)


def load(path: Path, fmt: str, extra_trusted: list[str]) -> Runner:
    if fmt == "onnx":
        return OnnxRunner(path)
    if fmt == "skops":
        return SkopsRunner(path, extra_trusted)
    if fmt.startswith("xgboost"):
        return XGBoostRunner(path)
    if fmt == "lightgbm-text":
        return LightGBMRunner(path)
    raise ModelError(f"no runner for {fmt}")
