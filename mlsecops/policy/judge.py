"""Judge findings against the policy: blocking, waived or advisory; then pass, fail or error.

Each finding is judged by the threshold of its own stage (`finding.stage`), not of the stage
that reported it: the gate's findings (a policy change, MLS001; an LFS pointer, MLS002) are
judged by `gate.fail_on` whichever stages ran. A waiver past its `expires` date waives
nothing and is listed in the verdict.
Blocking findings make the verdict `fail` (exit 1). Without any, a stage error
makes it `error` (exit 2) when the policy fails closed, which is the default.
"""

from __future__ import annotations

from datetime import date

from pydantic import JsonValue

from mlsecops import globs
from mlsecops.findings import Finding, Stage, StageError, StageResult, report_order
from mlsecops.policy.common import Waiver, blocks
from mlsecops.policy.model import Policy
from mlsecops.verdict import ExpiredWaiver, JudgedFinding, Status, Verdict


def _waivers(policy: Policy) -> list[tuple[Waiver, str | None, list[str]]]:
    """All waivers with the stage they are limited to and their package filter."""
    out: list[tuple[Waiver, str | None, list[str]]] = [(w, None, []) for w in policy.waivers]
    for ign in policy.deps.ignore:
        waiver = Waiver(id=ign.id, reason=ign.reason, expires=ign.expires)
        out.append((waiver, "deps", [p.lower() for p in ign.packages]))
    return out


def _matches(finding: Finding, waiver: Waiver, stage: str | None, packages: list[str]) -> bool:
    if stage and finding.stage.value != stage:
        return False
    if packages and (finding.package or "").lower() not in packages:
        return False
    if waiver.rule and not globs.match(finding.rule_id, waiver.rule):
        return False
    if waiver.id:
        ids = {finding.fingerprint, finding.vuln_id or "", *finding.aliases}
        if waiver.id not in ids:
            return False
    return globs.match(finding.path, waiver.path)


def judge(results: list[StageResult], policy: Policy, today: date, policy_source: str = "") -> Verdict:
    waivers = _waivers(policy)
    expired: dict[int, ExpiredWaiver] = {}
    judged: list[JudgedFinding] = []
    errors: list[StageError] = []
    stats: dict[str, dict[str, int | float]] = {}
    details: dict[str, dict[str, JsonValue]] = {}
    for result in sorted(results, key=lambda r: report_order(r.stage)):
        stats[result.stage.value] = dict(result.stats)
        if result.details:
            details[result.stage.value] = dict(result.details)
        errors.extend(result.errors)
        for finding in result.findings:
            status = Status.blocking if blocks(finding.severity, policy.threshold(finding.stage.value)) else Status.advisory
            extra: dict[str, str] = {}
            for i, (waiver, stage, packages) in enumerate(waivers):
                if not _matches(finding, waiver, stage, packages):
                    continue
                if waiver.expires < today:
                    entry = expired.setdefault(
                        i,
                        ExpiredWaiver(waiver=waiver.describe(), reason=waiver.reason, expired=waiver.expires.isoformat()),
                    )
                    entry.matched += 1
                    extra["expired_waiver"] = waiver.describe()
                    continue
                status = Status.waived
                extra = {"waiver_reason": waiver.reason, "waiver_expires": waiver.expires.isoformat()}
                break
            judged.append(JudgedFinding(**finding.model_dump(), status=status, **extra))
    for i, (waiver, _, _) in enumerate(waivers):
        if waiver.expires < today and i not in expired:
            expired[i] = ExpiredWaiver(waiver=waiver.describe(), reason=waiver.reason, expired=waiver.expires.isoformat())
    for f in judged:  # a stage's finding judged by another (the gate) gives that one a report entry too
        stats.setdefault(f.stage.value, {})
    stats = dict(sorted(stats.items(), key=lambda kv: report_order(Stage(kv[0]))))
    judged.sort(key=lambda f: (-_STATUS_ORDER[f.status], -f.severity.rank, f.stage.value, f.path, f.rule_id))
    if any(f.status == Status.blocking for f in judged):
        outcome = "fail"
    elif errors and policy.fail_on_scanner_error:
        outcome = "error"
    else:
        outcome = "pass"
    return Verdict(
        verdict=outcome,
        findings=judged,
        errors=errors,
        stages=stats,
        details=details,
        expired_waivers=[expired[k] for k in sorted(expired)],
        policy=policy_source,
        fail_closed=policy.fail_on_scanner_error,
    )


_STATUS_ORDER = {Status.blocking: 2, Status.advisory: 1, Status.waived: 0}
