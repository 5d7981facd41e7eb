"""Benign model files made with the real libraries, as data scientists commit them.

The false-alarm tests (`tests/models/test_benign_breadth.py`) and the detection
benchmark both use this module: `build(dest)` writes every sample it can make
with the libraries installed into `dest` and says which groups it had to skip.
Nothing here is a hand-written byte string where a library can write the file:
the point is to meet the globals, containers and compressions real code emits.

Models are tiny (a few dozen rows, a few trees) so the whole corpus builds in
well under a minute; a group whose library is missing is skipped, not faked.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import gzip
import io
import json
import os
import pickle
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.models import benign_everyday as _everyday

SEED = 0


@dataclass
class Corpus:
    """What `build` wrote: sample name (a path relative to the root) -> group, and the groups it skipped."""

    root: Path
    samples: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def paths(self, group: str | None = None) -> list[Path]:
        return [self.root / n for n, g in sorted(self.samples.items()) if group is None or g == group]


class _Writer:
    def __init__(self, corpus: Corpus, group: str) -> None:
        self.corpus, self.group = corpus, group

    def path(self, name: str) -> Path:
        p = self.corpus.root / self.group / name
        p.parent.mkdir(parents=True, exist_ok=True)
        self.corpus.samples[f"{self.group}/{name}"] = self.group
        return p

    def bytes(self, name: str, data: bytes) -> None:
        self.path(name).write_bytes(data)

    def pickle(self, name: str, obj: object, protocols: tuple[int, ...] = (pickle.DEFAULT_PROTOCOL,)) -> None:
        for proto in protocols:
            suffix = "" if len(protocols) == 1 else f".p{proto}"
            self.bytes(f"{name}{suffix}.pkl", pickle.dumps(obj, protocol=proto))

    def joblib_all(self, name: str, obj: object) -> None:
        """joblib.dump with no compression and with every compressor joblib has (lz4 when installed)."""
        import joblib
        from joblib.compressor import _COMPRESSORS

        joblib.dump(obj, self.path(f"{name}.joblib"))
        for method in sorted(_COMPRESSORS):
            if method == "lz4":
                try:
                    import lz4  # noqa: F401
                except ImportError:
                    continue
            joblib.dump(obj, self.path(f"{name}.{method}.joblib"), compress=(method, 3))


def _toy(n: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    X = rng.random((n, 4))
    y = (X[:, 0] + X[:, 1] > 1).astype(int)
    return X, y, X @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.normal(0, 0.01, n)


# --------------------------------------------------------------------------- scikit-learn


def _sklearn_instance(name: str, cls: type) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.base import RegressorMixin

    reg = issubclass(cls, RegressorMixin)
    base = Ridge() if reg else LogisticRegression()
    special: dict[str, Callable[[], Any]] = {
        "ColumnTransformer": lambda: ColumnTransformer([("s", StandardScaler(), [0, 1])], remainder="passthrough"),
        "FeatureUnion": lambda: FeatureUnion([("a", StandardScaler())]),
        "Pipeline": lambda: Pipeline([("s", StandardScaler()), ("m", LogisticRegression())]),
        "GridSearchCV": lambda: cls(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2),
        "RandomizedSearchCV": lambda: cls(LogisticRegression(), {"C": [0.1, 1.0]}, n_iter=2, cv=2, random_state=SEED),
        "SparseCoder": lambda: cls(dictionary=np.eye(4)),
        "FrozenEstimator": lambda: cls(LogisticRegression().fit(*_toy()[:2])),
        "SelfTrainingClassifier": lambda: cls(LogisticRegression(), max_iter=2),
        "LinearDiscriminantAnalysis": lambda: cls(n_components=1),
        "PLSSVD": lambda: cls(n_components=1),
        "SpectralBiclustering": lambda: cls(n_clusters=2, n_best=2, random_state=SEED),
        "OrthogonalMatchingPursuitCV": lambda: cls(cv=2, max_iter=3),
        "StackingClassifier": lambda: cls([("a", LogisticRegression()), ("b", LogisticRegression(C=0.5))], cv=2),
        "StackingRegressor": lambda: cls([("a", Ridge()), ("b", Ridge(alpha=2))], cv=2),
        "VotingClassifier": lambda: cls([("a", LogisticRegression()), ("b", LogisticRegression(C=0.5))]),
        "VotingRegressor": lambda: cls([("a", Ridge()), ("b", Ridge(alpha=2))]),
    }
    if name in special:
        return special[name]()
    import inspect

    params = inspect.signature(cls.__init__).parameters
    kwargs: dict[str, Any] = {}
    if "estimator" in params and params["estimator"].default is inspect.Parameter.empty:
        kwargs["estimator"] = base
    for key, value in (("n_estimators", 3), ("max_iter", 20), ("random_state", SEED), ("cv", 2), ("n_components", 2)):
        if key in params:
            kwargs[key] = value
    if name in ("TSNE",):
        kwargs.update(perplexity=5, max_iter=250)
    if name in ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor"):
        kwargs["max_iter"] = 3
    with contextlib.suppress(TypeError):
        return cls(**kwargs)
    return cls()


def _fit(name: str, est: Any, X: np.ndarray, y: np.ndarray, yr: np.ndarray) -> Any:
    from sklearn.base import is_classifier, is_regressor

    Xn = np.abs(X)
    if name in ("MultiOutputClassifier", "ClassifierChain"):
        return est.fit(X, np.c_[y, 1 - y])
    if name in ("MultiOutputRegressor", "RegressorChain", "MultiTaskLasso", "MultiTaskElasticNet", "MultiTaskLassoCV",
                "MultiTaskElasticNetCV", "CCA", "PLSCanonical"):
        return est.fit(X, np.c_[yr, 2 * yr])
    if name in ("GammaRegressor", "PoissonRegressor", "TweedieRegressor"):
        return est.fit(X, np.abs(yr) + 0.1)
    if name == "KernelCenterer":
        return est.fit(X @ X.T)
    if name in ("IsotonicRegression",):
        return est.fit(X[:, 0], yr)
    if name in ("DictVectorizer",):
        return est.fit([{"a": 1.0, "b": 2.0}, {"a": 3.0}])
    if name in ("FeatureHasher",):
        return est.fit([{"a": 1.0}])
    if name in ("HashingVectorizer", "CountVectorizer", "TfidfVectorizer"):
        return est.fit(["the cat sat", "the dog ran", "a cat ran"])
    if name in ("TfidfTransformer",):
        return est.fit(np.array([[1, 0, 2], [0, 1, 1]]))
    if name in ("LabelBinarizer", "LabelEncoder"):
        return est.fit(y)
    if name == "MultiLabelBinarizer":
        return est.fit([["a"], ["a", "b"]])
    if name in ("OneHotEncoder", "OrdinalEncoder", "TargetEncoder"):
        cats = np.array([["a"], ["b"], ["c"], ["a"]] * 10)
        return est.fit(cats, y) if name == "TargetEncoder" else est.fit(cats)
    if name in ("AdditiveChi2Sampler", "SkewedChi2Sampler", "MultinomialNB", "ComplementNB", "CategoricalNB", "LatentDirichletAllocation",
                "NMF", "MiniBatchNMF", "chi2"):
        Xc = (Xn * 5).astype(int) if name == "CategoricalNB" else Xn
        return est.fit(Xc, y) if is_classifier(est) else est.fit(Xc)
    if is_classifier(est):
        return est.fit(X, y)
    if is_regressor(est) or name in ("TransformedTargetRegressor",):
        return est.fit(X, yr)
    try:
        return est.fit(X, y)
    except TypeError:
        return est.fit(X)


def sklearn_estimators(w: _Writer) -> None:
    """Every estimator scikit-learn lists that fits on a toy dataset, each pickled; all of them joblib-dumped together."""
    from sklearn.utils import all_estimators

    X, y, yr = _toy()
    fitted: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, cls in all_estimators():
            try:
                est = _fit(name, _sklearn_instance(name, cls), X, y, yr)
            except Exception:  # noqa: BLE001 - an estimator that cannot fit toy data is not in the corpus
                continue
            fitted[name] = est
            w.pickle(name, est)
    w.pickle("all_estimators", fitted, protocols=(0, 1, 2, 3, 4, 5))
    w.joblib_all("all_estimators", fitted)


def sklearn_workflows(w: _Writer) -> None:
    """Searches with scipy distributions, calibrators, pipelines, function transformers, histogram boosting."""
    from scipy.stats import loguniform, randint, uniform
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestClassifier
    from sklearn.feature_selection import SelectKBest, f_classif, mutual_info_classif
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import f1_score, make_scorer
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    X, y, yr = _toy(60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        objs: dict[str, Any] = {
            "random_search_scipy": RandomizedSearchCV(
                RandomForestClassifier(n_estimators=2, random_state=SEED),
                {"max_depth": randint(1, 4), "min_samples_split": uniform(0.1, 0.5), "max_features": [1, 2]},
                n_iter=3, cv=2, random_state=SEED).fit(X, y),
            "random_search_loguniform": RandomizedSearchCV(
                LogisticRegression(), {"C": loguniform(1e-3, 1e2)}, n_iter=3, cv=2, random_state=SEED,
                scoring=make_scorer(f1_score)).fit(X, y),
            "grid_search_masked": GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression()),
                                               [{"logisticregression__C": [0.1, 1]}, {"standardscaler": ["passthrough"]}],
                                               cv=2, scoring=["accuracy", "f1"], refit="accuracy").fit(X, y),
            "calibrated_sigmoid": CalibratedClassifierCV(LogisticRegression(), cv=2).fit(X, y),
            "calibrated_isotonic": CalibratedClassifierCV(RandomForestClassifier(n_estimators=2), method="isotonic", cv=2).fit(X, y),
            "log1p_pipeline": make_pipeline(FunctionTransformer(np.log1p), SelectKBest(f_classif, k=2),
                                            LogisticRegression()).fit(X, y),
            "mutual_info": SelectKBest(mutual_info_classif, k=2).fit(X, y),
            "target_transform": TransformedTargetRegressor(Ridge(), func=np.log1p, inverse_func=np.expm1).fit(X, np.abs(yr)),
            "hist_gb_classifier": HistGradientBoostingClassifier(max_iter=5, categorical_features=[3]).fit(
                np.c_[X[:, :3], (X[:, 3] * 3).astype(int)], y),
            "hist_gb_regressor": HistGradientBoostingRegressor(max_iter=5, early_stopping=True, validation_fraction=0.2).fit(X, yr),
            "column_transformer": make_pipeline(
                ColumnTransformer([("num", StandardScaler(), [0, 1]), ("cat", OneHotEncoder(handle_unknown="ignore"), [2])]),
                LogisticRegression()).fit(np.c_[X[:, :2], (X[:, 2] * 3).astype(int)], y),
        }
    for name, obj in objs.items():
        w.pickle(name, obj, protocols=(2, 5))
        w.joblib_all(name, obj)


# --------------------------------------------------------------------------- numpy, scipy, pandas


def numpy_objects(w: _Writer) -> None:
    """Masked, object, structured, record and datetime arrays; every RNG's state; npy/npz files."""
    rng = np.random.default_rng(SEED)
    masked = np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False])
    structured = np.array([(1, 2.0, b"ab"), (3, 4.0, b"cd")], dtype=[("a", "<i4"), ("b", "<f8"), ("c", "S2")])
    objs: dict[str, Any] = {
        "masked": masked,
        "masked_constant": np.ma.masked,
        "masked_structured": np.ma.masked_array(structured, mask=[(False, True, False), (True, False, False)]),
        "object_array": np.array([{"k": [1, 2]}, "text", None, 1.5], dtype=object),
        "structured": structured,
        "recarray": structured.view(np.recarray),
        "datetimes": np.array(["2026-01-01", "2026-06-30"], dtype="datetime64[ns]"),
        "timedeltas": np.array([1, 2], dtype="timedelta64[s]"),
        "strings": np.array(["a", "bc"]),
        "string_dtype": np.array(["a", "bc"], dtype=np.dtypes.StringDType()),
        "scalars": [np.float32(1.5), np.int64(3), np.bool_(True), np.complex128(1j), np.str_("x"), np.datetime64("2026-01-01")],
        "dtypes": [np.dtype("f4"), np.dtype([("x", "<i2")]), np.dtype("datetime64[ms]"), np.dtype("O"), np.dtype("U3")],
        "matrix": np.asmatrix(np.eye(2)),
        "generator": rng,
        "random_state": np.random.RandomState(SEED),
        "legacy_state": np.random.get_state(),
        "bit_generators": [np.random.PCG64(SEED), np.random.PCG64DXSM(SEED), np.random.MT19937(SEED), np.random.Philox(SEED),
                           np.random.SFC64(SEED), np.random.SeedSequence(SEED)],
        "float16_big": rng.random((64, 64)).astype(np.float16),
    }
    for name, obj in objs.items():
        w.pickle(name, obj, protocols=(2, 5))
    np.save(w.path("object.npy"), objs["object_array"], allow_pickle=True)
    np.save(w.path("structured.npy"), structured)
    np.save(w.path("masked_data.npy"), masked.filled(0))
    np.savez(w.path("mixed.npz"), a=np.arange(5), o=objs["object_array"], s=structured)
    np.savez_compressed(w.path("mixed_compressed.npz"), a=np.arange(5), o=objs["object_array"])


def scipy_objects(w: _Writer) -> None:
    """Sparse matrices and arrays of every format, frozen distributions, splines and trees."""
    from scipy import interpolate, sparse, spatial, stats

    dense = np.array([[0, 1.5, 0], [2, 0, 0], [0, 0, 3]])
    objs: dict[str, Any] = {}
    for fmt in ("csr", "csc", "coo", "bsr", "dia", "dok", "lil"):
        objs[f"sparse_{fmt}_matrix"] = getattr(sparse, f"{fmt}_matrix")(dense)
        objs[f"sparse_{fmt}_array"] = getattr(sparse, f"{fmt}_array")(dense)
    objs["frozen"] = [stats.norm(0, 1), stats.uniform(0, 2), stats.loguniform(1e-3, 1), stats.randint(0, 5), stats.beta(2, 3),
                      stats.gamma(2), stats.poisson(3), stats.expon(), stats.truncnorm(-1, 1)]
    objs["multivariate"] = stats.multivariate_normal([0, 0], [[1, 0], [0, 1]])
    objs["histogram"] = stats.rv_histogram(np.histogram([1, 2, 2, 3, 3, 3]))
    x = np.linspace(0, 1, 8)
    objs["splines"] = [interpolate.interp1d(x, x**2), interpolate.CubicSpline(x, x**2), interpolate.UnivariateSpline(x, x**2),
                       interpolate.PchipInterpolator(x, x**2), interpolate.RegularGridInterpolator((x,), x**2)]
    objs["trees"] = [spatial.KDTree(dense), spatial.cKDTree(dense)]
    for name, obj in objs.items():
        w.pickle(name, obj, protocols=(2, 5))
    sparse.save_npz(w.path("sparse.npz"), sparse.csr_matrix(dense))


def pandas_objects(w: _Writer) -> None:
    """Frames and series of every dtype pandas has, pickled and written with every to_pickle compression."""
    import pandas as pd

    n = 4
    cols: dict[str, Any] = {
        "int": np.arange(n),
        "float": np.linspace(0, 1, n),
        "bool": [True, False, True, False],
        "object": ["a", None, 3, {"k": 1}],
        "string": pd.array(["a", "b", None, "d"], dtype="string"),
        "category": pd.Categorical(["x", "y", "x", "z"]),
        "ordered": pd.Categorical(["lo", "hi", "lo", "hi"], categories=["lo", "hi"], ordered=True),
        "datetime": pd.date_range("2026-01-01", periods=n),
        "datetime_tz": pd.date_range("2026-01-01", periods=n, tz="Europe/Berlin"),
        "datetime_utc": pd.date_range("2026-01-01", periods=n, tz="UTC"),
        "timedelta": pd.to_timedelta(np.arange(n), unit="h"),
        "period": pd.period_range("2026-01", periods=n, freq="M"),
        "interval": pd.interval_range(0, n),
        "sparse": pd.arrays.SparseArray([0, 0, 1, 0]),
        "Int64": pd.array([1, None, 3, 4], dtype="Int64"),
        "UInt8": pd.array([1, 2, None, 4], dtype="UInt8"),
        "Float32": pd.array([1.0, None, 3.5, 4.0], dtype="Float32"),
        "boolean": pd.array([True, None, False, True], dtype="boolean"),
    }
    try:
        import pyarrow  # noqa: F401

        cols["arrow_int"] = pd.array([1, None, 3, 4], dtype="int64[pyarrow]")
        cols["arrow_str"] = pd.array(["a", None, "c", "d"], dtype="string[pyarrow]")
        cols["arrow_ts"] = pd.array(pd.date_range("2026-01-01", periods=n, tz="UTC"), dtype=pd.ArrowDtype(__import__("pyarrow").timestamp("us", "UTC")))
    except ImportError:
        pass
    df = pd.DataFrame(cols)
    objs: dict[str, Any] = {
        "frame": df,
        "multiindex": df.set_index(["int", "category"]),
        "range_index": pd.DataFrame({"a": [1, 2]}, index=pd.RangeIndex(2)),
        "datetime_index": pd.Series([1.0, 2.0], index=pd.DatetimeIndex(["2026-01-01", "2026-01-02"], tz="America/New_York")),
        "timestamps": [pd.Timestamp("2026-01-01", tz="Asia/Tokyo"), pd.Timedelta("1D"), pd.Period("2026-01", "M"),
                       pd.Interval(0, 1), pd.NaT, pd.NA, pd.offsets.MonthEnd(2), pd.offsets.BusinessDay()],
    }
    for col in cols:
        objs[f"series_{col}"] = df[col]
    for name, obj in objs.items():
        w.pickle(name, obj, protocols=(2, 5))
    for comp in ("gzip", "bz2", "xz", "zip", "tar", "zstd"):
        with contextlib.suppress(ImportError):
            df.to_pickle(w.path(f"frame.to_pickle.{comp}"), compression=comp)
    df.to_pickle(w.path("frame.to_pickle.pkl"))


# --------------------------------------------------------------------------- PyTorch


class Strategy(enum.Enum):
    """Stands in for transformers' IntervalStrategy in the training_args.bin-style sample."""

    STEPS = "steps"
    EPOCH = "epoch"


@dataclass
class TrainingArgumentsLike:
    """A dataclass shaped like transformers.TrainingArguments (user code: reported as unknown, never blocked)."""

    output_dir: str = "out"
    learning_rate: float = 5e-5
    eval_strategy: Strategy = Strategy.STEPS
    report_to: list[str] = dataclasses.field(default_factory=lambda: ["none"])


def torch_objects(w: _Writer) -> None:
    """Full-module saves (lazy too), sparse/quantized/nested tensors, pickled tensors, optimizers, schedulers, the AMP scaler, Lightning- and HF-style files."""
    import torch

    torch.manual_seed(SEED)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.LazyLinear(2))
    lazy = torch.nn.Sequential(torch.nn.LazyLinear(3), torch.nn.LazyBatchNorm1d())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10)
    scaler = torch.amp.GradScaler("cpu")
    dense = torch.tensor([[0.0, 1.5], [2.0, 0.0]])
    tensors: dict[str, Any] = {
        "sparse_coo": dense.to_sparse(),
        "sparse_csr": dense.to_sparse_csr(),
        "quantized": torch.quantize_per_tensor(dense, 0.1, 0, torch.quint8),
        "quantized_channel": torch.quantize_per_channel(dense, torch.tensor([0.1, 0.2]), torch.tensor([0, 0]), 0, torch.qint8),
        "nested": torch.nested.nested_tensor([torch.ones(2), torch.ones(3)]),
        "bfloat16": dense.to(torch.bfloat16),
        "complex": torch.complex(dense, dense),
        "parameter": torch.nn.Parameter(dense),
        "bool": dense > 0,
        "uint8": dense.to(torch.uint8),
        "float8": dense.to(torch.float8_e4m3fn),
        "channels_last": torch.ones(1, 2, 2, 2).to(memory_format=torch.channels_last),
        "generator_state": torch.Generator().manual_seed(SEED).get_state(),
    }
    lightning = {
        "epoch": 3, "global_step": 120, "pytorch-lightning_version": "2.5.0",
        "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
        "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 4, "completed": 3}, "current": {"ready": 4}},
                               "epoch_loop.state_dict": {"_batches_that_stepped": 120}}},
        "callbacks": {
            "ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min', 'every_n_train_steps': 0, 'every_n_epochs': 1, 'train_time_interval': None}": {
                "monitor": "val_loss", "best_model_score": torch.tensor(0.25), "best_model_path": "ckpts/epoch=2.ckpt",
                "current_score": torch.tensor(0.3), "dirpath": "ckpts", "best_k_models": {"ckpts/epoch=2.ckpt": torch.tensor(0.25)},
                "kth_best_model_path": "ckpts/epoch=2.ckpt", "kth_value": torch.tensor(0.25), "last_model_path": ""},
            "EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}": {"wait_count": 0, "stopped_epoch": 0,
                                                                    "best_score": torch.tensor(0.25), "patience": 3},
        },
        "optimizer_states": [opt.state_dict()], "lr_schedulers": [sched.state_dict()],
        "hparams_name": "kwargs", "hyper_parameters": {"lr": 1e-3, "hidden": 4, "layers": [4, 2]},
    }
    model(torch.ones(1, 3, 4, 4))  # materialise the lazy layer for the "trained" saves
    saves: dict[str, Any] = {
        "full_module.pt": model,
        "lazy_module.pt": lazy,
        "transformer_layer.pt": torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=8),
        "rnn.pt": torch.nn.LSTM(4, 4),
        "optimizer.pt": opt,
        "optimizer_state.pt": opt.state_dict(),
        "scheduler.pt": sched,
        "scheduler_state.pt": sched.state_dict(),
        "scaler.pt": scaler,
        "scaler_state.pt": scaler.state_dict(),
        "tensors.pt": tensors,
        "lightning.ckpt": lightning,
        "training_args.bin": TrainingArgumentsLike(),
    }
    for name, obj in saves.items():
        torch.save(obj, w.path(name))
    torch.save(tensors, w.path("tensors_legacy.pt"), _use_new_zipfile_serialization=False)
    for name, t in tensors.items():
        if name not in ("nested",):
            w.pickle(f"pickle_dumps_{name}", t)
    w.pickle("pickle_dumps_module", model)


def huggingface_objects(w: _Writer) -> None:
    """transformers' own training_args.bin (TrainingArguments, saved as Trainer saves it)."""
    import torch
    import transformers

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        args = transformers.TrainingArguments(output_dir=str(w.corpus.root / "hf-out"), report_to=[], use_cpu=True)
    torch.save(args, w.path("training_args.bin"))


# --------------------------------------------------------------------------- gradient boosting


def boosting_objects(w: _Writer) -> None:
    """xgboost, lightgbm and catboost models, pickled and joblib-dumped (each library when installed)."""
    X, y, _ = _toy(60)
    made = 0
    with contextlib.suppress(ImportError):
        import xgboost

        clf = xgboost.XGBClassifier(n_estimators=3, max_depth=2).fit(X, y)
        w.pickle("xgb_classifier", clf)
        w.pickle("xgb_booster", clf.get_booster())
        w.joblib_all("xgb_classifier", clf)
        made += 1
    with contextlib.suppress(ImportError):
        import lightgbm

        lgb = lightgbm.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, y)
        w.pickle("lgbm_classifier", lgb)
        w.pickle("lgbm_booster", lgb.booster_)
        w.joblib_all("lgbm_classifier", lgb)
        made += 1
    with contextlib.suppress(ImportError):
        import catboost

        cb = catboost.CatBoostClassifier(iterations=3, verbose=False, allow_writing_files=False).fit(X, y)
        w.pickle("catboost_classifier", cb)
        w.joblib_all("catboost_classifier", cb)
        made += 1
    if not made:
        raise ImportError("none of xgboost, lightgbm, catboost is installed")


# --------------------------------------------------------------------------- formats that carry no pickle


def keras_files(w: _Writer) -> None:
    """.keras and legacy .h5 files without Lambda layers: written by Keras when installed, else built as Keras writes them."""
    try:
        os.environ.setdefault("KERAS_BACKEND", "torch")
        import keras

        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dropout(0.1),
                                  keras.layers.Dense(1, activation="sigmoid")])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.save(w.path("dense.keras"))
            model.save(w.path("dense.h5"))
    except ImportError:
        _keras_structural(w)


def _keras_structural(w: _Writer) -> None:
    import h5py

    config = {"module": "keras", "class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 4], "dtype": "float32"}},
        {"module": "keras.layers", "class_name": "Dense", "config": {"units": 1, "activation": "sigmoid"}}]}}
    weights = io.BytesIO()
    with h5py.File(weights, "w") as h5:
        h5.create_dataset("layers/dense/vars/0", data=np.ones((4, 1), "float32"))
    with zipfile.ZipFile(w.path("dense.keras"), "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.15.1", "date_saved": "2026-01-01@00:00:00"}))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", weights.getvalue())
    with h5py.File(w.path("dense.h5"), "w") as h5:
        h5.attrs["keras_version"] = "3.15.1"
        h5.attrs["backend"] = "tensorflow"
        h5.attrs["model_config"] = json.dumps(config)
        h5.create_dataset("model_weights/dense/dense/kernel:0", data=np.ones((4, 1), "float32"))


def tensor_formats(w: _Writer) -> None:
    """ONNX, safetensors and GGUF files (with a benign chat template)."""
    made = 0
    with contextlib.suppress(ImportError):
        import onnx
        from onnx import TensorProto, helper

        node = helper.make_node("Relu", ["x"], ["y"])
        graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
        onnx.save(helper.make_model(graph), w.path("relu.onnx"))
        made += 1
    with contextlib.suppress(ImportError):
        from safetensors.numpy import save_file

        save_file({"w": np.ones((4, 4), "float32"), "b": np.zeros(4, "float16")}, str(w.path("model.safetensors")),
                  metadata={"format": "pt"})
        made += 1
    with contextlib.suppress(ImportError):
        import gguf

        writer = gguf.GGUFWriter(str(w.path("tiny.gguf")), "llama")
        writer.add_chat_template("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")
        writer.add_tensor("w", np.ones((4, 4), "float32"))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        made += 1
    if not made:
        raise ImportError("none of onnx, safetensors, gguf is installed")


TEXTS = {
    # requirements whose first byte is a protocol-0 opcode (t TUPLE, s SETITEM, l LIST, c GLOBAL, i INST, p PUT...)
    "requirements.txt": "torch==2.13.0\nnumpy==2.2.6\n",
    "requirements-dev.txt": "scikit-learn==1.9.1\npytest\n",
    "requirements-gbm.txt": "lightgbm==4.7.0\nxgboost\n",
    "requirements-cffi.txt": "cffi>=1.0\nnumpy\nscipy\n",
    "requirements-infer.txt": "inflect==7.0\nonnxruntime\n",
    "requirements-pandas.txt": "pandas>=2\npyarrow\n",
    "constraints.txt": "(generated)\nnumpy==2.2.6\n",
    "vocab.txt": "[PAD]\n[unused0]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n",
    "words.txt": "I\nS\nV\nF\nL\nN\n.\n",
    "vocab-int.txt": "I0\nI1\n.\n",
    "merges.txt": "#version: 0.2\n\u0120 t\n\u0120 a\nh e\n",
    "spm.vocab": "<unk>\t0\n<s>\t0\n</s>\t0\n\u2581the\t-3.1\n",
    "labels.txt": "cat\ndog\n",
    "gpt2-merges.txt": "\u0120t he\nc at\n",
}


def text_files(w: _Writer) -> None:
    """Text that ML repositories commit and that starts like a protocol-0 pickle."""
    for name, text in TEXTS.items():
        w.bytes(name, text.encode("utf-8"))
    w.bytes("requirements.txt.gz", gzip.compress(TEXTS["requirements.txt"].encode()))


GROUPS: dict[str, Callable[[_Writer], None]] = {
    "sklearn_estimators": sklearn_estimators,
    "sklearn_workflows": sklearn_workflows,
    "numpy": numpy_objects,
    "scipy": scipy_objects,
    "pandas": pandas_objects,
    "torch": torch_objects,
    "huggingface": huggingface_objects,
    "boosting": boosting_objects,
    "keras": keras_files,
    "tensor_formats": tensor_formats,
    "text": text_files,
}
GROUPS.update(_everyday.GROUPS)


def build(dest: Path, groups: list[str] | None = None) -> Corpus:
    """Write the corpus under `dest`; a group whose library is not installed is recorded in `skipped`."""
    corpus = Corpus(root=dest)
    for group, fn in GROUPS.items():
        if groups is not None and group not in groups:
            continue
        try:
            fn(_Writer(corpus, group))
        except ImportError as exc:
            corpus.skipped[group] = f"not installed: {exc}"
    return corpus


def iter_groups() -> Iterator[str]:
    yield from GROUPS
