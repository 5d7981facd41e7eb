"""More benign files, made as an outside checker would make them "by reading the loaders": the
everyday objects of analysis notebooks and training scripts, saved the usual ways.

Groups of tests/models/benign_corpus.py (its `GROUPS` lists them), written with its writer:
text vectorizers with `str` methods, column selectors, pandas-output pipelines, ensembles,
kernels, scorers and cross-validation results; scipy's result objects (linregress, pearsonr,
bootstrap, an L-BFGS-B OptimizeResult); numpy polynomials and finfo; TorchScript, exported
programs, datasets, distributions, schedulers, SWA and quantized state dicts; `.npy` layouts
(Fortran order, big-endian, memmap, headers over 64 KiB); pandas compressions inferred from
the file name and protocol 0; joblib's `compress=True`, levels, tuples, names and protocols.
Each object is one a data scientist commits; none should block under the default policy.
"""

from __future__ import annotations

import gzip
import io
import random
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tests.models.benign_corpus import _Writer

SEED = 0


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(60, 4))
    return X, (X[:, 0] > 0).astype(int), X @ np.array([1.0, 2.0, 3.0, 4.0])


def _save_all(w: _Writer, objs: dict[str, Any]) -> None:
    for name, obj in objs.items():
        w.pickle(name, obj, protocols=(2, 4, 5))
        w.bytes(f"{name}.gzip.joblib", _joblib_bytes(obj, ("gzip", 3)))


def _joblib_bytes(obj: object, compress: object) -> bytes:
    import joblib

    buf = io.BytesIO()
    joblib.dump(obj, buf, compress=compress)
    return buf.getvalue()


def everyday_sklearn(w: _Writer) -> None:
    """Vectorizers with str methods, column selectors, pandas output, ensembles, kernels, scorers, CV results."""
    import pandas as pd
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.ensemble import IsolationForest, RandomForestClassifier, StackingClassifier, VotingClassifier
    from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfVectorizer
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Matern, WhiteKernel
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier
    from sklearn.metrics import fbeta_score, get_scorer, make_scorer
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, TunedThresholdClassifierCV, cross_validate
    from sklearn.neighbors import BallTree, KNeighborsClassifier, NearestNeighbors
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import FeatureUnion, make_pipeline
    from sklearn.preprocessing import (FunctionTransformer, KBinsDiscretizer, OneHotEncoder, PolynomialFeatures,
                                       PowerTransformer, QuantileTransformer, SplineTransformer, StandardScaler,
                                       TargetEncoder)

    X, y, yr = _data()
    rng = np.random.default_rng(SEED)
    df = pd.DataFrame(X, columns=list("abcd"))
    df["cat"] = pd.Categorical(rng.choice(["x", "y"], len(df)))
    df["txt"] = rng.choice(["foo bar", "baz qux"], len(df))
    texts = ["the cat sat", "the dog ran", "a cat ran", "dogs and cats"] * 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        objs: dict[str, Any] = {
            "countvec_str_split": CountVectorizer(tokenizer=str.split, token_pattern=None).fit(texts),
            "tfidf_str_lower": TfidfVectorizer(preprocessor=str.lower).fit(texts),
            "tfidf_float32_bigrams": TfidfVectorizer(dtype=np.float32, ngram_range=(1, 2)).fit(texts),
            "hashing_vectorizer": HashingVectorizer(n_features=16),
            "column_selectors": make_pipeline(make_column_transformer(
                (StandardScaler(), make_column_selector(dtype_include=np.number)),
                (OneHotEncoder(), make_column_selector(dtype_include="category")), ("drop", ["txt"])),
                LogisticRegression()).fit(df, y),
            "pandas_output": make_pipeline(StandardScaler(), PolynomialFeatures(2)).set_output(transform="pandas").fit(
                df[list("abcd")]),
            "stacking": StackingClassifier([("lr", LogisticRegression()), ("rf", RandomForestClassifier(n_estimators=3))],
                                           cv=2).fit(X, y),
            "voting_soft": VotingClassifier([("lr", LogisticRegression()), ("sgd", SGDClassifier(loss="log_loss"))],
                                            voting="soft").fit(X, y),
            "gp_kernels": GaussianProcessRegressor(ConstantKernel() * RBF() + WhiteKernel() + Matern(nu=1.5)).fit(
                X[:20], yr[:20]),
            "mlp_early_stopping": MLPClassifier(hidden_layer_sizes=(4,), max_iter=20, early_stopping=True).fit(X, y),
            "knn_kd_tree": KNeighborsClassifier(algorithm="kd_tree").fit(X, y),
            "ball_tree_haversine": BallTree(X[:, :2], metric="haversine"),
            "nearest_cosine": NearestNeighbors(metric="cosine").fit(X),
            "scorers": {"f2": make_scorer(fbeta_score, beta=2), "auc": get_scorer("roc_auc"),
                        "nll": get_scorer("neg_log_loss")},
            "cv_results": cross_validate(LogisticRegression(), X, y, cv=StratifiedKFold(3, shuffle=True, random_state=SEED),
                                         return_estimator=True, return_indices=True),
            "tuned_threshold": TunedThresholdClassifierCV(LogisticRegression(), cv=2).fit(X, y),
            "target_encoder": TargetEncoder().fit(df[["cat"]], y),
            "feature_union": FeatureUnion([("s", SplineTransformer()), ("k", KBinsDiscretizer(n_bins=3, encode="ordinal")),
                                           ("q", QuantileTransformer(n_quantiles=10)), ("p", PowerTransformer())]).fit(X),
            "isolation_forest": IsolationForest(n_estimators=5).fit(X),
            "function_transformers": make_pipeline(
                FunctionTransformer(np.clip, kw_args={"a_min": 0, "a_max": 1}),
                FunctionTransformer(np.sqrt, inverse_func=np.square, check_inverse=False), SimpleImputer()).fit(np.abs(X)),
            "function_transformer_get_dummies": FunctionTransformer(pd.get_dummies).fit(df[["cat"]]),
            "grid_logspace": GridSearchCV(Ridge(), {"alpha": np.logspace(-2, 2, 3)}, cv=3).fit(X, yr),
        }
    _save_all(w, objs)


def everyday_analysis(w: _Writer) -> None:
    """scipy results, numpy polynomials and limits, pandas frames and tables from analysis notebooks."""
    import pandas as pd
    from dateutil import parser as dateutil_parser
    from dateutil import tz as dateutil_tz
    from scipy import interpolate, optimize, signal, sparse, stats

    X, _, yr = _data()
    df = pd.DataFrame(X, columns=list("abcd"))
    df["cat"] = pd.Categorical(np.where(X[:, 1] > 0, "x", "y"))
    objs: dict[str, Any] = {
        "optimize_lbfgsb": optimize.minimize(lambda p: ((p - 1) ** 2).sum(), np.zeros(3), method="L-BFGS-B"),
        "optimize_bfgs_dict": dict(optimize.minimize(lambda p: ((p - 1) ** 2).sum(), np.zeros(3), method="BFGS")),
        "linregress": stats.linregress(X[:, 0], yr),
        "describe": stats.describe(X),
        "pearsonr": stats.pearsonr(X[:, 0], X[:, 1]),
        "bootstrap": stats.bootstrap((X[:, 0],), np.mean, n_resamples=50, rng=np.random.default_rng(SEED)),
        "bspline": interpolate.make_interp_spline(np.arange(6.0), np.arange(6.0) ** 2),
        "rbf_interpolator": interpolate.RBFInterpolator(X[:10, :2], yr[:10]),
        "butter_sos": signal.butter(4, 0.2, output="sos"),
        "polynomials": [np.polynomial.Polynomial([1, 2, 3]), np.poly1d([1, 2]),
                        np.polynomial.Chebyshev.fit(np.arange(5.0), np.arange(5.0) ** 2, 2),
                        np.polynomial.Legendre([1, 0, 1])],
        "finfo_iinfo": [np.finfo(np.float32), np.iinfo(np.int16)],
        "errstate": np.geterr(),
        "void_scalar": np.zeros(1, dtype=[("a", "i4"), ("b", "f8")])[0],
        "odd_scalars": [np.timedelta64(3, "D"), np.datetime64("NaT"), np.longdouble(1.5), np.float16(2.0), np.clongdouble(1j)],
        "fixed_offset_tz": pd.Series(pd.date_range("2026-01-01", periods=3, tz="+02:00")),
        "attrs_and_flags": df.set_flags(allows_duplicate_labels=False),
        "groupby_agg": df.groupby("cat", observed=True)[["a", "b"]].agg(["mean", "std"]),
        "crosstab": pd.crosstab(df["cat"], X[:, 2] > 0),
        "resampled": pd.Series(np.arange(10.0), index=pd.date_range("2026-01-01", periods=10, freq="h")).resample("3h").mean(),
        "describe_all": df.describe(include="all"),
        "multiindex_columns": pd.DataFrame(np.ones((2, 4)), columns=pd.MultiIndex.from_product([["x", "y"], [1, 2]])),
        "sparse_frame": pd.DataFrame.sparse.from_spmatrix(sparse.random(5, 3, density=0.3, random_state=SEED)),
        "categorical_dtype": pd.Series(["a", "b"], dtype=pd.CategoricalDtype(["a", "b", "c"], ordered=True)),
        "json_normalize": pd.json_normalize([{"a": {"b": 1}, "c": [1, 2]}]),
        "offsets": [pd.offsets.Week(weekday=0), pd.offsets.CustomBusinessDay(holidays=["2026-01-01"]),
                    pd.tseries.frequencies.to_offset("15min")],
        # pandas' dateutil time zones, and the zones dateutil.parser hands back
        "dateutil_tz_series": pd.Series(pd.date_range("2026-01-01", periods=3, tz="dateutil/Europe/London")),
        "dateutil_parsed": pd.DataFrame({"t": [dateutil_parser.parse("2026-01-01 10:00 UTC"),
                                               dateutil_parser.parse("2026-01-01 10:00 +0530")]}),
        "dateutil_zones": [dateutil_tz.tzutc(), dateutil_tz.tzoffset("X", 3600), dateutil_tz.tzlocal(),
                           dateutil_tz.gettz("America/New_York"), dateutil_tz.tzstr("EST5EDT")],
        "date_offset": [pd.DateOffset(months=1, days=2), pd.offsets.DateOffset(weekday=2)],
    }
    objs["attrs_and_flags"].attrs["source"] = "survey"
    _save_all(w, objs)


class _Net:  # built lazily: torch is optional for the corpus
    @staticmethod
    def make() -> Any:
        import torch

        class Net(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.l = torch.nn.Linear(4, 2)
                self.register_buffer("scale", torch.ones(2))

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.l(x) * self.scale

        return Net()


def everyday_torch(w: _Writer) -> None:
    """TorchScript, torch.export, datasets, distributions, schedulers, SWA, quantized and half-precision saves."""
    import torch

    torch.manual_seed(SEED)
    net = _Net.make()
    torch.jit.save(torch.jit.script(torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.ReLU())), w.path("scripted.pt"))
    torch.jit.save(torch.jit.trace(net, torch.ones(1, 4)), w.path("traced.pt"))
    torch.export.save(torch.export.export(net, (torch.ones(1, 4),)), w.path("exported.pt2"))
    torch.save(net.state_dict(), w.path("state_dict_protocol4.pt"), pickle_protocol=4)
    torch.save(net.state_dict(), w.path("state_dict_legacy.pt"), _use_new_zipfile_serialization=False)
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    w.bytes("state_dict.pt.gz", gzip.compress(buf.getvalue()))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    quantized = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(torch.nn.Linear(4, 4)), {torch.nn.Linear},
                                                       dtype=torch.qint8)
    saves: dict[str, Any] = {
        "weight_norm_state.pt": torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(3, 3)).state_dict(),
        "tensor_dataset.pt": torch.utils.data.TensorDataset(torch.ones(3, 2), torch.zeros(3)),
        "distributions.pt": {"normal": torch.distributions.Normal(torch.zeros(2), torch.ones(2)),
                             "categorical": torch.distributions.Categorical(logits=torch.zeros(3))},
        "schedulers.pt": {"opt": opt.state_dict(),
                          "warm_restarts": torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, 5).state_dict(),
                          "plateau": torch.optim.lr_scheduler.ReduceLROnPlateau(opt).state_dict()},
        "swa_state.pt": torch.optim.swa_utils.AveragedModel(net).state_dict(),
        "half_module.pt": torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.LayerNorm(4)).half(),
        "rng_states.pt": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                          "python": random.Random(SEED).getstate()},
        "dynamic_quant_state.pt": quantized.state_dict(),
    }
    for name, obj in saves.items():
        torch.save(obj, w.path(name))


def everyday_files(w: _Writer) -> None:
    """.npy layouts, pandas compressions inferred from the name, joblib's compress spellings and protocols."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    np.save(w.path("fortran.npy"), np.asfortranarray(np.arange(6.0).reshape(2, 3)))
    np.save(w.path("big_endian_complex.npy"), np.arange(4, dtype=">c16"))
    np.lib.format.open_memmap(w.path("memmap.npy"), mode="w+", dtype="f4", shape=(3, 3)).flush()
    np.savez_compressed(w.path("many_layers.npz"), **{f"layer_{i}": np.ones(i + 1) for i in range(20)},
                        meta=np.array({"epoch": 3}, dtype=object))
    np.save(w.path("wide_struct.npy"), np.zeros(2, dtype=[(f"field_{i:05d}", "f4") for i in range(3000)]))
    np.save(w.path("stringdtype.npy"), np.array(["a", "bc"], dtype=np.dtypes.StringDType()), allow_pickle=True)
    df = pd.DataFrame({"a": np.arange(5), "b": list("abcde"), "t": pd.date_range("2026-01-01", periods=5, tz="UTC")})
    for ext in ("pkl.gz", "pkl.bz2", "pkl.xz", "pkl.zip", "pkl.tar", "pkl.zst", "pkl.tar.gz", "pkl.tar.bz2", "pkl.tar.xz"):
        df.to_pickle(w.path(f"frame.{ext}"))
    df.to_pickle(w.path("frame_protocol0.pkl"), protocol=0)
    df.to_pickle(w.path("frame_mtime.pkl.gz"), compression={"method": "gzip", "compresslevel": 1, "mtime": 1})
    df.to_pickle(w.path("frame_level19.pkl.zst"), compression={"method": "zstd", "level": 19})
    pd.to_pickle({"category": df["b"].astype("category"), "index": pd.Index([1, 2], name="x"),
                  "categorical_index": pd.CategoricalIndex(list("ab"))}, w.path("mixed.pkl.bz2"))
    X, y, _ = _data()
    bundle = {"model": LogisticRegression().fit(X, y), "array": np.arange(100.0)}
    for label, compress in (("true", True), ("level9", 9), ("zlib6", ("zlib", 6)), ("lzma1", ("lzma", 1)),
                            ("xz3", ("xz", 3)), ("bz2_9", ("bz2", 9)), ("gzip1", ("gzip", 1))):
        w.bytes(f"bundle_{label}.joblib", _joblib_bytes(bundle, compress))
    import joblib

    joblib.dump(bundle["model"], w.path("model.joblib.z"))  # compression chosen by the file name
    joblib.dump(bundle["model"], w.path("model.pkl.gz"))
    joblib.dump(bundle["model"], w.path("model.pkl.xz"))
    joblib.dump(bundle["model"], w.path("model_protocol2.joblib"), protocol=2)
    joblib.dump({"a": np.arange(3), "s": "x"}, w.path("dict_protocol0.joblib"), protocol=0)
    joblib.dump([np.arange(10), np.array(["x", None], dtype=object), np.ma.masked_array([1, 2], [0, 1])],
                w.path("arrays.joblib"))


GROUPS = {
    "everyday_sklearn": everyday_sklearn,
    "everyday_analysis": everyday_analysis,
    "everyday_torch": everyday_torch,
    "everyday_files": everyday_files,
}
