"""Files that change under the scan: gone, grown, shrunk, or swapped for a FIFO or a
symlink between the moment the changeset lists them and the moment a worker opens them.

`run_race` runs the real models stage (real worker processes) on a workspace of the
racing file and the sentinel malicious pickle, and applies the change just before the
workers get their tasks. Used by `test_races.py` and `benchmarks/adversarial.py`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from mlsecops import fixtures as fx
from mlsecops.changes import changeset
from mlsecops.context import Context
from mlsecops.findings import Stage
from mlsecops.stages.models import stage as models_stage
from mlsecops.stages.models.pool import WorkerPool
from mlsecops.stages.models.scanfile import FileResult, Task

RACES = {
    "vanish": "deleted after it was listed",
    "grow": "grown by a malicious pickle after it was listed",
    "shrink": "truncated after it was listed",
    "fifo-swap": "replaced by a FIFO after it was listed",
    "symlink-swap": "replaced by a symlink to a malicious file outside the workspace after it was listed",
}
TARGET = "racing.pkl"
SENTINEL = "zz_evil.pkl"


def _mutate(kind: str, path: Path, outside: Path) -> None:
    if kind == "vanish":
        path.unlink()
    elif kind == "grow":
        with path.open("ab") as fh:
            fh.write(fx.malicious_pickle())
    elif kind == "shrink":
        os.truncate(path, 3)
    elif kind == "fifo-swap":
        path.unlink()
        os.mkfifo(path)
    elif kind == "symlink-swap":
        path.unlink()
        path.symlink_to(outside)


def run_race(kind: str, tmp: Path) -> dict[str, Any]:
    """Scan with the race; return the outcome for `racing.pkl`, whether the sentinel was found, the time."""
    root = tmp / "ws"
    root.mkdir(parents=True, exist_ok=True)
    (root / TARGET).write_bytes(fx.benign_dict_pickle())
    (root / SENTINEL).write_bytes(fx.malicious_pickle())
    outside = tmp / "outside.pkl"
    outside.write_bytes(fx.malicious_pickle())

    class RacingPool(WorkerPool):
        def run(self, tasks: list[Task], timeout: float) -> Iterator[FileResult]:
            _mutate(kind, root / TARGET, outside)
            yield from super().run(tasks, timeout)

    work = tmp / "work"
    work.mkdir(exist_ok=True)
    context = Context(root=root, workdir=work, stages=[Stage.models], cache_dir=None, jobs=2)
    started = time.monotonic()
    with mock.patch.object(models_stage, "WorkerPool", RacingPool):
        cs = changeset.build(root, work)
        result = models_stage.run(cs, context)
    seconds = time.monotonic() - started
    return {
        "errors": [e.message for e in result.errors if e.path == TARGET],
        "findings": sorted({f.rule_id for f in result.findings if f.path == TARGET}),
        "sentinel": any(f.path == SENTINEL and f.severity.rank >= 3 for f in result.findings),
        "seconds": seconds,
    }
