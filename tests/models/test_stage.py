"""The models stage through the pipeline: sandboxed workers, deadlines, crashes, the cache, LFS, formats."""

from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path

from mlsecops import fixtures as fx
from mlsecops.changes import changeset
from mlsecops.context import Context
from mlsecops.findings import Stage
from mlsecops.policy.loader import load_policy_text
from mlsecops.stages.models import stage
from mlsecops.stages.models.policy import ModelLimits
from mlsecops.stages.models.pool import WorkerPool
from mlsecops.stages.models.scanfile import Task
from mlsecops.stages.models.spawn import WorkerStarter
from tests.conftest import git, make_repo


def ctx(root: Path, tmp: Path, policy: str = "version: 1\n", cache: Path | None = None) -> Context:
    return Context(root=root, workdir=tmp / "work", policy=load_policy_text(policy, "p.yml"), cache_dir=cache,
                   stages=[Stage.models], today=date(2026, 6, 1))


def run(root: Path, tmp: Path, **kw: object):  # type: ignore[no-untyped-def]
    c = ctx(root, tmp, **kw)  # type: ignore[arg-type]
    cs = changeset.build(root, c.workdir, include=c.policy.paths, exclude=c.policy.ignore)
    return stage.run(cs, c)


def test_stage_scans_in_workers_and_skips_non_models(tmp_path: Path) -> None:
    proj = tmp_path / "p"
    (proj / "m").mkdir(parents=True)
    (proj / "m" / "evil.pkl").write_bytes(fx.malicious_pickle())
    (proj / "m" / "ok.safetensors").write_bytes(fx.safetensors_file({"a": 4}))
    (proj / "src.py").write_text("print('hi')\n")
    result = run(proj, tmp_path)
    assert result.stats["artifacts"] == 2 and not result.errors
    assert [f.path for f in result.findings] == ["m/evil.pkl"]
    assert result.findings[0].engines == ["fickling", "mlsecops", "modelscan"]


def test_lfs_pointer_is_reported_per_policy(tmp_path: Path) -> None:
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "model.bin").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:" + "a" * 64 + "\nsize 1234\n")
    found = run(proj, tmp_path)
    assert [(f.rule_id, f.severity.value) for f in found.findings] == [("MLS002", "high")]
    assert not run(proj, tmp_path, policy="lfs_pointers: off\n").findings


def test_blocked_and_allowed_formats(tmp_path: Path) -> None:
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "state.pt").write_bytes(fx.torch_zip({"w": 4}))
    (proj / "ok.safetensors").write_bytes(fx.safetensors_file({"a": 4}))
    strict = run(proj, tmp_path, policy="models:\n  blocked_formats: [pytorch-zip]\n")
    assert [(f.rule_id, f.path) for f in strict.findings] == [("MLS004", "state.pt")]
    allow = run(proj, tmp_path, policy="models:\n  allowed_formats: [safetensors]\n")
    assert [(f.rule_id, f.path) for f in allow.findings] == [("MLS004", "state.pt")]


def test_cache_by_blob_id_survives_renames(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    make_repo(repo, {}, {"a/evil.pkl": fx.malicious_pickle(), "b/ok.pt": fx.torch_zip({"w": 2})})
    cache = tmp_path / "cache"
    first = run(repo, tmp_path, cache=cache)
    second = run(repo, tmp_path, cache=cache)
    assert first.stats["cached"] == 0 and second.stats["cached"] == 2
    assert [f.model_dump() for f in first.findings] == [f.model_dump() for f in second.findings]
    git(repo, "mv", "a/evil.pkl", "a/renamed.pkl")
    git(repo, "commit", "-q", "-m", "rename")
    third = run(repo, tmp_path, cache=cache)
    assert third.stats["cached"] == 2 and third.findings[0].path == "a/renamed.pkl"
    assert third.findings[0].fingerprint != first.findings[0].fingerprint
    (repo / "a" / "renamed.pkl").write_bytes(fx.malicious_pickle("echo changed"))  # dirty: no blob id, no cache
    assert run(repo, tmp_path, cache=cache).stats["cached"] == 1


def task(tmp_path: Path, data: bytes) -> Task:
    p = tmp_path / "f.pkl"
    p.write_bytes(data)
    return Task(source=str(p), path="f.pkl", size=len(data), limits=ModelLimits(), tmpdir=".")


def slow_task(tmp_path: Path, opcodes: int = 4_000_000) -> Task:
    """A pickle whose scan costs about a second of CPU even on a fast idle machine (4M opcodes
    walked by three engines); a loaded machine only makes it slower."""
    from tests.adversarial.attacks import opcode_flood

    p = tmp_path / "flood.pkl"
    p.write_bytes(opcode_flood(opcodes))
    return Task(source=str(p), path="flood.pkl", size=p.stat().st_size, limits=ModelLimits(), tmpdir=".")


def test_a_worker_over_its_deadline_is_killed_and_reported(tmp_path: Path) -> None:
    # The deadline counts the scan only (a worker's start-up is not charged), so the file must
    # itself outlast it: ~1 s of CPU at best against 0.05 s.
    with WorkerStarter(tmp_path / "w") as starter:
        pool = WorkerPool(1, starter)
        results = list(pool.run([slow_task(tmp_path)], timeout=0.05))
    assert len(results) == 1 and "longer than" in results[0].errors[0]
    assert not pool.workers


def test_a_worker_that_dies_is_reported_and_replaced(tmp_path: Path) -> None:
    import signal
    import threading

    from tests.adversarial.harness import holds_open

    starter = WorkerStarter(tmp_path / "w")
    pool = WorkerPool(1, starter)
    killed: list[int] = []

    def kill_the_worker_scanning_the_flood() -> None:
        # Once the worker has the file open it is scanning it (for a second of CPU at least).
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            for w in list(pool.workers):
                if w.task is not None and w.task.path == "flood.pkl" and holds_open(w.proc.pid, "flood.pkl"):
                    os.kill(w.proc.pid, signal.SIGKILL)
                    killed.append(w.proc.pid)
            time.sleep(0.01)

    watcher = threading.Thread(target=kill_the_worker_scanning_the_flood, daemon=True)
    watcher.start()
    with starter:
        results = list(pool.run([slow_task(tmp_path), task(tmp_path, fx.malicious_pickle())], timeout=300))
    killed.append(0)  # stops the watcher if it never fired
    watcher.join()
    assert len(results) == 2
    assert results[0].path == "flood.pkl" and "worker died (signal 9)" in results[0].errors[0], results[0].errors
    assert not results[1].errors and results[1].findings  # a fresh worker took the next file
    assert starter.started == 2


def test_workers_get_no_tokens(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from mlsecops.stages.models.spawn import worker_env

    monkeypatch.setenv("GITHUB_TOKEN", "ghs_secret")
    monkeypatch.setenv("INPUT_GITHUB-TOKEN", "ghs_secret")
    env = worker_env(tmp_path)
    assert "ghs_secret" not in " ".join(env.values()) and not any("TOKEN" in k for k in env)


def test_file_vanishing_mid_scan_is_an_error_not_a_crash(tmp_path: Path) -> None:
    t = task(tmp_path, fx.malicious_pickle())
    os.unlink(t.source)
    with WorkerStarter(tmp_path / "w") as starter:
        [res] = list(WorkerPool(1, starter).run([t], timeout=60))
    assert res.errors == ["the file vanished during the scan"]
