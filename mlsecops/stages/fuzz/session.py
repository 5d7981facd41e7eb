"""Replay inputs one at a time in a long-lived sandboxed worker (triage, minimization, base check).

The worker runs in `serve` mode behind a jail: we write the input into its
folder, send one JSON line, read one JSON line back. A Python-level outcome
keeps the worker alive, so minimizing a Python exception costs milliseconds
per try. A fatal signal, a hang or a memory kill ends the worker; the jail's
status says which, and the worker's stderr since that input (faulthandler's
stack dump) is kept; the next call starts a fresh worker. Every call is
bounded by the session's deadline.
"""

from __future__ import annotations

import os
import selectors
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from mlsecops.stages.fuzz import sandbox
from mlsecops.stages.fuzz.job import PROTOCOL, Job, Request
from mlsecops.stages.fuzz.outcome import Outcome
from mlsecops.stages.fuzz.policy import FuzzPolicy
from mlsecops.stages.fuzz.runner import limits
from mlsecops.stages.fuzz.spec import JailStatus

MARK = PROTOCOL.encode()
MAX_LINE = 8 * 1024 * 1024
ResultKind = Literal["ok", "rejected", "exception", "memory", "nonfinite", "signal", "hang", "oom", "exit", "error"]


class Replay(BaseModel):
    kind: ResultKind
    outcome: Outcome | None = None
    signal: int | None = None
    returncode: int | None = None
    stderr: str = ""
    message: str = ""


class SessionSpec(BaseModel):
    """What to load in the worker: the loaders, the harness (in a repository view) or the ONNX model."""

    kind: Literal["loader", "harness", "inference"]
    loaders: list[str] = []
    repo_root: Path | None = None
    harness: str | None = None
    packages: list[str] = []
    model: Path | None = None


class Session:
    def __init__(self, spec: SessionSpec, home: Path, policy: FuzzPolicy, deadline: float,
                 per_input: float | None = None) -> None:
        self.spec, self.home, self.policy, self.deadline = spec, home, policy, deadline
        self.per_input = per_input or policy.exec_timeout_seconds
        self.jail: sandbox.Jail | None = None
        self.starts = 0
        self.count = 0
        self.buf = b""
        self.err_offset = 0

    def _start(self) -> str | None:
        home = self.home / f"w{self.starts}"
        self.starts += 1
        home.mkdir(parents=True, exist_ok=True)
        granted: list[str] = []
        job = Job(mode="serve", kind=self.spec.kind, out=str(home / "out"), loaders=self.spec.loaders,
                  memory_mb=self.policy.memory_mb, instrument=self.spec.packages)
        if self.spec.kind == "harness" and self.spec.repo_root is not None:
            view, granted = sandbox.repo_view(self.spec.repo_root, home)
            job.repo, job.harness, job.repo_real = str(view), str(view / (self.spec.harness or "")), str(self.spec.repo_root)
        if self.spec.kind == "inference" and self.spec.model is not None:
            model = home / "model.onnx"
            model.write_bytes(self.spec.model.read_bytes())
            job.model = str(model)
        (home / "job.json").write_text(job.model_dump_json())
        remaining = max(1.0, self.deadline - time.monotonic())
        spec = sandbox.build_spec(sandbox.worker_argv(str(home / "job.json")), home, remaining,
                                  limits(self.policy, remaining), idle_timeout=self.per_input + 0.5,
                                  extra_read=granted, interactive=True)
        self.jail = sandbox.Jail(spec, interactive=True)
        self.buf = b""
        self.err_offset = 0
        line = self._line(min(remaining, 60.0))
        if line is None or b'"ready"' not in line:
            status = self.jail.stop()
            err = self.jail.stderr()
            self.jail = None
            return f"the replay worker did not start ({status.reason}): {err[-400:].strip()}"
        return None

    def _line(self, timeout: float) -> bytes | None:
        """The next protocol line (marked by PROTOCOL); other output is skipped."""
        assert self.jail is not None and self.jail.proc.stdout is not None
        out = self.jail.proc.stdout
        end = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(out, selectors.EVENT_READ)
            while True:
                while b"\n" in self.buf:
                    line, _, self.buf = self.buf.partition(b"\n")
                    if line.startswith(MARK):
                        return line[len(MARK) :]
                left = end - time.monotonic()
                if left <= 0 or not sel.select(timeout=left):
                    return None
                chunk = os.read(out.fileno(), 1 << 16)
                if not chunk:
                    return None
                self.buf += chunk
                if len(self.buf) > MAX_LINE:
                    return None

    @property
    def warm(self) -> bool:
        """A worker is up: the next replay of a Python-level outcome costs milliseconds."""
        return self.jail is not None and self.jail.alive()

    def run(self, data: bytes, target: str) -> Replay:
        if time.monotonic() >= self.deadline - 0.5:
            return Replay(kind="error", message="out of time")
        if self.jail is None or not self.jail.alive():
            problem = self._start()
            if problem:
                return Replay(kind="error", message=problem)
        assert self.jail is not None and self.jail.proc.stdin is not None
        self.count += 1
        path = Path(self.jail.spec.cwd) / f"in-{self.count % 2}.bin"
        path.write_bytes(data)
        self.err_offset = _size(Path(self.jail.spec.stderr_path))
        try:
            self.jail.proc.stdin.write(Request(input=str(path), target=target).model_dump_json().encode() + b"\n")
            self.jail.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._ended()
        line = self._line(min(self.per_input + 3, max(0.1, self.deadline - time.monotonic())))
        if line is None:
            return self._ended()
        try:
            outcome = Outcome.model_validate_json(line)
        except ValueError:
            return self._ended()
        return Replay(kind=outcome.status, outcome=outcome)

    def _ended(self) -> Replay:
        assert self.jail is not None
        status: JailStatus = self.jail.stop()
        stderr = _read_from(Path(self.jail.spec.stderr_path), self.err_offset)
        self.jail = None
        kind: ResultKind
        if status.reason == "signaled":
            kind = "signal"
        elif status.reason in ("hang", "deadline"):
            kind = "hang" if status.reason == "hang" else "error"
        elif status.reason in ("memory", "processes"):
            kind = "oom"
        elif status.reason == "exited":
            kind = "exit"
        else:
            kind = "error"
        return Replay(kind=kind, signal=status.signal, returncode=status.returncode, stderr=stderr,
                      message=status.message)

    def close(self) -> None:
        if self.jail is not None:
            try:
                if self.jail.proc.stdin:
                    self.jail.proc.stdin.close()
            except OSError:
                pass
            self.jail.stop()
            self.jail = None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _read_from(path: Path, offset: int, limit: int = 256 * 1024) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            return fh.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""
