"""The sandboxed worker process: read Task lines (JSON) on stdin, answer FileResult lines.

Started by pool.py with resource limits, a scrubbed environment and its own temp
folder. Results go back on a private copy of the original stdout; the real
stdout and stderr are pointed at /dev/null so nothing an engine prints can
corrupt the protocol. Only JSON crosses the boundary: a compromised worker
cannot make the parent unpickle anything.
"""

from __future__ import annotations

import os
import resource
import sys
import traceback


def main() -> int:
    proto = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    if not os.environ.get("MLSECOPS_WORKER_STDERR"):
        os.dup2(devnull, 2)
    from mlsecops.stages.models.scanfile import FileResult, Task, from_line, scan_file, to_line

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
