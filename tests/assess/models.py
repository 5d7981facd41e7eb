"""Model files in every format the assess stage runs, trained on the credit data in the test process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from tests.assess.helpers import DATA


class Doubler(BaseEstimator, TransformerMixin):
    """A custom class: skops records it as a type off the trusted list."""

    def fit(self, X, y=None):  # noqa: N803, ANN001, ANN201
        return self

    def transform(self, X):  # noqa: N803, ANN001, ANN201
        return X * 2


def skops_model(path: Path, custom: bool = False, regression: bool = False) -> Path:
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if regression:
        model = LinearRegression().fit(DATA.X[:, [0, 2]], DATA.X[:, 1])
    elif custom:
        model = make_pipeline(Doubler(), LogisticRegression()).fit(DATA.X, DATA.y)
    else:
        model = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0))
        model.fit(DATA.X, DATA.y)
    sio.dump(model, path)
    return path


def xgboost_model(path: Path) -> Path:
    import xgboost as xgb

    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
                        xgb.DMatrix(DATA.X.astype(np.float32), label=DATA.y), num_boost_round=10)
    booster.save_model(str(path))
    return path


def lightgbm_model(path: Path) -> Path:
    import lightgbm as lgb

    booster = lgb.train({"objective": "binary", "num_leaves": 7, "verbose": -1, "num_threads": 1},
                        lgb.Dataset(DATA.X, label=DATA.y), num_boost_round=10)
    booster.save_model(str(path))
    return path
