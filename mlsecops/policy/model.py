"""The policy file's shape. Each stage owns its section; this file only composes them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlsecops.policy.common import SeverityOrOff, Strict, Threshold, Waiver
from mlsecops.stages.assess.policy import AssessPolicy
from mlsecops.stages.deps.policy import DepsPolicy
from mlsecops.stages.fuzz.policy import FuzzPolicy
from mlsecops.stages.models.policy import ModelsPolicy

__all__ = ["Policy", "Threshold", "Waiver"]


class Policy(Strict):
    version: Literal[1] = 1
    fail_on_scanner_error: bool = Field(
        default=True, description="a stage that could not check something fails the gate"
    )
    paths: list[str] = Field(
        default_factory=list, description="only these path globs are scanned (empty: all)"
    )
    ignore: list[str] = Field(default_factory=list, description="path globs never scanned")
    lfs_pointers: SeverityOrOff = Field(
        default="high", description="severity of a Git LFS pointer whose model was not fetched"
    )
    policy_change: SeverityOrOff = Field(
        default="high", description="severity of a PR that edits the policy file"
    )
    deps: DepsPolicy = Field(default_factory=DepsPolicy)
    models: ModelsPolicy = Field(default_factory=ModelsPolicy)
    fuzz: FuzzPolicy = Field(default_factory=FuzzPolicy)
    assess: AssessPolicy = Field(default_factory=AssessPolicy)
    waivers: list[Waiver] = Field(default_factory=list)

    def threshold(self, stage: str) -> Threshold:
        section: DepsPolicy | ModelsPolicy | FuzzPolicy | AssessPolicy = getattr(self, stage)
        return section.fail_on
