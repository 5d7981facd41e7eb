"""SARIF shaped for github/codeql-action's upload-sarif: it never has to read a model file, it
computes the same `primaryLocationLineHash` we wrote for text files, every stage gets its own run,
the category keeps matrix jobs apart, and stage errors do not fail the upload."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import jsonschema
import pytest

from mlsecops import fixtures
from mlsecops.action import inputs
from mlsecops.findings import Finding, Severity, Stage, StageError, StageResult, fingerprint
from mlsecops.policy.judge import judge
from mlsecops.policy.model import Policy
from mlsecops.reporters import sarif
from mlsecops.reporters.line_hash import line_hashes
from mlsecops.reporters.sarif_locations import TEXT_LIMIT
from mlsecops.verdict import Verdict
from tests.conftest import SARIF_SCHEMA, run_cli


def _finding(stage: Stage, path: str, line: int | None = 1, rule: str = "MLS101") -> Finding:
    return Finding(rule_id=rule, stage=stage, severity=Severity.critical, path=path, line=line,
                   message=f"{rule} in {path}", fingerprint=fingerprint(rule, path, str(line)))


def _verdict(*results: StageResult) -> Verdict:
    return judge(list(results), Policy(), date(2026, 6, 1), "p")


def _results(doc: dict) -> dict[str, dict]:
    return {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r for run in doc["runs"] for r in run["results"]}


def test_text_files_keep_their_line_with_upload_sarifs_hash_and_binaries_get_no_region(tmp_path: Path) -> None:
    requirements = b"# pins\nrequests==2.0\n\njinja2==2.10\n"
    (tmp_path / "requirements.txt").write_bytes(requirements)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "model.pkl").write_bytes(fixtures.malicious_pickle())
    (tmp_path / "big.txt").write_bytes(b"x\n" * (TEXT_LIMIT // 2 + 1))
    (tmp_path / "link.txt").symlink_to(tmp_path / "requirements.txt")
    v = _verdict(
        StageResult(stage=Stage.deps, findings=[_finding(Stage.deps, "requirements.txt", 4, "MLS201"),
                                                _finding(Stage.deps, "requirements.txt", 99, "MLS202"),
                                                _finding(Stage.deps, "gone/requirements.txt", 2, "MLS201")]),
        StageResult(stage=Stage.models, findings=[_finding(Stage.models, "models/model.pkl"),
                                                  _finding(Stage.models, "big.txt", 3),
                                                  _finding(Stage.models, "link.txt", 2)]),
    )
    doc = sarif.render(v, source=tmp_path)
    by_rule = {(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]): r
               for run in doc["runs"] for r in run["results"]}

    text = by_rule[("MLS201", "requirements.txt")]
    assert text["locations"][0]["physicalLocation"]["region"] == {"startLine": 4}
    assert text["partialFingerprints"]["primaryLocationLineHash"] == line_hashes(requirements)[3]

    past_the_end = by_rule[("MLS202", "requirements.txt")]  # upload-sarif hashes no such line: ours stands
    assert past_the_end["partialFingerprints"]["primaryLocationLineHash"].endswith(":1")
    missing = by_rule[("MLS201", "gone/requirements.txt")]  # not in the work tree: upload-sarif cannot read it
    assert missing["locations"][0]["physicalLocation"]["region"] == {"startLine": 2}

    for uri in ("models/model.pkl", "big.txt", "link.txt"):  # binary, too large, a link: no region, never read
        result = by_rule[("MLS101", uri)]
        assert "region" not in result["locations"][0]["physicalLocation"], uri
        assert result["partialFingerprints"]["primaryLocationLineHash"] == f"{result['partialFingerprints']['mlsecops/v1']}:1"

    if SARIF_SCHEMA.exists():
        schema = json.loads(SARIF_SCHEMA.read_text())
        errors = list(jsonschema.validators.validator_for(schema)(schema).iter_errors(doc))
        assert not errors, errors[0]


def test_without_a_source_no_file_is_read_and_lines_stay() -> None:
    v = _verdict(StageResult(stage=Stage.models, findings=[_finding(Stage.models, "/etc/passwd", 3)]))
    (result,) = _results(sarif.render(v)).values()
    assert result["locations"][0]["physicalLocation"]["region"] == {"startLine": 3}


def test_a_path_outside_the_source_is_never_read(tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("secret\n")
    (tmp_path / "repo").mkdir()
    v = _verdict(StageResult(stage=Stage.models, findings=[_finding(Stage.models, "../outside.txt", 1)]))
    (result,) = _results(sarif.render(v, source=tmp_path / "repo")).values()
    assert "region" not in result["locations"][0]["physicalLocation"]


def test_every_stage_that_reports_gets_its_own_run() -> None:
    results = [StageResult(stage=s, findings=[_finding(s, f"{s.value}.bin")]) for s in Stage]
    v = _verdict(*results)
    v.stages = {"deps": {}}  # a stage can report without being listed, e.g. one added later
    ids = [run["automationDetails"]["id"] for run in sarif.render(v)["runs"]]
    assert ids[0] == "mlsecops/deps/" and sorted(ids) == sorted(f"mlsecops/{s.value}/" for s in Stage)
    assert len(set(ids)) == len(ids)


def test_the_category_prefixes_every_run() -> None:
    v = _verdict(StageResult(stage=Stage.deps), StageResult(stage=Stage.models))
    assert [r["automationDetails"]["id"] for r in sarif.render(v, sarif_category="/svc-a/gpu/")["runs"]] == [
        "svc-a/gpu/deps/", "svc-a/gpu/models/"]
    assert sarif.category("") == sarif.category(None) == "mlsecops"
    for bad in ("a//b", "x\ny", "tab\tin", "c" * 201):
        with pytest.raises(ValueError):
            sarif.category(bad)


def test_stage_errors_leave_the_run_processable() -> None:
    v = _verdict(StageResult(stage=Stage.models, errors=[StageError(stage=Stage.models, path="m.bin", message="timed out")]))
    (run,) = sarif.render(v)["runs"]
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is True
    assert invocation["toolExecutionNotifications"][0]["level"] == "error"
    assert run["properties"]["stageErrors"] == 1


def test_the_action_input_and_the_cli_flag_take_a_category(tmp_path: Path) -> None:
    assert inputs.read({"INPUT_SARIF-CATEGORY": "svc-a/"}).sarif_category == "svc-a"
    assert inputs.read({"INPUT_SARIF-CATEGORY": ""}).sarif_category is None
    with pytest.raises(inputs.InputError, match="sarif-category"):
        inputs.read({"INPUT_SARIF-CATEGORY": "a//b"})

    repo = tmp_path / "repo"
    (repo / "models").mkdir(parents=True)
    (repo / "models" / "m.pkl").write_bytes(fixtures.malicious_pickle())
    out = tmp_path / "out.sarif"
    proc = run_cli("scan", str(repo), "--stages", "models", "--sarif", str(out), "--sarif-category", "svc-a",
                   "--no-cache", "-q")
    assert proc.returncode == 1, proc.stderr
    runs = json.loads(out.read_text())["runs"]
    assert [r["automationDetails"]["id"] for r in runs] == ["svc-a/models/", "svc-a/gate/"]
    run = runs[0]
    (result,) = run["results"]
    assert result["locations"][0]["physicalLocation"] == {"artifactLocation": {"uri": "models/m.pkl"}}
    bad = run_cli("scan", str(repo), "--sarif-category", "a//b")
    assert bad.returncode == 2 and "--sarif-category" in bad.stderr
