"""Small pydantic types shared by the policy sections of every stage."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from mlsecops.findings import Severity
from mlsecops.policy.patterns import RuleGlob, SinglePathGlob

Threshold = Literal["critical", "high", "medium", "low", "info", "never"]
"""The lowest severity that blocks; `never` makes a stage advisory only."""

SeverityOrOff = Literal["critical", "high", "medium", "low", "info", "off"]
"""The severity given to a kind of finding; `off` stops reporting it."""

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Strict(BaseModel):
    """Policies reject unknown keys: a typo must not silently loosen the gate."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Waiver(Strict):
    """Accept a known finding for a while, with a reason someone can audit."""

    rule: RuleGlob | None = Field(default=None, description="rule id or glob, e.g. MLS101 or MLS1*")
    path: SinglePathGlob = Field(default="**", description="path glob")
    id: NonEmpty | None = Field(
        default=None, description="vulnerability id or alias, or a finding fingerprint"
    )
    reason: NonEmpty
    expires: date

    def describe(self) -> str:
        what = " ".join(x for x in (self.rule, self.id) if x) or "*"
        return f"{what} on {self.path} (until {self.expires.isoformat()})"


def blocks(severity: Severity, threshold: Threshold) -> bool:
    if threshold == "never":
        return False
    return severity.at_least(Severity(threshold))
