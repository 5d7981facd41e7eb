"""Run one peer scanner over files listed on stdin; print one JSON line per file.

Each peer runs in its own process (started by the benchmarks), with a per-file
alarm, so a peer that hangs or crashes on a hostile file costs only that file.
Verdicts use each tool's own notion of "flagged".
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import signal
import sys
import time
import warnings
import zipfile


class Timeout(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise Timeout()


def fickling_scan(path: str) -> tuple[bool, bool]:
    from fickling.loader import scan_file, scan_zip_archive

    if zipfile.is_zipfile(path):
        results = scan_zip_archive(path, graceful=True)
        flagged = any(not r.is_safe for r in results.values())
        return flagged, any(r.errors for r in results.values()) and not flagged
    r = scan_file(path, graceful=True)
    return (not r.is_safe), bool(r.errors) and r.is_safe


def modelscan_scan(path: str) -> tuple[bool, bool]:
    import copy

    from modelscan.modelscan import ModelScan
    from modelscan.settings import DEFAULT_SETTINGS

    logging.disable(logging.CRITICAL)
    settings = copy.deepcopy(DEFAULT_SETTINGS)
    settings["reporting"] = {"module": "modelscan.reports.JSONReport", "settings": {}}
    report = ModelScan(settings=settings).scan(path)
    return report["summary"]["total_issues"] > 0, bool(report.get("errors"))


def picklescan_scan(path: str) -> tuple[bool, bool]:
    from picklescan.scanner import scan_file_path

    r = scan_file_path(path)
    return r.issues_count > 0 or r.infected_files > 0, bool(r.scan_err)


def modelaudit_scan(path: str) -> tuple[bool, bool]:
    """ModelAudit (its own venv, see `make bench-peers`): flagged on a critical or warning issue."""
    from modelaudit.core import scan_model_directory_or_file

    logging.disable(logging.CRITICAL)
    result = scan_model_directory_or_file(path, timeout=60)
    data = result.model_dump() if hasattr(result, "model_dump") else dict(result)
    severities = {str(i.get("severity", "")).lower().rsplit(".", 1)[-1] for i in data.get("issues", [])}
    flagged = bool(severities & {"critical", "warning"})
    return flagged, bool(data.get("has_errors")) and not flagged


TOOLS = {"fickling": fickling_scan, "modelscan": modelscan_scan, "picklescan": picklescan_scan,
         "modelaudit": modelaudit_scan}


def main() -> int:
    tool = TOOLS[sys.argv[1]]
    per_file = float(sys.argv[2]) if len(sys.argv) > 2 else 60
    signal.signal(signal.SIGALRM, _alarm)
    warnings.filterwarnings("ignore")
    for line in sys.stdin:
        path = line.rstrip("\n")
        if not path:
            continue
        start = time.monotonic()
        out: dict[str, object] = {"path": path}
        sink = io.StringIO()
        signal.setitimer(signal.ITIMER_REAL, per_file)
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                flagged, error = tool(path)
            out.update(flagged=flagged, error=error)
        except Timeout:
            out.update(flagged=False, error=True, crash="timeout")
        except Exception as exc:  # noqa: BLE001 - a peer raising is a data point
            out.update(flagged=False, error=True, crash=f"{type(exc).__name__}: {str(exc)[:120]}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        out["seconds"] = round(time.monotonic() - start, 4)
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
