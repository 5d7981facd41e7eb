"""Scan bytes with the models stage's per-file scanner, in process (the pool is tested separately)."""

from __future__ import annotations

from pathlib import Path

from mlsecops.stages.models.policy import ModelLimits
from mlsecops.stages.models.scanfile import FileResult, Task, scan_file


def scan_bytes(tmp_path: Path, name: str, data: bytes, **limits: int) -> FileResult:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return scan_path(tmp_path, path, **limits)


def scan_path(tmp_path: Path, path: Path, unknown: str = "medium", unknown_calls: str = "high", **limits: int) -> FileResult:
    work = tmp_path / "_work"
    work.mkdir(exist_ok=True)
    task = Task(source=str(path), path=path.name, size=path.stat().st_size, limits=ModelLimits(**limits),
                unknown_globals=unknown, unknown_calls=unknown_calls, tmpdir=str(work))
    return scan_file(task)


def rules(result: FileResult) -> set[str]:
    return {f.rule_id for f in result.findings}


def blocks(result: FileResult) -> bool:
    return any(f.severity.rank >= 3 for f in result.findings)


def keys(result: FileResult) -> set[str]:
    return {str(f.properties.get("key")) for f in result.findings}
