"""Issue 13.1: a policy change is judged on its own, by the gate's threshold, whichever stages ran.

Before, MLS001 was relabelled into the first stage that ran and judged by that stage's threshold:
with a base policy of `deps.fail_on: never`, a loosening PR blocked under `--stages models` and
passed under `--stages deps,models`.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import jsonschema
import pytest

from mlsecops import fixtures as fx
from mlsecops.findings import Finding, Severity, Stage, StageResult
from mlsecops.policy.judge import judge
from mlsecops.policy.loader import load_policy_text
from mlsecops.reporters import sarif
from mlsecops.verdict import Status
from tests.conftest import SARIF_SCHEMA, make_repo, scan_json

BASE = "deps:\n  fail_on: never\nmodels:\n  fail_on: high\n"
LOOSER = "deps:\n  fail_on: never\nmodels:\n  fail_on: never\n"


def _repo(tmp_path: Path, base_policy: str = BASE, head_policy: str = LOOSER) -> tuple[Path, str, str]:
    repo = tmp_path / "r"
    base, head = make_repo(repo, {".mlsecops.yml": base_policy, "README": "x"},
                           {".mlsecops.yml": head_policy, "notes.txt": "y"})
    return repo, base, head


@pytest.mark.parametrize("stages", ["models", "deps,models", "deps", "fuzz"])
def test_a_loosening_blocks_whichever_stages_run(tmp_path: Path, stages: str) -> None:
    repo, base, head = _repo(tmp_path)
    extra = ("--fuzz-budget", "1") if "fuzz" in stages else ()
    code, report = scan_json(tmp_path, repo, "--base", base, "--head", head, "--stages", stages, *extra)
    mls001 = [f for f in report["findings"] if f["rule_id"] == "MLS001"]
    assert code == 1, report
    assert len(mls001) == 1 and mls001[0]["stage"] == "gate" and mls001[0]["status"] == "blocking"
    assert "gate" in report["stages"]


def test_the_gate_has_its_own_sarif_run_and_it_is_always_there(tmp_path: Path) -> None:
    repo, base, head = _repo(tmp_path)
    code, _ = scan_json(tmp_path, repo, "--base", base, "--head", head, "--stages", "deps,models")
    doc = json.loads((tmp_path / "out.sarif").read_text())
    ids = [r["automationDetails"]["id"] for r in doc["runs"]]
    assert ids == ["mlsecops/deps/", "mlsecops/models/", "mlsecops/gate/"]
    gate = doc["runs"][-1]
    assert [r["ruleId"] for r in gate["results"]] == ["MLS001"]
    assert [r["id"] for r in gate["tool"]["driver"]["rules"]] == ["MLS001"]
    if SARIF_SCHEMA.exists():
        schema = json.loads(SARIF_SCHEMA.read_text())
        assert not list(jsonschema.validators.validator_for(schema)(schema).iter_errors(doc))
    # A run with nothing for the gate still uploads its (empty) run, so code scanning closes old alerts.
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "a.safetensors").write_bytes(fx.safetensors_file({"w": 2}))
    code, report = scan_json(tmp_path, clean, "--stages", "models")
    doc = json.loads((tmp_path / "out.sarif").read_text())
    assert code == 0 and [r["automationDetails"]["id"] for r in doc["runs"]] == ["mlsecops/models/", "mlsecops/gate/"]
    assert doc["runs"][-1]["results"] == []


def test_gate_fail_on_is_the_only_threshold_for_the_gate(tmp_path: Path) -> None:
    base = BASE + "gate:\n  fail_on: never\n"
    repo, b, h = _repo(tmp_path, base_policy=base, head_policy=base.replace("models:\n  fail_on: high", "models:\n  fail_on: never"))
    code, report = scan_json(tmp_path, repo, "--base", b, "--head", h, "--stages", "models")
    assert code == 0 and [f["status"] for f in report["findings"] if f["rule_id"] == "MLS001"] == ["advisory"]


def test_an_lfs_pointer_is_the_gates_finding_not_the_models_stages(tmp_path: Path) -> None:
    """A model that was not fetched is the gate not seeing something: models.fail_on: never
    (an advisory models stage) does not make it pass."""
    folder = tmp_path / "ws"
    folder.mkdir()
    (folder / "model.bin").write_text(
        "version https://git-lfs.github.com/spec/v1\n"
        "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n")
    (folder / ".mlsecops.yml").write_text("models:\n  fail_on: never\n")
    code, report = scan_json(tmp_path, folder, "--stages", "models")
    lfs = [f for f in report["findings"] if f["rule_id"] == "MLS002"]
    assert len(lfs) == 1 and lfs[0]["stage"] == "gate" and lfs[0]["status"] == "blocking", report
    assert code == 1


def test_judge_uses_the_findings_own_stage() -> None:
    policy = load_policy_text("deps:\n  fail_on: never\ngate:\n  fail_on: high\n", "p.yml")
    gate = Finding(rule_id="MLS001", stage=Stage.gate, severity=Severity.high, path=".mlsecops.yml", message="x")
    dep = Finding(rule_id="MLS201", stage=Stage.deps, severity=Severity.critical, path="r.txt", message="y")
    v = judge([StageResult(stage=Stage.deps, findings=[dep, gate])], policy, date(2026, 1, 1))
    status = {f.rule_id: f.status for f in v.findings}
    assert status == {"MLS001": Status.blocking, "MLS201": Status.advisory}
    assert list(v.stages) == ["deps", "gate"]
    assert [r["automationDetails"]["id"] for r in sarif.render(v)["runs"]] == ["mlsecops/deps/", "mlsecops/gate/"]


def test_the_comment_shows_the_whole_policy_change(tmp_path: Path) -> None:
    repo, base, head = _repo(tmp_path, head_policy=LOOSER + "waivers:\n  - {rule: MLS101, path: 'a/[x](y)', reason: r, expires: 2099-01-01}\n")
    md = tmp_path / "c.md"
    from tests.conftest import run_cli

    proc = run_cli("scan", str(repo), "--base", base, "--head", head, "--stages", "models", "--markdown", str(md),
                   "--sarif", str(tmp_path / "s.sarif"), "--no-cache", "-q")
    assert proc.returncode == 1, proc.stderr
    text = md.read_text()
    assert "### Policy change" in text and "1 policy change" in text
    assert "- loosens: models\\.fail\\_on: high → never \\(line 4\\)" in text
    assert "](y)" not in text  # the PR's strings cannot make links
