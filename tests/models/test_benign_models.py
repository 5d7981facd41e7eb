"""Realistic benign models pass the default policy: made with the real libraries, never hand-tuned."""

from __future__ import annotations

import argparse
import collections
import datetime
import pathlib
import pickle
from pathlib import Path

import numpy as np
import pytest

from tests.models.helpers import blocks, scan_path

torch = pytest.importorskip("torch")


class TinyNet(torch.nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.norm = torch.nn.BatchNorm2d(8)
        self.head = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.GELU(), torch.nn.Dropout(0.1), torch.nn.Linear(4, 2))

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.head(self.norm(self.conv(x)).mean((2, 3)))


def assert_passes(tmp_path: Path, path: Path) -> None:
    result = scan_path(tmp_path, path)
    assert not result.errors, result.errors
    assert not blocks(result), [(f.rule_id, f.severity.value, f.message) for f in result.findings]


def test_torch_checkpoints(tmp_path: Path) -> None:
    model = TinyNet()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 10)
    scaler = torch.amp.GradScaler("cpu")
    ckpt = {
        "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
        "scaler": scaler.state_dict(), "epoch": 7, "best": 0.91, "rng": torch.get_rng_state(),
        "np_rng": np.random.get_state(),
        "args": argparse.Namespace(lr=1e-3, out=pathlib.Path("/runs/x"), started=datetime.datetime(2026, 1, 1)),
        "history": collections.defaultdict(list, {"loss": [1.0, 0.5]}), "dtype": torch.float16, "device": torch.device("cpu"),
    }
    files = {
        "state_dict.pt": model.state_dict(),
        "checkpoint.pt": ckpt,
        "whole_sequential.pt": torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.LayerNorm(4)),
    }
    for name, obj in files.items():
        torch.save(obj, tmp_path / name)
        assert_passes(tmp_path, tmp_path / name)
    torch.save(model.state_dict(), tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    assert_passes(tmp_path, tmp_path / "legacy.pt")


def test_whole_model_of_user_class_is_advisory_not_blocking(tmp_path: Path) -> None:
    torch.save(TinyNet(), tmp_path / "full.pt")
    result = scan_path(tmp_path, tmp_path / "full.pt")
    assert not blocks(result)
    assert any(f.rule_id == "MLS103" and "TinyNet" in f.message for f in result.findings)
    strict = scan_path(tmp_path, tmp_path / "full.pt", unknown="high")
    assert blocks(strict)


def test_sklearn_and_joblib(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X = np.random.default_rng(0).random((60, 4))
    y = (X[:, 0] > 0.5).astype(int)
    models = {
        "pipe": Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y),
        "forest": RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y),
        "boost": GradientBoostingClassifier(n_estimators=3).fit(X, y),
        "onehot": OneHotEncoder().fit([["a"], ["b"]]),
    }
    for name, model in models.items():
        joblib.dump(model, tmp_path / f"{name}.joblib")
        joblib.dump(model, tmp_path / f"{name}.joblib.z", compress=3)
        joblib.dump(model, tmp_path / f"{name}.joblib.xz", compress=("xz", 3))
        for proto in (0, 2, 4, 5):
            (tmp_path / f"{name}.p{proto}.pkl").write_bytes(pickle.dumps(model, protocol=proto))
    for path in sorted(tmp_path.glob("*.*")):
        if path.is_file():
            assert_passes(tmp_path, path)


def test_numpy_files(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.random.default_rng(0).random((8, 8)))
    np.save(tmp_path / "o.npy", np.array([{"k": [1, 2]}, "text", None], dtype=object), allow_pickle=True)
    np.savez_compressed(tmp_path / "z.npz", a=np.arange(5), b=np.array(["x", "yz"]))
    np.savez(tmp_path / "oz.npz", o=np.array([{"k": 1}], dtype=object))
    for name in ("a.npy", "o.npy", "z.npz", "oz.npz"):
        assert_passes(tmp_path, tmp_path / name)
