"""Scan files in parallel in sandboxed worker processes, each file under a deadline.

Workers come from a `WorkerStarter` (spawn.py: scrubbed environment, own temp
folder, no core dumps, parent-death signal) and apply each task's memory and
file-size limits themselves before reading the file. A worker that overruns its
deadline is killed and replaced; one that dies (a crash in a native parser) is
replaced; either way the file gets an error, which the policy fails closed on.
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


@dataclass
class _Worker:
    process: WorkerProcess
    task: Task | None = None
    started: float = 0.0
    buf: bytearray = field(default_factory=bytearray)

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        return self.process.proc


class WorkerPool:
    def __init__(self, size: int, starter: WorkerStarter) -> None:
        self.size = max(1, size)
        self.starter = starter
        self.workers: list[_Worker] = []
        self.sel = selectors.DefaultSelector()

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
                                                         f"{task.limits.memory_mb} MiB memory limit"])
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
