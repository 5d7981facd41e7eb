"""The sandboxed worker process: read Task lines (JSON) on stdin, answer FileResult lines.

Started by spawn.py with a scrubbed environment and its own temp folder, often
before the gate knows there is anything to scan: it imports what scanning needs
while it waits, then says READY (the gate hands it a file, and starts that
file's deadline, only then), and applies each task's memory and file-size
limits before it opens the file. Results go back on a private copy of the original stdout; the real
stdout and stderr are pointed at /dev/null so nothing an engine prints can
corrupt the protocol. Only JSON crosses the boundary: a compromised worker
cannot make the parent unpickle anything.
"""

from __future__ import annotations

import importlib
import os
import resource
import sys
import traceback

# Imported while the worker waits for its first task (the parent imports in parallel).
WARM_MODULES = (
    "mlsecops.stages.models.registry",
    "mlsecops.stages.models.engines.fickling_engine",
    "mlsecops.stages.models.engines.modelscan_engine",
    "fickling.fickle",
    "fickling.analysis",
    "fickling.loader",
    "modelscan.modelscan",
    "modelscan.settings",
    "modelscan.reports",
)
# The first line a worker sends, once warm: the pool starts a file's deadline only after it.
READY = b'{"ready": true}\n'


def main() -> int:
    proto = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    if not os.environ.get("MLSECOPS_WORKER_STDERR"):
        os.dup2(devnull, 2)
    from mlsecops.stages.models.scanfile import FileResult, Task, from_line, scan_file, to_line

    warm()
    proto.write(READY)
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        try:
            task = from_line(Task, line)
        except ValueError as exc:
            proto.write(to_line(FileResult(path="?", errors=[f"bad task: {exc}"])))
            continue
        _cpu_backstop(task.limits.timeout_seconds)
        try:
            apply_limits(task.limits.memory_mb, task.limits.max_expanded_mb + 64)
        except (ValueError, OSError) as exc:
            proto.write(to_line(FileResult(path=task.path, errors=[f"cannot set the worker's resource limits: {exc}"])))
            continue
        try:
            result = scan_file(task)
        except MemoryError:
            result = FileResult(path=task.path, errors=[f"ran out of the {task.limits.memory_mb} MiB memory limit"])
        except RecursionError:
            result = FileResult(path=task.path, errors=["nesting too deep to analyse (recursion limit)"])
        except Exception as exc:  # noqa: BLE001 - report, never die silently
            tb = traceback.extract_tb(exc.__traceback__)[-1]
            where = f"{os.path.basename(tb.filename)}:{tb.lineno}"
            result = FileResult(path=task.path, errors=[f"internal error {type(exc).__name__} at {where}: {str(exc)[:200]}"])
        proto.write(to_line(result))
    return 0


def warm() -> None:
    """Import the analyzers and engines, build the allowlist, and scan one small pickle of our
    own, ahead of the first task: the first file's deadline then pays for its own scan, not for
    first-call set-up (the allowlist's patterns, fickling's and modelscan's first analysis).
    An engine that fails to import is left for the scan to report."""
    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001, S112 - the scan that needs it reports the failure
            continue
    try:
        _scan_own_pickle()
    except Exception:  # noqa: BLE001, S110 - only a warm-up: the real scans report their own failures
        pass


def _scan_own_pickle() -> None:
    import collections
    import pickle
    import tempfile
    from pathlib import Path

    from mlsecops.stages.models.policy import ModelLimits
    from mlsecops.stages.models.scanfile import Task, scan_file

    data = pickle.dumps(collections.OrderedDict(w=[1, 2.0], b=b"x"), protocol=4)  # written here, never loaded
    with tempfile.TemporaryDirectory(prefix="warm-") as tmp:
        path = Path(tmp) / "warm.pkl"
        path.write_bytes(data)
        scan_file(Task(source=str(path), path="warm.pkl", size=len(data), limits=ModelLimits(), tmpdir=tmp))


def apply_limits(memory_mb: int, file_mb: int) -> None:
    """Cap the address space and the size of any file written, soft and hard: once
    lowered, a subverted worker cannot raise them again."""
    for which, mb in ((resource.RLIMIT_AS, memory_mb), (resource.RLIMIT_FSIZE, file_mb)):
        value = mb * 1024 * 1024
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))


def _cpu_backstop(timeout: float) -> None:
    """A CPU-time limit a little past this task's deadline: the parent kills an overrunning
    worker, but should the parent be gone, the kernel still stops a worker stuck in a parser."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime + timeout) + 5
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    except (ValueError, OSError):
        pass


if __name__ == "__main__":
    raise SystemExit(main())
