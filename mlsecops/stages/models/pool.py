"""Scan files in parallel in sandboxed worker processes, each file under a deadline.

A worker is `python -m mlsecops.stages.models.worker` with an address-space
limit (RLIMIT_AS), file-size and open-file limits, no core dumps, a scrubbed
environment (no tokens) and its own temp folder. A worker that overruns its
deadline is killed and replaced; one that dies (a crash in a native parser) is
replaced; either way the file gets an error, which the policy fails closed on.
Workers die with the gate (parent-death signal), and while they run the gate is
not dumpable, so a worker subverted by a hostile file cannot read the gate's
/proc environ (the token, when the Action got one) or ptrace it.
"""

from __future__ import annotations

import os
import resource
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import mlsecops
from mlsecops.stages.models.scanfile import FileResult, Task, from_line, to_line

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


_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_GET_DUMPABLE = 1, 4, 3


def _prctl(option: int, arg: int) -> int:
    """Linux prctl(2); -1 where it is not available."""
    try:
        import ctypes

        return int(ctypes.CDLL(None, use_errno=True).prctl(option, arg, 0, 0, 0))
    except (OSError, AttributeError):
        return -1


def _limits(memory_mb: int, file_mb: int) -> None:
    """Runs in the child before exec."""
    os.setsid()
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # a gate killed with SIGKILL leaves no worker behind
    mem = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    fsize = file_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))


@dataclass
class _Worker:
    proc: subprocess.Popen[bytes]
    home: Path
    task: Task | None = None
    started: float = 0.0
    buf: bytearray = field(default_factory=bytearray)


class WorkerPool:
    def __init__(self, size: int, workdir: Path, memory_mb: int, file_mb: int) -> None:
        self.size = max(1, size)
        self.workdir = workdir
        self.memory_mb = memory_mb
        self.file_mb = file_mb
        self.workers: list[_Worker] = []
        self.sel = selectors.DefaultSelector()
        self.spawned = 0
        self.was_dumpable: int | None = None

    def _spawn(self) -> _Worker:
        if self.was_dumpable is None:
            self.was_dumpable = _prctl(_PR_GET_DUMPABLE, 0)
            _prctl(_PR_SET_DUMPABLE, 0)
        self.spawned += 1
        home = self.workdir / f"worker-{self.spawned}"
        home.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlsecops.stages.models.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=home,
            env=worker_env(home),
            preexec_fn=lambda: _limits(self.memory_mb, self.file_mb),  # noqa: PLW1509 - single-threaded parent
            close_fds=True,
        )
        w = _Worker(proc=proc, home=home)
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        self.sel.register(proc.stdout, selectors.EVENT_READ, w)
        self.workers.append(w)
        return w

    def _retire(self, w: _Worker) -> None:
        try:
            self.sel.unregister(w.proc.stdout)  # type: ignore[arg-type]
        except (KeyError, ValueError):
            pass
        try:
            os.killpg(w.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        w.proc.wait()
        for stream in (w.proc.stdin, w.proc.stdout):
            if stream:
                stream.close()
        self.workers.remove(w)

    def _send(self, w: _Worker, task: Task) -> None:
        w.task = task
        w.started = time.monotonic()
        w.buf.clear()
        assert w.proc.stdin is not None
        w.proc.stdin.write(to_line(task))
        w.proc.stdin.flush()

    def run(self, tasks: list[Task], timeout: float) -> Iterator[FileResult]:
        """Yield one result per task, in completion order."""
        pending = list(reversed(tasks))
        try:
            while pending or any(w.task for w in self.workers):
                while pending and (len(self.workers) < self.size or any(w.task is None for w in self.workers)):
                    idle = next((w for w in self.workers if w.task is None), None) or self._spawn()
                    task = pending.pop()
                    try:
                        self._send(idle, task)
                    except (BrokenPipeError, OSError):
                        self._retire(idle)
                        yield FileResult(path=task.path, errors=["the scanning worker could not start"])
                now = time.monotonic()
                busy = [w for w in self.workers if w.task]
                wait = max(0.05, min((w.started + timeout - now for w in busy), default=1.0))
                for key, _ in self.sel.select(timeout=wait):
                    w: _Worker = key.data
                    yield from self._read(w)
                now = time.monotonic()
                for w in [w for w in self.workers if w.task and now - w.started > timeout]:
                    task = w.task
                    self._retire(w)
                    assert task is not None
                    yield FileResult(path=task.path, errors=[f"scanning took longer than the {timeout:.0f}s per-file limit and was stopped"])
        finally:
            self.close()

    def _read(self, w: _Worker) -> Iterator[FileResult]:
        assert w.proc.stdout is not None
        try:
            chunk = os.read(w.proc.stdout.fileno(), 1 << 20)
        except BlockingIOError:
            return
        if not chunk:
            task = w.task
            try:
                code: int | None = w.proc.wait(timeout=2)  # stdout closed: it is exiting
            except subprocess.TimeoutExpired:
                code = None
            self._retire(w)
            if task is not None:
                how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                yield FileResult(path=task.path, errors=[f"the scanning worker died ({how}): a parser crashed or hit the "
                                                         f"{self.memory_mb} MiB memory limit"])
            return
        w.buf.extend(chunk)
        while b"\n" in w.buf and w.task is not None:
            line, _, rest = bytes(w.buf).partition(b"\n")
            w.buf[:] = rest
            task = w.task
            w.task = None
            try:
                yield from_line(FileResult, line)
            except ValueError:
                yield FileResult(path=task.path, errors=["the scanning worker sent an unreadable result"])

    def close(self) -> None:
        for w in list(self.workers):
            if w.proc.stdin:
                try:
                    w.proc.stdin.close()
                except OSError:
                    pass
            self._retire(w)
        self.sel.close()
        if self.was_dumpable == 1:
            _prctl(_PR_SET_DUMPABLE, 1)
        self.was_dumpable = None
