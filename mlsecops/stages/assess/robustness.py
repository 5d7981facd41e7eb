"""Robustness checks on the evaluation data: gaussian noise, a black-box ART attack, edge values. Sandbox only.

Only numeric feature columns are perturbed; categorical columns stay as they
are. Noise is `sigma` standard deviations of each column, from a seeded
generator, so a commit is measured the same way on every run. The attack works
in standardised feature space (each column divided by its standard deviation),
so `eps` is a root-mean-square change per feature in standard deviations, and
every model query is counted: the whole attack stops at `max_queries` rows.
Edge values come from the fuzz stage's generators (`fuzz.inference.values`); a
runtime crash on them is caught by the gate from the worker's in-flight mark.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from mlsecops.stages.assess import catalog, measure
from mlsecops.stages.assess.job import Check
from mlsecops.stages.assess.policy import BlackBox, EdgeValues, GaussianNoise, ModelEntry
from mlsecops.stages.assess.runners import Runner
from mlsecops.stages.fuzz import inference

CANNOT_OVERFLOW = ("zeros", "negzero", "subnormal")
EDGE_KINDS = ("nan", "inf", "-inf", "max", "min", *CANNOT_OVERFLOW)
_NOT_IMPORTED = ("torch", "tensorflow", "keras", "jax", "GPy", "catboost", "lightgbm", "xgboost")


def numeric_columns(X: pd.DataFrame) -> list[str]:  # noqa: N803
    return [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])]


def _with_noise(X: pd.DataFrame, cols: list[str], sigma: float, rng: np.random.Generator) -> pd.DataFrame:  # noqa: N803
    noisy = X.copy()
    for c in cols:
        col = X[c].to_numpy(dtype=np.float64)
        std = float(np.nanstd(col))
        if std == 0 or not np.isfinite(std):
            continue
        moved = col + rng.normal(0.0, sigma * std, size=len(col))
        noisy[c] = np.round(moved).astype(X[c].dtype) if pd.api.types.is_integer_dtype(X[c]) else moved.astype(X[c].dtype)
    return noisy


def gaussian_noise(cfg: GaussianNoise, runner: Runner, X: pd.DataFrame, y: Any, entry: ModelEntry,  # noqa: N803
                   task: catalog.Task, clean: float | None, sensitive: pd.DataFrame) -> Check:
    check = Check(name="gaussian_noise", clean=clean, details={"sigma": cfg.sigma, "repeats": float(cfg.repeats)})
    cols = numeric_columns(X)
    if not cols:
        check.error = "no numeric feature column to add noise to"
        return check
    if clean is None:
        check.error = f"the clean {cfg.metric} could not be computed"
        return check
    values = []
    for r in range(cfg.repeats):
        noisy = _with_noise(X, cols, cfg.sigma, np.random.default_rng(cfg.seed + r))
        d = measure.decide(runner.predict(noisy), y, entry, task)
        values.append(measure.metric(cfg.metric, d, sensitive))
    check.perturbed = float(np.mean(values))
    info = catalog.info(cfg.metric)
    worse = (clean - check.perturbed) if info is not None and info.direction == "higher" else (check.perturbed - clean)
    check.value = float(worse)
    check.notes.append(f"{cfg.metric} {clean:.4f} clean, {check.perturbed:.4f} with noise (mean of {cfg.repeats})")
    return check


class _OutOfQueries(Exception):
    pass


@contextmanager
def _art_without_frameworks() -> Iterator[None]:
    """ART imports every deep-learning framework it finds; none is used here, so none is imported."""
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> Any:
        return None if name.split(".")[0] in _NOT_IMPORTED else real(name, package)

    importlib.util.find_spec = find_spec  # type: ignore[assignment]
    try:
        yield
    finally:
        importlib.util.find_spec = real  # type: ignore[assignment]


def black_box(cfg: BlackBox, runner: Runner, X: pd.DataFrame, entry: ModelEntry, d: measure.Decided) -> Check:  # noqa: N803
    """ART's HopSkipJump or Boundary attack on correctly classified rows, under a hard query budget."""
    with _art_without_frameworks(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import art.attacks.evasion.boundary  # noqa: F401 - imported here, with the frameworks hidden
        import art.attacks.evasion.hop_skip_jump  # noqa: F401
        from art.estimators.classification.blackbox import BlackBoxClassifier
    check = Check(name="black_box", details={"eps": cfg.eps, "max_queries": float(cfg.max_queries)})
    cols = numeric_columns(X)
    if not cols:
        check.error = "no numeric feature column to attack"
        return check
    classes = list(d.classes)
    if len(classes) < 2:
        check.error = "the attack needs at least two classes"
        return check
    num = X[cols].to_numpy(dtype=np.float64)
    mean, std = num.mean(axis=0), num.std(axis=0)
    std[std == 0] = 1.0
    z = (num - mean) / std
    lo, hi = z.min(axis=0), z.max(axis=0)
    correct = np.flatnonzero(d.pred == d.y)
    rng = np.random.default_rng(cfg.seed)
    chosen = rng.choice(correct, size=min(cfg.samples, len(correct)), replace=False) if len(correct) else correct
    if not len(chosen):
        check.error = "no correctly classified row to attack"
        return check
    per_sample = cfg.max_queries // len(chosen)
    np.random.seed(cfg.seed)  # ART draws from numpy's global generator: the same commit, the same attack
    index = {c: i for i, c in enumerate(classes)}
    used = 0
    distances: list[float] = []
    for row in chosen:
        spent = [0]
        base = X.iloc[[int(row)]]

        def predict(zb: np.ndarray, base: pd.DataFrame = base, spent: list[int] = spent) -> np.ndarray:
            if spent[0] + len(zb) > per_sample:
                raise _OutOfQueries
            spent[0] += len(zb)
            batch = pd.concat([base] * len(zb), ignore_index=True)
            moved = zb * std + mean
            for j, c in enumerate(cols):
                batch[c] = np.round(moved[:, j]).astype(X[c].dtype) if pd.api.types.is_integer_dtype(X[c]) \
                    else moved[:, j].astype(X[c].dtype)
            labels = measure.labels_like(runner.predict(batch), entry, d)
            onehot = np.zeros((len(zb), len(classes)), dtype=np.float32)
            for i, lab in enumerate(labels):
                onehot[i, index.get(lab, 0)] = 1.0
            return onehot

        est = BlackBoxClassifier(predict, input_shape=(len(cols),), nb_classes=len(classes), clip_values=(lo, hi))
        distances.append(_attack_one(cfg, est, z[int(row)], lo, hi, rng, per_sample, spent))
        used += spent[0]
    found = np.array(distances)
    success = float(np.mean(found <= cfg.eps))
    check.value = success
    check.details.update({"samples": float(len(chosen)), "queries": float(used),
                          "median_distance": float(np.median(found)) if np.isfinite(found).any() else None})
    check.notes.append(f"{cfg.attack}: {int(np.sum(found <= cfg.eps))} of {len(chosen)} correctly classified rows "
                       f"flipped within {cfg.eps} standard deviations (RMS per feature), {used} model queries")
    return check


def _starting_point(est: Any, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator,
                    tries: int = 50) -> np.ndarray | None:
    """A seeded random point of the data's range that the model labels differently (ART's own draw is unseeded)."""
    original = est.predict(x).argmax(axis=1)[0]
    for _ in range(tries):
        cand = rng.uniform(lo, hi, size=x.shape).astype(np.float32)
        if est.predict(cand).argmax(axis=1)[0] != original:
            return cand
    return None


def _attack_one(cfg: BlackBox, est: Any, z0: np.ndarray, lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator,
                budget: int, spent: list[int]) -> float:
    """The smallest RMS distance to a flipped decision found within the budget (inf when none)."""
    from art.attacks.evasion.boundary import BoundaryAttack
    from art.attacks.evasion.hop_skip_jump import HopSkipJump

    x = z0[None, :].astype(np.float32)
    if cfg.attack == "hop_skip_jump":
        attack = HopSkipJump(est, targeted=False, norm=2, max_iter=1, max_eval=100, init_eval=20, init_size=50,
                             verbose=False)
        round_cost = 200
    else:
        attack = BoundaryAttack(est, targeted=False, max_iter=20, num_trial=10, sample_size=10, init_size=50,
                                verbose=False)
        round_cost = 20 * 10 * 10
    best = np.inf
    try:
        original = est.predict(x).argmax(axis=1)[0]
        adv = _starting_point(est, x, lo, hi, rng)
        if adv is None:
            return best  # no point of the data's range flips this row's decision
        best = float(np.linalg.norm(adv[0] - x[0]) / np.sqrt(x.shape[1]))
        while budget - spent[0] >= min(round_cost, budget // 4 + 1):
            out = attack.generate(x=x, y=None, x_adv_init=adv)
            if est.predict(out).argmax(axis=1)[0] != original:
                dist = float(np.linalg.norm(out[0] - x[0]) / np.sqrt(x.shape[1]))
                if dist < best:
                    best, adv = dist, out
    except _OutOfQueries:
        pass
    return best


def edge_values(cfg: EdgeValues, runner: Runner, X: pd.DataFrame, mark: Callable[[str], None]) -> Check:  # noqa: N803
    """Edge values in every numeric feature of a few rows; a crash ends the worker and `mark` names the input.

    As in the fuzz stage, NaN or Inf out of NaN, ±Inf or dtype extremes is legitimate (they overflow);
    out of zeros, -0.0 or subnormals (which cannot) it is a problem. A refusal (an exception) is fine.
    """
    check = Check(name="edge_values", details={"rows": float(min(cfg.rows, len(X)))})
    cols = numeric_columns(X)
    if not cols:
        check.error = "no numeric feature column to put edge values in"
        return check
    rows = X.iloc[: cfg.rows].reset_index(drop=True)
    problems = 0
    rng = np.random.default_rng(0)
    for kind in EDGE_KINDS:
        edged = rows.copy()
        for c in cols:
            dtype = np.float64 if not pd.api.types.is_integer_dtype(X[c]) else X[c].dtype.type
            edged[c] = inference.values(dtype, [len(rows)], kind, rng)
        mark(f"edge_values:{kind}")
        try:
            with np.errstate(all="ignore"):
                out = runner.predict(edged)
        except Exception as exc:  # noqa: BLE001 - a clean refusal of an edge value is not a problem
            check.details[kind] = 0.0
            check.notes.append(f"{kind}: refused ({type(exc).__name__})")
            continue
        arr = out.scores if out.scores is not None else out.values
        bad = 0 if arr is None or np.asarray(arr).dtype.kind != "f" else int((~np.isfinite(np.asarray(arr))).sum())
        flagged = kind in CANNOT_OVERFLOW and bad > 0
        problems += int(flagged)
        check.details[kind] = float(bad)
        if flagged:
            check.notes.append(f"{kind}: finite inputs gave {bad} NaN/Inf output values")
    check.value = float(problems)
    return check
