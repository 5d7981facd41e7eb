"""Assessment results keyed by (model content, data content, configuration), like the models stage's cache.

A model's result depends on its bytes, the evaluation data's bytes, what the
policy asks to compute (metrics, columns, robustness settings: not the bounds,
which are judged in the gate), how much (`scope`), the row limit the data was
held to (`max_rows`), the stage's own code and the versions of every library
that computes it. The
content ids are SHA-256 digests of the very bytes the sandbox was given (see
`sources`), never a name or a git blob id that the checked-out file may not
match. A full result also answers for the metrics-only scope, so a pull
request's head result is the next pull request's base result for free.
Only results without an error are kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from mlsecops import __version__
from mlsecops.code_digest import code_digest
from mlsecops.stages.assess.job import ModelResult, Role, Scope
from mlsecops.stages.assess.policy import ModelEntry

LIBRARIES = ("numpy", "pandas", "fastparquet", "scikit-learn", "fairlearn", "onnxruntime", "skops", "xgboost-cpu",
             "xgboost", "lightgbm", "adversarial-robustness-toolbox")


def _v(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "absent"


def salt() -> str:
    text = "\x1f".join([__version__, code_digest("stages/assess"), *(f"{d}={_v(d)}" for d in LIBRARIES)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def key(model_id: str, fmt: str, data_id: str, entry: ModelEntry, scope: Scope, trusted: list[str],
        max_rows: int) -> str:
    view = {"model": model_id, "format": fmt, "data": data_id, "scope": scope, "entry": entry.compute_view(),
            "trusted": sorted(trusted), "max_rows": max_rows}
    return hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()


class AssessCache:
    def __init__(self, root: Path | None) -> None:
        self.dir = root / "assess" / salt() if root else None
        self.hits = 0

    def _file(self, k: str) -> Path | None:
        return self.dir / k[:2] / f"{k}.json" if self.dir is not None else None

    def get(self, k: str, role: Role) -> ModelResult | None:
        f = self._file(k)
        if f is None:
            return None
        try:
            result = ModelResult.model_validate_json(f.read_bytes())
        except (OSError, ValueError):
            return None
        self.hits += 1
        return result.model_copy(update={"role": role})

    def put(self, k: str, result: ModelResult) -> None:
        f = self._file(k)
        if f is None or result.error or any(c.error for c in result.robustness):
            return
        try:
            f.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=f.parent, suffix=".tmp")
            with os.fdopen(fd, "w") as out:
                out.write(result.model_dump_json())
            os.replace(tmp, f)
        except OSError:
            return  # a cache that cannot be written only costs time
