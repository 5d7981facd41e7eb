"""The verdict: every finding judged, plus what could not be checked. Reporters read only this."""

from __future__ import annotations

from enum import Enum
from typing import Literal

from pydantic import BaseModel, Field, JsonValue

from mlsecops.findings import Finding, StageError, StageNote


class Status(str, Enum):
    blocking = "blocking"
    waived = "waived"
    advisory = "advisory"


class JudgedFinding(Finding):
    status: Status
    waiver_reason: str | None = None
    waiver_expires: str | None = None
    expired_waiver: str | None = Field(default=None, description="an expired waiver that matched")


class ExpiredWaiver(BaseModel):
    waiver: str
    reason: str
    expired: str
    matched: int = 0


class Verdict(BaseModel):
    verdict: Literal["pass", "fail", "error"]
    findings: list[JudgedFinding] = Field(default_factory=list)
    errors: list[StageError] = Field(default_factory=list)
    notes: list[StageNote] = Field(default_factory=list, description="never change the verdict")
    stages: dict[str, dict[str, int | float]] = Field(default_factory=dict)
    details: dict[str, dict[str, JsonValue]] = Field(default_factory=dict, description="per stage, for reporters")
    expired_waivers: list[ExpiredWaiver] = Field(default_factory=list)
    policy: str = ""
    fail_closed: bool = True
    mode: str = "all"
    base: str | None = None
    head: str | None = None
    uri_prefix: str = Field(default="", description="PATH relative to the repository root, for SARIF")

    @property
    def exit_code(self) -> int:
        return {"pass": 0, "fail": 1, "error": 2}[self.verdict]

    def count(self, status: Status) -> int:
        return sum(1 for f in self.findings if f.status == status)
