"""Scan files in parallel in sandboxed worker processes, each file under a deadline.

Workers come from a `WorkerStarter` (spawn.py: scrubbed environment, own temp
folder, no core dumps, parent-death signal) and apply each task's memory and
file-size limits themselves before reading the file. A worker says it is ready
once it has imported the engines; only then is it handed a file, and only then
does that file's deadline start, so a file's deadline counts the scan of that
file, never a fresh worker's start-up (which a loaded machine can stretch to
many seconds). A worker that does not get ready within `ready_timeout` is its
own error: it is replaced, and after `MAX_FAILED_STARTS` such failures in a row
(with no worker left that could take them) the files still waiting get an error
instead of a scan. A worker that overruns
a file's deadline is killed and replaced; one that dies (a crash in a native
parser) is replaced; either way the file gets an error, which the policy fails
closed on.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from mlsecops.stages.models.scanfile import FileResult, Task, from_line, to_line
from mlsecops.stages.models.spawn import WorkerProcess, WorkerStarter, kill
from mlsecops.stages.models.worker import READY

# Generous on purpose: importing fickling, modelscan and numpy takes a few seconds alone and
# several times that on a loaded machine. It bounds a worker that cannot start at all (a broken
# install, a starved machine); it is not a scan deadline, and no file is charged for it.
READY_SECONDS = 120.0
MAX_FAILED_STARTS = 3


@dataclass
class _Worker:
    process: WorkerProcess
    spawned: float = field(default_factory=time.monotonic)
    ready: bool = False
    task: Task | None = None
    started: float = 0.0
    buf: bytearray = field(default_factory=bytearray)

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        return self.process.proc


class WorkerPool:
    def __init__(self, size: int, starter: WorkerStarter, ready_timeout: float = READY_SECONDS) -> None:
        self.size = max(1, size)
        self.starter = starter
        self.ready_timeout = ready_timeout
        self.workers: list[_Worker] = []
        self.sel = selectors.DefaultSelector()
        self.failed_starts = 0
        self.start_problem = ""

    def _spawn(self) -> _Worker:
        w = _Worker(process=self.starter.take())
        assert w.proc.stdout is not None
        os.set_blocking(w.proc.stdout.fileno(), False)
        self.sel.register(w.proc.stdout, selectors.EVENT_READ, w)
        self.workers.append(w)
        return w

    def _retire(self, w: _Worker) -> None:
        try:
            self.sel.unregister(w.proc.stdout)  # type: ignore[arg-type]
        except (KeyError, ValueError):
            pass
        kill(w.process)
        if w in self.workers:
            self.workers.remove(w)

    def _start_failed(self, w: _Worker, problem: str) -> None:
        """A worker that never took a file: replaced, and no file is charged. Counted until a
        worker answers a file, so a pool whose workers cannot start at all still ends."""
        self._retire(w)
        self.failed_starts += 1
        self.start_problem = problem

    def _send(self, w: _Worker, task: Task) -> None:
        w.task = task
        w.started = time.monotonic()
        w.buf.clear()
        assert w.proc.stdin is not None
        w.proc.stdin.write(to_line(task))
        w.proc.stdin.flush()

    def _staff(self, pending: list[Task]) -> None:
        """Start workers while files wait and the pool has room: they warm up in parallel.
        After MAX_FAILED_STARTS failed starts in a row, no more until a worker answers a file."""
        if self.failed_starts >= MAX_FAILED_STARTS:
            return
        starting = sum(1 for w in self.workers if not w.ready)
        idle = sum(1 for w in self.workers if w.ready and w.task is None)
        while len(self.workers) < self.size and len(pending) > starting + idle:
            self._spawn()
            starting += 1

    def run(self, tasks: list[Task], timeout: float) -> Iterator[FileResult]:
        """Yield one result per task, in completion order."""
        pending = list(reversed(tasks))
        try:
            while pending or any(w.task for w in self.workers):
                if self.failed_starts >= MAX_FAILED_STARTS and not self.workers:
                    # No worker can start and none is left (ready or starting) to take the files.
                    why = f"the scanning worker could not start ({self.failed_starts} tries): {self.start_problem}"
                    while pending:
                        yield FileResult(path=pending.pop().path, errors=[why])
                    break
                self._staff(pending)
                for w in [w for w in self.workers if w.ready and w.task is None]:
                    if not pending:
                        break
                    task = pending.pop()
                    try:
                        self._send(w, task)
                    except (BrokenPipeError, OSError):
                        self._start_failed(w, "it ended before it was given a file")
                        pending.append(task)  # the file was not scanned: a fresh worker takes it
                yield from self._wait(timeout)
        finally:
            self.close()

    def _wait(self, timeout: float) -> Iterator[FileResult]:
        """Read what the workers sent until the next deadline, then enforce the deadlines."""
        now = time.monotonic()
        ends = [w.started + timeout if w.task else w.spawned + self.ready_timeout
                for w in self.workers if w.task or not w.ready]
        wait = max(0.05, min((end - now for end in ends), default=1.0))
        for key, _ in self.sel.select(timeout=wait):
            w: _Worker = key.data
            yield from self._read(w)
        now = time.monotonic()
        for w in list(self.workers):
            if w.task and now - w.started > timeout:
                task = w.task
                self._retire(w)
                yield FileResult(path=task.path, errors=[f"scanning took longer than the {timeout:.0f}s per-file limit and was stopped"])
            elif not w.ready and now - w.spawned > self.ready_timeout:
                self._start_failed(w, f"not ready after {self.ready_timeout:g}s")

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
            how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            if not w.ready:
                self._start_failed(w, f"it ended while starting ({how})")
                return
            self._retire(w)
            if task is not None:
                yield FileResult(path=task.path, errors=[f"the scanning worker died ({how}): a parser crashed or hit the "
                                                         f"{task.limits.memory_mb} MiB memory limit"])
            return
        w.buf.extend(chunk)
        while b"\n" in w.buf:
            line, _, rest = bytes(w.buf).partition(b"\n")
            if not w.ready:
                w.buf[:] = rest
                if line + b"\n" != READY:
                    self._start_failed(w, "it sent something other than its ready line")
                    return
                w.ready = True
                continue
            if w.task is None:
                break
            w.buf[:] = rest
            task = w.task
            w.task = None
            self.failed_starts = 0
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
