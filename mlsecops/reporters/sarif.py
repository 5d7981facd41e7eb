"""SARIF 2.1.0 for GitHub code scanning: one run per stage, each its own category.

GitHub's ingestion rules this follows: `automationDetails.id` is `<category>/<stage>/`
(the category defaults to `mlsecops`; give each matrix job or scanned path its own,
because upload-sarif ignores its `category` input when runs carry an id); every result's
rule is in its run's rules; rules carry a numeric-string `security-severity`; URIs are
repository-relative and percent-encoded. Waived findings are left out: code scanning
ignores SARIF `suppressions` and would reopen them as alerts. At most 25,000 results per
run, as GitHub accepts.

Locations are chosen for upload-sarif, which reads and hashes the whole of every file a
result with a `region.startLine` points at (docs/action.md#sarif-and-code-scanning):
a result in a small text file keeps its line and carries the `primaryLocationLineHash`
upload-sarif computes for it (reporters/line_hash.py), so the two agree; a result in a
binary or large file gets no region (GitHub shows it at line 1) and our own stable id as
`primaryLocationLineHash`, which upload-sarif then leaves alone without reading the file.

Stage errors are `toolExecutionNotifications` of level `error`; `executionSuccessful`
stays true, because code scanning answers a run with `executionSuccessful: false` with
the processing error "unsuccessful execution", which fails the upload-sarif step.
"""

from __future__ import annotations

import json
from pathlib import Path

from mlsecops import __version__
from mlsecops.files import atomic_write
from mlsecops.findings import Finding, Severity
from mlsecops.reporters.escape import unicode_safe
from mlsecops.reporters.sarif_locations import Locator, uri
from mlsecops.rules import Rule, catalog, rule_for
from mlsecops.verdict import JudgedFinding, Status, Verdict

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/mlsecops/mlsecops"
MAX_RESULTS_PER_RUN = 25_000
DEFAULT_CATEGORY = "mlsecops"

_LEVEL = {Severity.critical: "error", Severity.high: "error", Severity.medium: "warning", Severity.low: "note", Severity.info: "note"}


def sarif_rule_id(finding: Finding) -> str:
    """Vulnerabilities get a rule each (`MLS201/GHSA-...`); other rules are shared."""
    return f"{finding.rule_id}/{finding.vuln_id}" if finding.vuln_id else finding.rule_id


def category(text: str | None) -> str:
    """The category prefix of every run's `automationDetails.id` (`<category>/<stage>/`).

    Raises ValueError for one GitHub cannot use; surrounding slashes are dropped."""
    value = (text or "").strip().strip("/")
    if not value:
        return DEFAULT_CATEGORY
    if len(value) > 200 or any(not c.isprintable() for c in value) or "//" in value:
        raise ValueError("a category is up to 200 printable characters, parts separated by single '/'")
    return value


def _rule_json(rule_id: str, rule: Rule, severity: Severity, finding: Finding) -> dict:
    if finding.vuln_id:
        short = f"{finding.package or 'dependency'} is affected by {finding.vuln_id}"
        full = finding.message
        help_text = finding.fix or rule.help
        help_uri = finding.help_uri or rule.help_uri
        name = f"{rule.name}-{finding.vuln_id}"
    else:
        short, full, help_text, help_uri, name = rule.short, rule.full, rule.help, rule.help_uri, rule.name
    return {
        "id": rule_id,
        "name": "".join(p.capitalize() for p in name.replace("/", "-").replace("_", "-").split("-")) or rule_id,
        "shortDescription": {"text": short[:1000]},
        "fullDescription": {"text": full[:4000]},
        "help": {"text": help_text, "markdown": help_text},
        "helpUri": help_uri,
        "defaultConfiguration": {"level": _LEVEL[severity]},
        "properties": {
            "security-severity": severity.security_severity if severity != Severity.info else "0.1",
            "tags": ["security", "mlsecops", finding.stage.value],
            "precision": "high",
        },
    }


def _result_level(f: JudgedFinding) -> str:
    """Blocking is an error whatever the severity; advisory findings warn or note."""
    if f.status == Status.blocking:
        return "error"
    return "warning" if f.severity.rank >= Severity.medium.rank else "note"


def _message(f: JudgedFinding) -> str:
    text = f.message
    if f.member and f.member not in text:
        text += f" (member: {f.member})"
    if f.engines:
        text += f" [seen by: {', '.join(f.engines)}]"
    if f.fix:
        text += f" Fix: {f.fix}"
    if f.reproducer:
        text += f" Reproduce: {f.reproducer}"
    return text


def _run(stage: str, findings: list[JudgedFinding], errors: list[dict], rules: dict[str, Rule], locator: Locator,
         run_category: str) -> dict:
    shown = [f for f in findings if f.status != Status.waived][:MAX_RESULTS_PER_RUN]
    rule_order: list[str] = []
    rule_json: dict[str, dict] = {}
    rule_sev: dict[str, Severity] = {}
    for f in shown:
        rid = sarif_rule_id(f)
        if rid not in rule_sev or f.severity.rank > rule_sev[rid].rank:
            rule_sev[rid] = f.severity
        if rid not in rule_order:
            rule_order.append(rid)
    for f in shown:
        rid = sarif_rule_id(f)
        if rid not in rule_json:
            rule_json[rid] = _rule_json(rid, rule_for(f, rules), rule_sev[rid], f)
    index = {rid: i for i, rid in enumerate(rule_order)}
    results = []
    for f in shown:
        rid = sarif_rule_id(f)
        location, line_hash = locator.locate(f)
        results.append(
            {
                "ruleId": rid,
                "ruleIndex": index[rid],
                "level": _result_level(f),
                "message": {"text": _message(f)},
                "locations": [{"physicalLocation": location}],
                "partialFingerprints": {"mlsecops/v1": f.fingerprint, "primaryLocationLineHash": line_hash},
                "properties": {"status": f.status.value, "severity": f.severity.value, "tool": f.tool},
            }
        )
    run: dict = {
        "tool": {
            "driver": {
                "name": "mlsecops",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFO_URI,
                "rules": [rule_json[r] for r in rule_order],
            }
        },
        "automationDetails": {"id": f"{run_category}/{stage}/"},
        "results": results,
        "invocations": [
            {
                # True even with stage errors: code scanning refuses a run whose execution was not
                # successful ("unsuccessful execution"), and the upload step fails. The errors
                # below say the results are incomplete; the exit code fails the gate.
                "executionSuccessful": True,
                "toolExecutionNotifications": [
                    {
                        "level": "error",
                        "message": {"text": e["message"]},
                        **({"locations": [{"physicalLocation": {"artifactLocation": {"uri": uri(e["path"], locator.prefix)}}}]}
                           if e["path"] else {}),
                    }
                    for e in errors
                ],
            }
        ],
        "properties": {"stage": stage, "stageErrors": len(errors)},
        "columnKind": "unicodeCodePoints",
    }
    return run


def stages(verdict: Verdict) -> list[str]:
    """Every stage that ran or reported, in run order: one run each, whatever the stage."""
    names = list(verdict.stages)
    for stage in [f.stage.value for f in verdict.findings] + [e.stage.value for e in verdict.errors]:
        if stage not in names:
            names.append(stage)
    return names


def render(verdict: Verdict, source: Path | None = None, sarif_category: str | None = None) -> dict:
    """The SARIF document. `source` is the scanned PATH in the work tree, where upload-sarif will
    read the files (None: no file is read and every result keeps its line)."""
    rules = catalog()
    locator = Locator(source, verdict.uri_prefix)
    run_category = category(sarif_category)
    runs = []
    for stage in stages(verdict):
        findings = [f for f in verdict.findings if f.stage.value == stage]
        errors = [e.model_dump(mode="json") for e in verdict.errors if e.stage.value == stage]
        runs.append(_run(stage, findings, errors, rules, locator, run_category))
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": runs}


def write(verdict: Verdict, path: Path, source: Path | None = None, sarif_category: str | None = None) -> None:
    atomic_write(path, json.dumps(unicode_safe(render(verdict, source, sarif_category)), indent=2, ensure_ascii=False) + "\n")
