"""Everything one run needs, resolved once by the CLI or the Action adapter.

Nothing below the adapters reads os.environ: what a stage may know is in here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from mlsecops.changes.filelist import ChangedFile
from mlsecops.findings import Finding, Stage
from mlsecops.policy.model import Policy
from mlsecops.stages.models.spawn import WorkerStarter


class Outputs(BaseModel):
    sarif: Path | None = None
    sarif_category: str | None = Field(default=None, description="SARIF runs are `<category>/<stage>/` (default mlsecops)")
    json_report: Path | None = None
    markdown: Path | None = None


def _silent(_: str) -> None:
    return None


class Context(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    root: Path
    base: str | None = None
    head: str | None = None
    all_files: bool = False
    changed_files: list[ChangedFile] | None = Field(
        default=None, description="the changed files as listed by the CI system, used instead of git diff"
    )
    policy: Policy = Field(default_factory=Policy)
    policy_source: str = "policies/default.yml (shipped)"
    policy_findings: list[Finding] = Field(
        default_factory=list, description="findings about the policy itself (edited in the PR)"
    )
    stages: list[Stage] = Field(default_factory=lambda: [Stage.deps, Stage.models, Stage.fuzz, Stage.assess])
    fuzz_budget: float | None = Field(default=None, description="overrides the policy's budget")
    advisory_db: Path | None = None
    osv_url: str | None = None
    outputs: Outputs = Field(default_factory=Outputs)
    workdir: Path
    cache_dir: Path | None = None
    jobs: int = Field(default=0, description="worker processes; 0 means one per core")
    today: date = Field(default_factory=date.today)
    report_url: str | None = Field(default=None, description="link to the full report (CI run page)")
    progress: Callable[[str], None] = Field(default=_silent, exclude=True)
    workers: WorkerStarter | None = Field(
        default=None, exclude=True, description="models-stage workers started ahead (the caller closes it)"
    )

    @property
    def effective_fuzz_budget(self) -> float:
        return self.fuzz_budget if self.fuzz_budget is not None else self.policy.fuzz.budget_seconds
