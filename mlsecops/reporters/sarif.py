"""SARIF 2.1.0 for GitHub code scanning: one run per stage, each its own category.

GitHub's ingestion rules this follows: `automationDetails.id` ends in `/` and is
unique per run (`mlsecops/<stage>/`); every result's rule is in its run's rules;
rules carry a numeric-string `security-severity`; URIs are repository-relative
and percent-encoded; binary files get `region.startLine` 1; `partialFingerprints`
are our stable ids (so the uploader need not hash multi-GB model files). Waived
findings are left out: code scanning ignores SARIF `suppressions` and would
reopen them as alerts. At most 25,000 results per run, as GitHub accepts.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

from mlsecops import __version__
from mlsecops.files import atomic_write
from mlsecops.findings import Finding, Severity
from mlsecops.reporters.escape import unicode_safe
from mlsecops.rules import Rule, catalog, rule_for
from mlsecops.verdict import JudgedFinding, Status, Verdict

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/mlsecops/mlsecops"
MAX_RESULTS_PER_RUN = 25_000

_LEVEL = {Severity.critical: "error", Severity.high: "error", Severity.medium: "warning", Severity.low: "note", Severity.info: "note"}


def sarif_rule_id(finding: Finding) -> str:
    """Vulnerabilities get a rule each (`MLS201/GHSA-...`); other rules are shared."""
    return f"{finding.rule_id}/{finding.vuln_id}" if finding.vuln_id else finding.rule_id


def _uri(path: str, prefix: str) -> str:
    """Percent-encoded from the file name's bytes, so a name that is not UTF-8 still points at its file."""
    full = f"{prefix}/{path}" if prefix else path
    try:
        raw = full.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = full.encode("utf-8", "replace")
    return quote(raw, safe="/")


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


def _run(stage: str, findings: list[JudgedFinding], errors: list[dict], rules: dict[str, Rule], prefix: str) -> dict:
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
        results.append(
            {
                "ruleId": rid,
                "ruleIndex": index[rid],
                "level": _result_level(f),
                "message": {"text": _message(f)},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": _uri(f.path, prefix)},
                            "region": {"startLine": max(1, f.line or 1)},
                        }
                    }
                ],
                "partialFingerprints": {"mlsecops/v1": f.fingerprint, "primaryLocationLineHash": f"{f.fingerprint}:1"},
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
        "automationDetails": {"id": f"mlsecops/{stage}/"},
        "results": results,
        "invocations": [
            {
                "executionSuccessful": not errors,
                "toolExecutionNotifications": [
                    {
                        "level": "error",
                        "message": {"text": e["message"]},
                        **({"locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(e["path"], prefix)}}}]} if e["path"] else {}),
                    }
                    for e in errors
                ],
            }
        ],
        "columnKind": "unicodeCodePoints",
    }
    return run


def render(verdict: Verdict) -> dict:
    rules = catalog()
    runs = []
    for stage in verdict.stages:
        findings = [f for f in verdict.findings if f.stage.value == stage]
        errors = [e.model_dump(mode="json") for e in verdict.errors if e.stage.value == stage]
        runs.append(_run(stage, findings, errors, rules, verdict.uri_prefix))
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": runs}


def write(verdict: Verdict, path: Path) -> None:
    atomic_write(path, json.dumps(unicode_safe(render(verdict)), indent=2, ensure_ascii=False) + "\n")
