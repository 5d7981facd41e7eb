"""The sandboxed worker process: read Task lines (JSON) on stdin, answer FileResult lines.

Started by pool.py with resource limits, a scrubbed environment and its own temp
folder. Results go back on a private copy of the original stdout; the real
stdout and stderr are pointed at /dev/null so nothing an engine prints can
corrupt the protocol. Only JSON crosses the boundary: a compromised worker
cannot make the parent unpickle anything.
"""

from __future__ import annotations

import os
import sys
import traceback


def main() -> int:
    proto = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    if not os.environ.get("MLSECOPS_WORKER_STDERR"):
        os.dup2(devnull, 2)
    from mlsecops.stages.models.scanfile import FileResult, Task, scan_file

    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        try:
            task = Task.model_validate_json(line)
        except ValueError as exc:
            proto.write(FileResult(path="?", errors=[f"bad task: {exc}"]).model_dump_json().encode() + b"\n")
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
        proto.write(result.model_dump_json().encode() + b"\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
