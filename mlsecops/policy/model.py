"""The policy file's shape. Each stage owns its section; this file only composes them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlsecops.policy.common import SeverityOrOff, Strict, Threshold, Waiver
from mlsecops.policy.patterns import PathGlobs
from mlsecops.stages.assess.policy import AssessPolicy
from mlsecops.stages.deps.policy import DepsPolicy
from mlsecops.stages.fuzz.policy import FuzzPolicy
from mlsecops.stages.models.policy import ModelsPolicy

__all__ = ["GatePolicy", "Policy", "Threshold", "Waiver"]


class GatePolicy(Strict):
    """The gate's own findings (a policy change, MLS001; a model not fetched, MLS002) are judged
    here, whichever stages ran: `--stages` cannot change how a policy change is judged."""

    fail_on: Threshold = "high"


class Policy(Strict):
    version: Literal[1] = 1
    fail_on_scanner_error: bool = Field(
        default=True, description="a stage that could not check something fails the gate"
    )
    paths: PathGlobs = Field(
        default_factory=list, description="only these path globs are scanned (empty: all)"
    )
    ignore: PathGlobs = Field(default_factory=list, description="path globs never scanned")
    lfs_pointers: SeverityOrOff = Field(
        default="high", description="severity of a Git LFS pointer whose model was not fetched"
    )
    policy_change: SeverityOrOff = Field(
        default="high", description="severity of a PR whose policy change loosens the gate (or may)"
    )
    gate: GatePolicy = Field(default_factory=GatePolicy)
    deps: DepsPolicy = Field(default_factory=DepsPolicy)
    models: ModelsPolicy = Field(default_factory=ModelsPolicy)
    fuzz: FuzzPolicy = Field(default_factory=FuzzPolicy)
    assess: AssessPolicy = Field(default_factory=AssessPolicy)
    waivers: list[Waiver] = Field(default_factory=list)

    def threshold(self, stage: str) -> Threshold:
        section: GatePolicy | DepsPolicy | ModelsPolicy | FuzzPolicy | AssessPolicy = getattr(self, stage)
        return section.fail_on
