"""Secrets: with a canary token in every variable a CI runner sets, the token reaches no
log, report or comment, no models worker's environment, no fuzz sandbox, no git child;
and a worker (or sandboxed target) subverted by a hostile file cannot read it from the
gate's /proc environ either, because the gate is not dumpable while they run.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlsecops.changes import git as git_plumbing
from tests.adversarial import attacks as A
from tests.adversarial.conftest import SENTINEL
from tests.adversarial.harness import (
    CANARY, CANARY_ENV, gate_args, run_gate, start_gate, wait_for_workers, wait_gate,
)

WORKER_ENV_ALLOWED = {"PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT", "HOME", "TMPDIR", "PYTHONPATH",
                      "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                      "MKL_NUM_THREADS", "HDF5_USE_FILE_LOCKING", "LC_CTYPE"}


def _all_text(folder: Path) -> str:
    return "\n".join(p.read_text("utf-8", "replace") for p in folder.rglob("*") if p.is_file())


def test_no_output_carries_the_token(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / SENTINEL).write_bytes(A.EVIL)
    (root / f"{CANARY}.txt").write_text("a file named like a token is not the token's leak")
    run = run_gate(root, tmp_path / "out", env=CANARY_ENV, markdown=True, timeout=120)
    assert run.code == 1
    text = _all_text(tmp_path / "out")
    assert CANARY not in text.replace(f"{CANARY}.txt", "")


def test_workers_environment_has_no_token(tmp_path: Path) -> None:
    """Read /proc/<worker>/environ while the worker scans a slow file."""
    root = tmp_path / "ws"
    root.mkdir()
    (root / "slow.pkl").write_bytes(A.opcode_flood(10_000_000))
    proc = start_gate(gate_args(root, tmp_path / "out"), tmp_path / "out", env=CANARY_ENV)
    try:
        pids = wait_for_workers(proc.pid)
        assert pids, "no worker started"
        for pid in pids:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                environ = fh.read()
            assert CANARY.encode() not in environ
            keys = {item.split(b"=", 1)[0].decode() for item in environ.split(b"\0") if item}
            assert keys <= WORKER_ENV_ALLOWED, keys - WORKER_ENV_ALLOWED
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        wait_gate(proc, 30)


def _prctl(option: int) -> int:
    return int(ctypes.CDLL(None, use_errno=True).prctl(option, 0, 0, 0, 0))


def test_the_gate_is_not_dumpable_while_workers_run(tmp_path: Path) -> None:
    from mlsecops.stages.models.pool import WorkerPool
    from mlsecops.stages.models.policy import ModelLimits
    from mlsecops.stages.models.scanfile import Task
    from mlsecops.stages.models.spawn import WorkerStarter

    PR_GET_DUMPABLE = 3  # noqa: N806
    before = _prctl(PR_GET_DUMPABLE)
    path = tmp_path / "m.pkl"
    path.write_bytes(A.EVIL)
    task = Task(source=str(path), path="m.pkl", size=path.stat().st_size, limits=ModelLimits(), tmpdir=".")
    seen = []
    with WorkerStarter(tmp_path / "w") as starter:
        for result in WorkerPool(1, starter).run([task], 60):
            seen.append(_prctl(PR_GET_DUMPABLE))
            assert result.findings
    assert seen == [0]
    assert _prctl(PR_GET_DUMPABLE) == before


def _as_nobody() -> None:
    os.setgid(65534)
    os.setgroups([])
    os.setuid(65534)


_PROBE = ("import sys\ntry:\n open(f'/proc/{sys.argv[1]}/environ','rb').read(); print('READ')\n"
          "except OSError as e:\n print('DENIED', e.errno)")


@pytest.fixture
def same_user() -> Iterator[tuple[Path, object]]:
    """A folder and a preexec that make the gate and the probe the same unprivileged user."""
    folder = Path(tempfile.mkdtemp(prefix="mlsecops-uid-", dir="/tmp"))
    preexec = None
    if os.geteuid() == 0:
        os.chmod(folder, 0o777)
        preexec = _as_nobody
        try:
            usable = subprocess.run([sys.executable, "-c", "pass"], preexec_fn=preexec,  # noqa: PLW1509
                                    capture_output=True).returncode == 0
        except OSError:
            usable = False
        if not usable:
            shutil.rmtree(folder, ignore_errors=True)
            pytest.skip("running as root, and this interpreter is not executable by nobody")
    yield folder, preexec
    shutil.rmtree(folder, ignore_errors=True)


def test_a_subverted_worker_cannot_read_the_gates_environ(same_user) -> None:  # type: ignore[no-untyped-def]
    """The gate has the token in its environment; another process of its user (what a worker
    exploited by a hostile file would be) tries /proc/<gate>/environ while workers run."""
    folder, preexec = same_user
    root, out = folder / "ws", folder / "out"
    root.mkdir()
    out.mkdir()
    (root / "slow.pkl").write_bytes(A.opcode_flood(10_000_000))
    for p in (root, out, root / "slow.pkl"):
        os.chmod(p, 0o777 if p.is_dir() else 0o666)
    env = {**CANARY_ENV, "HOME": str(folder), "TMPDIR": str(folder)}
    control = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env,  # noqa: PLW1509
                               preexec_fn=preexec)
    proc = start_gate(gate_args(root, out), out, env=env, cwd=folder, preexec=preexec)  # type: ignore[arg-type]
    try:
        assert wait_for_workers(proc.pid), (out / "stderr.txt").read_text()
        probe = [sys.executable, "-c", _PROBE]
        seen = subprocess.run([*probe, str(control.pid)], capture_output=True, text=True, preexec_fn=preexec)  # noqa: PLW1509
        assert seen.stdout.startswith("READ"), "control: the probe can read a dumpable process of its user"
        seen = subprocess.run([*probe, str(proc.pid)], capture_output=True, text=True, preexec_fn=preexec)  # noqa: PLW1509
        assert seen.stdout.startswith("DENIED"), seen.stdout + seen.stderr
    finally:
        control.kill()
        control.wait()
        os.killpg(proc.pid, signal.SIGTERM)
        wait_gate(proc, 30)


HARNESS = '''
import os

CANARY = "ghs_mlsecopsCanaryToken"


def _ancestors_environ():
    out, pid = [], os.getpid()
    for _ in range(16):
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                pid = int(fh.read().rsplit(b")", 1)[1].split()[1])
        except OSError:
            break
        if pid <= 1:
            break
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                out.append(fh.read())
        except OSError:
            pass
    return b"\\0".join(out)


def TestOneInput(data):
    own = "\\0".join(f"{k}={v}" for k, v in os.environ.items())
    leaked = CANARY in own or any(k.startswith(("GITHUB_", "ACTIONS_", "INPUT_")) for k in os.environ)
    up = CANARY.encode() in _ancestors_environ()
    raise RuntimeError(f"ENV-{'LEAKED' if leaked else 'CLEAN'} ANCESTORS-{'LEAKED' if up else 'CLEAN'}")
'''


@pytest.mark.slow
def test_fuzz_sandbox_sees_no_token_and_cannot_read_the_gates(tmp_path: Path) -> None:
    """A repository harness (attacker code) reports what it can see by the exception it raises."""
    root = tmp_path / "ws"
    (root / "fuzz").mkdir(parents=True)
    (root / "fuzz" / "fuzz_env.py").write_text(HARNESS)
    run = run_gate(root, tmp_path / "out", "--fuzz-budget", "8", stages="fuzz", env=CANARY_ENV, timeout=180)
    assert run.report is not None, run.stderr[-2000:]
    messages = " ".join(f["message"] for f in run.findings)
    if "ENV-" not in messages:
        pytest.skip(f"the fuzz stage did not run the harness here: {run.errors or run.findings}")
    assert "ENV-CLEAN ANCESTORS-CLEAN" in messages, messages
    assert "LEAKED" not in messages
    assert CANARY not in _all_text(tmp_path / "out")


def test_git_children_get_a_scrubbed_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[dict[str, str]] = []
    real = subprocess.run

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(kwargs.get("env") or {})
        return real(*args, **kwargs)

    for key, value in CANARY_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(git_plumbing.subprocess, "run", spy)
    git_plumbing.toplevel(tmp_path)
    assert seen and all(CANARY not in "".join(env.values()) for env in seen)


def test_pip_resolver_child_gets_no_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`deps.resolve: true` runs pip, which can run sdist build code from the pull request."""
    from mlsecops.stages.deps import resolver

    captured: dict[str, object] = {}

    class FakePopen:
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            captured.update(kwargs)
            self.pid, self.returncode = os.getpid(), 0

        def communicate(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return b"[]", b""

        def wait(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return 0

    for key, value in CANARY_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(resolver.subprocess, "Popen", FakePopen)
    monkeypatch.setattr(resolver.os, "killpg", lambda *a: None)
    resolver.resolve(["requests"], tmp_path, 10)
    env = captured.get("env")
    assert env is not None and CANARY not in "".join(dict(env).values())  # type: ignore[call-overload]
