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


def _late_worker(delay: float) -> list[str]:
    """The real worker, started `delay` seconds late: a start-up as slow as a loaded machine's."""
    return [sys.executable, "-c", f"import runpy, time; time.sleep({delay}); "
            "runpy.run_module('mlsecops.stages.models.worker', run_name='__main__')"]


def test_a_slow_worker_start_is_not_charged_to_the_file(tmp_path: Path) -> None:
    """Regression: the deadline started when the file was sent, so a worker still importing its
    engines used up the file's time (a 1 s limit failed innocent files on a loaded machine).
    Here the start-up alone is longer than the limit; the file's scan takes milliseconds."""
    with WorkerStarter(tmp_path / "w", command=_late_worker(3.0)) as starter:
        [result] = list(WorkerPool(1, starter).run([task(tmp_path, fx.malicious_pickle())], timeout=2.0))
    assert not result.errors, result.errors
    assert {f.rule_id for f in result.findings} >= {"MLS101"}


class _DeadOnArrival(WorkerStarter):
    """Its first `broken` workers exit at once, before they are ready; later ones are real.
    With `real_first`, the first worker is real and every later one broken."""

    def __init__(self, workdir: Path, broken: int, real_first: bool = False) -> None:
        super().__init__(workdir)
        self.broken = broken
        self.real_first = real_first
        self.real = self.command

    def start(self):  # type: ignore[no-untyped-def]
        dead = self.started > 0 if self.real_first else self.started < self.broken
        self.command = [sys.executable, "-c", "raise SystemExit(3)"] if dead else self.real
        return super().start()


def test_a_worker_that_dies_while_starting_is_replaced_and_no_file_is_charged(tmp_path: Path) -> None:
    with _DeadOnArrival(tmp_path / "w", broken=1) as starter:
        [result] = list(WorkerPool(1, starter).run([task(tmp_path, fx.malicious_pickle())], timeout=60))
    assert not result.errors and result.findings
    assert starter.started == 2


def test_workers_that_cannot_start_are_an_error_for_every_file_and_the_pool_ends(tmp_path: Path) -> None:
    from mlsecops.stages.models.pool import MAX_FAILED_STARTS

    files = [task(tmp_path, fx.malicious_pickle()), task(tmp_path, fx.benign_dict_pickle())]
    files[1].path = "g.pkl"
    with _DeadOnArrival(tmp_path / "w", broken=100) as starter:
        results = list(WorkerPool(2, starter).run(files, timeout=60))
    assert sorted(r.path for r in results) == ["f.pkl", "g.pkl"]
    for r in results:
        [error] = r.errors
        assert not r.findings and error.startswith("the scanning worker could not start (")
        assert error.endswith("tries): it ended while starting (exit code 3)"), error
    assert MAX_FAILED_STARTS <= starter.started <= MAX_FAILED_STARTS + 1  # two were starting at once


def test_files_wait_for_a_working_worker_rather_than_fail_because_another_cannot_start(tmp_path: Path) -> None:
    paths = ["a.pkl", "b.pkl", "c.pkl", "d.pkl"]
    files = []
    for name in paths:
        folder = tmp_path / name.split(".")[0]
        folder.mkdir()
        t = task(folder, fx.malicious_pickle())
        t.path = name
        files.append(t)
    with _DeadOnArrival(tmp_path / "w", broken=0, real_first=True) as starter:
        results = list(WorkerPool(2, starter).run(files, timeout=60))
    assert sorted(r.path for r in results) == paths
    assert all(not r.errors and r.findings for r in results), [r.errors for r in results]


def test_a_worker_that_never_gets_ready_is_bounded(tmp_path: Path) -> None:
    """A start-up that hangs (never says it is ready) is stopped at the ready bound, not waited for."""
    from mlsecops.stages.models.pool import MAX_FAILED_STARTS

    hang = [sys.executable, "-c", "import time; time.sleep(600)"]
    with WorkerStarter(tmp_path / "w", command=hang) as starter:
        pool = WorkerPool(1, starter, ready_timeout=0.5)
        [result] = list(pool.run([task(tmp_path, fx.malicious_pickle())], timeout=60))
    assert not result.findings and "could not start" in result.errors[0] and "not ready after 0.5s" in result.errors[0]
    assert not pool.workers and starter.started == MAX_FAILED_STARTS
