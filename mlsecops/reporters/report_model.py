"""The JSON report (`--json`) as a pydantic model: its schema, and the way back to a Verdict.

`json_report` writes the report; this model reads one. It is the schema committed as
`schemas/mlsecops-report.schema.json` (`python scripts/report_schema.py` regenerates it,
a test checks it is current), and it is what the fork-safe comment workflow validates an
uploaded report against before it renders a single line from it: unknown keys, wrong
types and oversized values are refused, and `to_verdict` gives the templates the same
object a local scan gives them, so the comment is rendered (and escaped) by the gate's own
templates, never taken from the artifact.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from mlsecops.findings import Severity, Stage, StageError, StageNote
from mlsecops.verdict import ExpiredWaiver, JudgedFinding, Status, Verdict

SCHEMA_ID = "https://github.com/mlsecops/mlsecops/schemas/mlsecops-report.schema.json"

Text = Annotated[str, Field(max_length=20_000)]
Short = Annotated[str, Field(max_length=4_096)]
Scalar = str | int | float | bool | None
StageName = Annotated[str, Field(max_length=40, pattern=r"^[a-z]{1,40}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReportFinding(_Strict):
    rule_id: Annotated[str, Field(max_length=200, pattern=r"^MLS[0-9]{3}(/[A-Za-z0-9._:-]{1,100})?$")]
    stage: Stage
    severity: Severity
    status: Status
    path: Short
    line: int | None = Field(default=None, ge=0)
    message: Text
    tool: Short
    fingerprint: Short
    vuln_id: Short | None
    package: Short | None
    engines: list[Short] = Field(default_factory=list, max_length=20)
    evidence: list[Text] = Field(default_factory=list, max_length=200)
    member: Short | None = None
    fix: Text | None = None
    help_uri: Short | None = None
    aliases: list[Short] = Field(default_factory=list, max_length=100)
    version: Short | None = None
    fix_versions: list[Short] = Field(default_factory=list, max_length=200)
    reproducer: Text | None = None
    properties: dict[Short, Scalar | Text] = Field(default_factory=dict, max_length=100)
    waiver_reason: Text | None = None
    waiver_expires: Short | None = None
    expired_waiver: Short | None = None


class ReportError(_Strict):
    stage: Stage
    path: Short = ""
    message: Text


class ReportNote(ReportError):
    evidence: list[Text] = Field(default_factory=list, max_length=200)


class ReportSummary(_Strict):
    findings: int = Field(ge=0)
    blocking: int = Field(ge=0)
    waived: int = Field(ge=0)
    advisory: int = Field(ge=0)
    errors: int = Field(ge=0)


class ReportTool(_Strict):
    name: Literal["mlsecops"]
    version: Short


class ReportExpiredWaiver(_Strict):
    waiver: Text
    reason: Text
    expired: Short
    matched: int = Field(default=0, ge=0)


class Report(_Strict):
    """The whole report, as `json_report.render` writes it."""

    verdict: Literal["pass", "fail", "error"]
    findings: list[ReportFinding] = Field(max_length=100_000)
    errors: list[ReportError] = Field(max_length=10_000)
    notes: list[ReportNote] = Field(default_factory=list, max_length=10_000)
    stages: dict[StageName, dict[Annotated[str, Field(max_length=40)], int | float]] = Field(max_length=20)
    details: dict[StageName, dict[Short, JsonValue]] = Field(
        default_factory=dict, max_length=20, description="stage tables for the reports (the assess stage's models)")
    summary: ReportSummary
    expired_waivers: list[ReportExpiredWaiver] = Field(default_factory=list, max_length=1_000)
    policy: Text
    fail_closed: bool
    mode: Literal["all", "diff"]
    base: Short | None
    head: Short | None
    tool: ReportTool

    def to_verdict(self) -> Verdict:
        return Verdict(
            verdict=self.verdict,
            findings=[JudgedFinding.model_validate(f.model_dump()) for f in self.findings],
            errors=[StageError.model_validate(e.model_dump()) for e in self.errors],
            notes=[StageNote.model_validate(n.model_dump()) for n in self.notes],
            stages=self.stages, details=self.details,
            expired_waivers=[ExpiredWaiver.model_validate(w.model_dump()) for w in self.expired_waivers],
            policy=self.policy, fail_closed=self.fail_closed, mode=self.mode, base=self.base, head=self.head,
        )


def json_schema() -> dict[str, object]:
    schema = Report.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "mlsecops JSON report", **schema}
