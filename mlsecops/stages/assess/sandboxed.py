"""Run one assess job in the fuzz stage's sandbox and read back what it finished.

The jail is the fuzz stage's (`stages/fuzz/sandbox.py`): a separate process in
its own session, no network (a network namespace, or Landlock's TCP rules), a
scrubbed environment, a temporary folder as HOME, Landlock reads limited to the
Python install and that folder, rlimits, a resident-memory watch and a
wall-clock kill. The model and the data are copied into the folder first. The
worker's results are validated (`job.Results`) before the gate uses them.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from pydantic import BaseModel

from mlsecops.stages.assess.job import Job, Results
from mlsecops.stages.fuzz import sandbox
from mlsecops.stages.fuzz.spec import JailStatus, Limits

MAX_RESULTS_BYTES = 16 * 1024 * 1024


class Outcome(BaseModel):
    results: Results | None
    status: JailStatus
    inflight: str = ""
    stderr: str = ""

    @property
    def clean(self) -> bool:
        return self.status.reason == "exited" and self.status.returncode == 0 and self.inflight == "done"

    def how(self) -> str:
        s = self.status
        if s.reason == "signaled" and s.signal:
            try:
                name = signal.Signals(s.signal).name
            except ValueError:
                name = f"signal {s.signal}"
            return f"the process died with {name}"
        if s.reason == "exited":
            return f"the process exited with status {s.returncode}"
        return s.message or s.reason


def run(job: Job, home: Path, timeout: float, memory_mb: int) -> Outcome:
    job_path = home / "job.json"
    job_path.write_text(job.model_dump_json())
    limits = Limits(memory_mb=memory_mb, address_space_mb=memory_mb * 2 + 4096, cpu_seconds=int(timeout * 2 + 10),
                    file_mb=256)
    argv = [sys.executable, "-P", "-s", "-m", "mlsecops.stages.assess.worker", str(job_path)]
    spec = sandbox.build_spec(argv, home, timeout, limits)
    status, stderr = sandbox.run(spec)
    return Outcome(results=_read(Path(job.out)), status=status, inflight=_text(Path(job.inflight)), stderr=stderr[-4000:])


def _text(path: Path) -> str:
    try:
        return path.read_text("utf-8", "replace")[:200]
    except OSError:
        return ""


def _read(path: Path) -> Results | None:
    try:
        if path.stat().st_size > MAX_RESULTS_BYTES:
            return None
        return Results.model_validate_json(path.read_bytes())
    except (OSError, ValueError):
        return None
