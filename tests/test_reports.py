"""Reporters: SARIF that GitHub accepts, the JSON contract, and Markdown that no file name can subvert."""

from __future__ import annotations

import json
import re
from datetime import date

import jsonschema
import pytest

from mlsecops.findings import Finding, Severity, Stage, StageError, StageResult, fingerprint
from mlsecops.policy.judge import judge
from mlsecops.policy.loader import load_policy_text
from mlsecops.reporters import console, json_report, markdown, sarif
from mlsecops.verdict import Verdict
from tests.conftest import SARIF_SCHEMA
from tests.rendering import github_render, links, ragged_tables, untrusted_links

HOSTILE = "models/evil\n::error::pwned|<img src=x onerror=alert(1)>`@octocat` \x1b[31mred\x1b[0m [x](http://e.vil) %0A.pkl"


def f(rule: str, stage: Stage, sev: Severity, path: str, **kw: object) -> Finding:
    return Finding(rule_id=rule, stage=stage, severity=sev, path=path, line=kw.pop("line", 1), message=str(kw.pop("message", f"{rule} in {path}")),  # type: ignore[arg-type]
                   fingerprint=fingerprint(rule, path, str(kw.get("vuln_id", ""))), **kw)  # type: ignore[arg-type]


def verdict(n_models: int = 3) -> Verdict:
    results = [
        StageResult(stage=Stage.deps, findings=[
            f("MLS201", Stage.deps, Severity.high, "requirements.txt", line=3, vuln_id="PYSEC-2019-217", package="jinja2",
              version="2.10", fix_versions=["2.10.1"], aliases=["CVE-2019-10906"], tool="pip-audit"),
            f("MLS201", Stage.deps, Severity.critical, "requirements.txt", line=4, vuln_id="GHSA-8q59-q68h-6hv4", package="pyyaml", tool="pip-audit"),
        ], stats={"artifacts": 1}),
        StageResult(stage=Stage.models, findings=[
            f("MLS101", Stage.models, Severity.critical, HOSTILE, member="archive/data.pkl", engines=["fickling", "mlsecops"]),
            *[f("MLS103", Stage.models, Severity.medium, f"m/{k}.pkl") for k in range(n_models)],
        ], errors=[StageError(stage=Stage.models, path="x.bin", message="modelscan could not scan")], stats={"artifacts": 4}),
        StageResult(stage=Stage.fuzz, stats={"targets": 0}),
    ]
    v = judge(results, load_policy_text("waivers:\n  - {rule: MLS103, path: 'm/0.pkl', reason: ok, expires: 2030-01-01}\n", "p"), date(2026, 6, 1))
    return v


def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SARIF_SCHEMA.read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def test_sarif_is_valid_and_follows_githubs_rules() -> None:
    doc = sarif.render(verdict())
    errors = sorted(validator().iter_errors(doc), key=str)
    assert not errors, errors[0]
    assert doc["version"] == "2.1.0"
    ids = [r["automationDetails"]["id"] for r in doc["runs"]]
    assert ids == ["mlsecops/deps/", "mlsecops/models/", "mlsecops/fuzz/"]
    for run in doc["runs"]:
        assert run["tool"]["driver"]["name"] == "mlsecops"
        rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
        for rule in rules.values():
            assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"] and rule["help"]["text"]
            assert re.fullmatch(r"\d+\.\d", rule["properties"]["security-severity"])
        for res in run["results"]:
            assert res["ruleId"] in rules and run["tool"]["driver"]["rules"][res["ruleIndex"]]["id"] == res["ruleId"]
            assert res["message"]["text"] and res["partialFingerprints"]
            loc = res["locations"][0]["physicalLocation"]
            assert loc["region"]["startLine"] >= 1 and not loc["artifactLocation"]["uri"].startswith("/")
    deps = doc["runs"][0]
    assert {r["ruleId"] for r in deps["results"]} == {"MLS201/PYSEC-2019-217", "MLS201/GHSA-8q59-q68h-6hv4"}
    assert deps["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] in (3, 4)
    sev = {r["id"]: r["properties"]["security-severity"] for r in deps["tool"]["driver"]["rules"]}
    assert sev == {"MLS201/GHSA-8q59-q68h-6hv4": "9.5", "MLS201/PYSEC-2019-217": "8.0"}
    models = doc["runs"][1]
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in models["results"]]
    assert all("\n" not in u and " " not in u and "<" not in u for u in uris)
    assert "m/0.pkl" not in uris  # waived: code scanning would reopen it as an alert
    # A stage error is an error notification; the run stays "successful", which code scanning needs
    # to process it at all (it refuses `executionSuccessful: false` as an "unsuccessful execution").
    (invocation,) = models["invocations"]
    assert invocation["executionSuccessful"] is True
    assert [n["level"] for n in invocation["toolExecutionNotifications"]] == ["error"]
    assert models["properties"]["stageErrors"] == 1


def test_sarif_uses_repo_relative_uris_for_a_subfolder_scan() -> None:
    v = verdict()
    v.uri_prefix = "ml/service"
    uri = sarif.render(v)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "ml/service/requirements.txt"


def test_json_report_contract() -> None:
    doc = json_report.render(verdict())
    assert doc["verdict"] == "fail" and set(doc) >= {"verdict", "findings", "errors", "stages"}
    for finding in doc["findings"]:
        assert set(finding) >= {"rule_id", "stage", "severity", "status", "path", "line", "message", "tool", "fingerprint", "vuln_id", "package"}
        assert finding["status"] in ("blocking", "waived", "advisory")
    dep = next(x for x in doc["findings"] if x["vuln_id"] == "PYSEC-2019-217")
    assert dep["package"] == "jinja2" and dep["stage"] == "deps" and dep["line"] == 3
    assert doc["errors"] == [{"stage": "models", "path": "x.bin", "message": "modelscan could not scan"}]
    assert doc["stages"]["models"]["artifacts"] == 4


def test_markdown_comment_neutralises_hostile_names() -> None:
    text = markdown.render(verdict())
    assert text.startswith(markdown.MARKER)
    assert "<img" not in text and "\x1b" not in text  # HTML escaped, ANSI stripped
    assert "@octocat" not in text  # never a live mention
    html = github_render().to_html(text)
    assert "e.vil" not in " ".join(links(html)) and not untrusted_links(html)  # no live link but ours
    assert "evil" in html and not ragged_tables(html)  # nothing splits a row
    assert "Waived by the policy (1)" in text and "2030-01-01" in text
    assert "mlsecops scan ." in text


def test_comment_stays_under_githubs_limit_with_thousands_of_findings() -> None:
    v = verdict(n_models=6000)
    text = markdown.render(v, report_url="https://ci.example/run/1")
    assert len(text) <= markdown.COMMENT_LIMIT
    assert re.search(r"more \w+ in the \[full report\]\(https://ci\.example/run/1\)", text)


def test_console_output_strips_escapes() -> None:
    out = console.render(verdict())
    assert "\x1b" not in out and "verdict: FAIL" in out


def test_console_reads_well_at_80_columns_with_fix_versions() -> None:
    from mlsecops.findings import StageNote

    v = verdict()
    v.notes.append(StageNote(stage=Stage.fuzz, path="m/" + "long" * 40 + ".safetensors", message="x " * 300))
    out = console.render(v)
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= console.WIDTH, max(lines, key=len)
    assert any("-> jinja2==2.10.1" in line for line in lines)  # the release that fixes it, in the blocking list
    assert "BLOCKING  fix 1 model file and 2 dependencies" in out and "verdict: FAIL" in out


def test_console_colour_follows_no_color_force_color_and_the_terminal() -> None:
    import io

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert console.color_wanted(Tty(), {}) is True
    assert console.color_wanted(Tty(), {"NO_COLOR": "1"}) is False
    assert console.color_wanted(Tty(), {"NO_COLOR": "1", "FORCE_COLOR": "1"}) is False  # NO_COLOR wins
    assert console.color_wanted(io.StringIO(), {}) is False  # a pipe or a file
    assert console.color_wanted(io.StringIO(), {"FORCE_COLOR": "1"}) is True
    assert console.color_wanted(io.StringIO(), {"FORCE_COLOR": "0"}) is False
    assert console.color_wanted(Tty(), {"TERM": "dumb"}) is False
    plain_out, colour = console.render(verdict()), console.render(verdict(), color=True)
    assert "\x1b" not in plain_out and "\x1b[31;1mBLOCKING" in colour
    assert "\x1b[31mred" not in colour and "red [x]" in colour  # the hostile name's own escapes are gone
