"""What the models stage decides about generated files, for comparison with the loaders.

`scan` runs the per-file scanner in process with mlsecops's own engine only (the
loaders are the reference here, not fickling or modelscan), so thousands of generated
files cost seconds. `markers` are the generated files' tell-tale imports, as the
scanner reported them (MLS103 on `tests.differential.markers`)."""

from __future__ import annotations

from pathlib import Path

from mlsecops.stages.models.policy import ModelLimits
from mlsecops.stages.models.scanfile import FileResult, Task, scan_file

MARKERS = "tests.differential.markers"


def scan(path: Path, work: Path, name: str | None = None) -> FileResult:
    work.mkdir(parents=True, exist_ok=True)
    task = Task(source=str(path), path=name or path.name, size=path.stat().st_size, limits=ModelLimits(),
                engines=["mlsecops"], tmpdir=str(work))
    return scan_file(task)


def markers(result: FileResult) -> set[str]:
    out = set()
    for f in result.findings:
        key = str(f.properties.get("key", ""))
        if key.startswith(f"global:{MARKERS}."):
            out.add(key.rsplit(".", 1)[1])
    return out


def rules(result: FileResult) -> set[str]:
    return {f.rule_id for f in result.findings}
