"""Worker start-up: a worker started ahead warms up, takes the first file, and applies the task's limits."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from mlsecops import fixtures as fx
from mlsecops.stages.models.policy import ModelLimits
from mlsecops.stages.models.pool import WorkerPool
from mlsecops.stages.models.scanfile import Task
from mlsecops.stages.models.spawn import WorkerStarter


def task(tmp_path: Path, data: bytes, limits: ModelLimits | None = None) -> Task:
    p = tmp_path / "f.pkl"
    p.write_bytes(data)
    return Task(source=str(p), path="f.pkl", size=len(data), limits=limits or ModelLimits(), tmpdir=".")


def test_a_worker_started_ahead_scans_the_first_file(tmp_path: Path) -> None:
    with WorkerStarter(tmp_path / "w") as starter:
        starter.prestart()
        early = starter.ready[0].proc.pid
        pool = WorkerPool(1, starter)
        pids = []
        for result in pool.run([task(tmp_path, fx.malicious_pickle())], timeout=60):
            pids.append(pool.workers[0].proc.pid)
            assert {f.rule_id for f in result.findings} >= {"MLS101"}
        assert pids == [early] and starter.started == 1


def test_workers_started_ahead_and_not_used_are_killed(tmp_path: Path) -> None:
    with WorkerStarter(tmp_path / "w") as starter:
        starter.prestart()
        proc = starter.ready[0].proc
        assert proc.poll() is None
    assert proc.returncode is not None and not starter.ready


def test_a_worker_started_ahead_that_died_is_replaced(tmp_path: Path) -> None:
    with WorkerStarter(tmp_path / "w") as starter:
        starter.prestart()
        starter.ready[0].proc.kill()
        starter.ready[0].proc.wait()
        [result] = list(WorkerPool(1, starter).run([task(tmp_path, fx.malicious_pickle())], timeout=60))
    assert not result.errors and result.findings
    assert starter.started == 2


def _limit(pid: int, name: str) -> tuple[str, str]:
    text = Path(f"/proc/{pid}/limits").read_text()
    m = re.search(rf"^{name}\s+(\S+)\s+(\S+)", text, re.M)
    assert m, text
    return m.group(1), m.group(2)


def test_the_worker_applies_the_policy_limits_before_it_scans(tmp_path: Path) -> None:
    """Started before the policy is read, the worker takes its memory and file-size caps from the task."""
    limits = ModelLimits(memory_mb=300, max_expanded_mb=100)
    with WorkerStarter(tmp_path / "w") as starter:
        starter.prestart()
        pid = starter.ready[0].proc.pid
        assert _limit(pid, "Max address space") == ("unlimited", "unlimited")
        seen = []
        pool = WorkerPool(1, starter)
        for result in pool.run([task(tmp_path, fx.benign_dict_pickle(), limits)], timeout=60):
            assert not result.errors
            seen = [_limit(pid, "Max address space"), _limit(pid, "Max file size"), _limit(pid, "Max core file size")]
    mib = 1024 * 1024
    assert seen == [(str(300 * mib), str(300 * mib)), (str(164 * mib), str(164 * mib)), ("0", "0")]


def test_warm_up_imports_the_engines_before_the_first_task() -> None:
    code = ("import sys; from mlsecops.stages.models import worker; before = 'fickling.analysis' in sys.modules; "
            "worker.warm(); print(before, all(m in sys.modules for m in worker.WARM_MODULES))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["False", "True"]
