"""Start models-stage worker processes: a scrubbed environment, a new session, no core
dumps, a parent-death signal, and each worker in its own temp folder.

Kept free of heavy imports so the CLI can start a worker before it imports the
rest of the gate: the worker imports fickling, modelscan and numpy on the
second core while the gate imports pydantic and reads the policy. The policy's
memory and file-size limits are not known that early; the worker applies them
itself from each task, before it reads a byte of the file (see worker.py).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import mlsecops
from mlsecops import processes

_ENV_KEEP = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")


def worker_env(home: Path) -> dict[str, str]:
    env = {k: os.environ[k] for k in _ENV_KEEP if k in os.environ}
    env.update(
        HOME=str(home),
        TMPDIR=str(home),
        PYTHONPATH=str(Path(mlsecops.__file__).resolve().parents[1]),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        HDF5_USE_FILE_LOCKING="FALSE",
    )
    return env


def _sandbox() -> None:
    """Runs in the child before exec."""
    os.setsid()
    processes.prctl(processes.PR_SET_PDEATHSIG, signal.SIGKILL)  # a gate killed with SIGKILL leaves no worker behind
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    home: Path


class WorkerStarter:
    """Starts workers, and may start one ahead of need; closing it kills the unused ones.

    While it is open the gate is not dumpable, so a worker subverted by a hostile
    file cannot read the gate's /proc environ (the token, when the Action got one)
    or ptrace it.
    """

    def __init__(self, workdir: Path, command: list[str] | None = None) -> None:
        self.workdir = workdir
        self.command = command or [sys.executable, "-m", "mlsecops.stages.models.worker"]
        self.started = 0
        self.ready: list[WorkerProcess] = []
        self.was_dumpable: bool | None = None

    def __enter__(self) -> WorkerStarter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> WorkerProcess:
        if self.was_dumpable is None:
            self.was_dumpable = processes.is_dumpable()
            processes.set_dumpable(False)
        self.started += 1
        home = self.workdir / f"worker-{self.started}"
        home.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=home,
            env=worker_env(home),
            preexec_fn=_sandbox,  # noqa: PLW1509 - single-threaded parent
            close_fds=True,
        )
        return WorkerProcess(proc=proc, home=home)

    def prestart(self) -> None:
        """Start a worker now, to warm up while the gate does other work."""
        self.ready.append(self.start())

    def take(self) -> WorkerProcess:
        """A worker: one started ahead (and still alive), or a new one."""
        while self.ready:
            w = self.ready.pop(0)
            if w.proc.poll() is None:
                return w
            kill(w)
        return self.start()

    def close(self) -> None:
        for w in self.ready:
            kill(w)
        self.ready.clear()
        if self.was_dumpable:
            processes.set_dumpable(True)
        self.was_dumpable = None


def kill(w: WorkerProcess) -> None:
    processes.kill_group(w.proc)
