"""The one vocabulary every stage, the policy and every reporter share.

A stage reports what it saw as `Finding`s, what it could not do as `StageError`s,
and a few counters; it never decides pass or fail. Everything here is a pydantic
model because it crosses the boundary into JSON, SARIF and Markdown.
"""

from __future__ import annotations

import hashlib
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, JsonValue


class Severity(str, Enum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def security_severity(self) -> str:
        """GitHub's numeric-string score for `properties.security-severity`."""
        return _SECURITY_SEVERITY[self]

    def at_least(self, other: Severity) -> bool:
        return self.rank >= other.rank


_RANK = {
    Severity.info: 0,
    Severity.low: 1,
    Severity.medium: 2,
    Severity.high: 3,
    Severity.critical: 4,
}
_SECURITY_SEVERITY = {
    Severity.critical: "9.5",
    Severity.high: "8.0",
    Severity.medium: "5.5",
    Severity.low: "3.0",
    Severity.info: "0.0",
}


class Stage(str, Enum):
    """Who judges a finding. `gate` is the gate's own checks (a policy change, a model that was
    not fetched): never selected with --stages, always reported, judged by `gate.fail_on`."""

    deps = "deps"
    models = "models"
    fuzz = "fuzz"
    assess = "assess"
    gate = "gate"


STAGE_ORDER = (Stage.deps, Stage.models, Stage.fuzz, Stage.assess)
"""The stages --stages selects, in run order."""


def report_order(stage: Stage) -> int:
    """Where a stage's findings and SARIF run go in a report: the runnable stages, then the gate."""
    return STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER)


class Finding(BaseModel):
    """One problem, once, wherever it was seen and by whichever engines."""

    model_config = ConfigDict(extra="forbid")

    rule_id: str
    stage: Stage
    severity: Severity
    path: str = Field(description="repo-relative, '/' separators")
    line: int | None = None
    message: str
    tool: str = "mlsecops"
    engines: list[str] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list)
    member: str | None = Field(default=None, description="member of a container file")
    fingerprint: str = ""
    fix: str | None = None
    help_uri: str | None = None
    vuln_id: str | None = None
    aliases: list[str] = Field(default_factory=list)
    package: str | None = None
    version: str | None = None
    fix_versions: list[str] = Field(default_factory=list)
    reproducer: str | None = None
    properties: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


def fingerprint(rule_id: str, path: str, *parts: str | None) -> str:
    """A stable id: same rule, file and key evidence give the same value on every run."""
    text = "\x1f".join([rule_id, path, *[p or "" for p in parts]])
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]


class StageError(BaseModel):
    """Something a stage could not check. Per policy it fails the gate (fail closed)."""

    model_config = ConfigDict(extra="forbid")

    stage: Stage
    path: str = ""
    message: str


class StageNote(BaseModel):
    """Worth a reader's attention, but neither a finding nor an error: a fuzz crash that its
    replay did not reproduce, a file an optional loader that is not installed could not fuzz.
    Notes never change the verdict; they keep the gate from going quiet about them."""

    model_config = ConfigDict(extra="forbid")

    stage: Stage
    path: str = ""
    message: str
    evidence: list[str] = Field(default_factory=list)


class StageResult(BaseModel):
    """What one stage hands to the policy: findings, errors, notes and its counters."""

    stage: Stage
    findings: list[Finding] = Field(default_factory=list)
    errors: list[StageError] = Field(default_factory=list)
    notes: list[StageNote] = Field(default_factory=list)
    stats: dict[str, int | float] = Field(default_factory=dict)
    details: dict[str, JsonValue] = Field(
        default_factory=dict, description="stage-specific tables for the reports (never judged)"
    )
