"""Issue 13.2 end to end: MLS001 says what a policy change loosens and tightens; a loosening
blocks, a tightening does not; adopting a first policy is judged against the shipped default."""

from __future__ import annotations

from pathlib import Path

from mlsecops.policy.source import shipped_path
from tests.conftest import make_repo, scan_json


def _scan(tmp_path: Path, base_files: dict, head_files: dict) -> tuple[int, dict]:
    repo = tmp_path / "r"
    base, head = make_repo(repo, {"README": "x", **base_files}, head_files)
    return scan_json(tmp_path, repo, "--base", base, "--head", head, "--stages", "models")


def _mls001(report: dict) -> dict:
    (f,) = [f for f in report["findings"] if f["rule_id"] == "MLS001"]
    return f


def test_a_tightening_edit_passes_and_says_what_it_tightens(tmp_path: Path) -> None:
    code, report = _scan(tmp_path, {".mlsecops.yml": "models:\n  fail_on: high\n"},
                         {".mlsecops.yml": "models:\n  fail_on: medium\n  blocked_formats: [pickle]\n"})
    f = _mls001(report)
    assert code == 0 and f["status"] == "advisory" and f["severity"] == "info"
    assert f["evidence"] == ["tightens: models.fail_on: high → medium (line 2)",
                             "tightens: models.blocked_formats: + pickle (line 3)"]
    assert f["properties"] == {"loosens": 0, "tightens": 2}
    assert "takes effect after merge" in f["message"]


def test_a_loosening_edit_blocks_and_lists_both_directions(tmp_path: Path) -> None:
    code, report = _scan(tmp_path, {".mlsecops.yml": "models:\n  fail_on: high\n"},
                         {".mlsecops.yml": "models:\n  fail_on: medium\n"
                          "waivers:\n  - {rule: MLS1*, path: 'models/**', reason: vendor, expires: 2099-01-01}\n"})
    f = _mls001(report)
    assert code == 1 and f["status"] == "blocking" and f["severity"] == "high"
    assert "loosens: waivers: + MLS1* on models/** (until 2099-01-01) (line 4)" in f["evidence"]
    assert "tightens: models.fail_on: high → medium (line 2)" in f["evidence"]
    assert f["line"] == 4


def test_adopting_a_first_policy_stricter_than_the_default_passes(tmp_path: Path) -> None:
    strict = shipped_path("strict").read_text()
    code, report = _scan(tmp_path, {}, {".mlsecops.yml": strict})
    f = _mls001(report)
    assert code == 0 and f["status"] == "advisory", f
    assert "shipped default" in f["message"] and "new policy takes effect after merge" in f["message"]
    assert "shipped" in report["policy"]


def test_adopting_a_copy_of_the_default_passes(tmp_path: Path) -> None:
    code, report = _scan(tmp_path, {}, {".mlsecops.yml": shipped_path("default").read_text()})
    f = _mls001(report)
    assert code == 0 and "changes nothing the gate enforces" in f["message"]


def test_adopting_a_first_policy_looser_than_the_default_blocks(tmp_path: Path) -> None:
    code, report = _scan(tmp_path, {}, {".mlsecops.yml": shipped_path("audit-only").read_text()})
    f = _mls001(report)
    assert code == 1 and f["status"] == "blocking" and "models.fail_on: high → never" in f["message"]


def test_deleting_the_policy_is_judged_against_the_default_that_would_apply(tmp_path: Path) -> None:
    code, report = _scan(tmp_path, {".mlsecops.yml": shipped_path("strict").read_text()}, {".mlsecops.yml": None})
    f = _mls001(report)
    assert code == 1 and "deletes" in f["message"] and f["properties"]["loosens"] > 0


def test_a_proposed_policy_that_does_not_load_blocks_with_its_error(tmp_path: Path) -> None:
    code, report = _scan(tmp_path, {".mlsecops.yml": "models:\n  fail_on: high\n"},
                         {".mlsecops.yml": "models:\n  fail_on: high\n  engines: [mlsecops, ficklng]\n"})
    f = _mls001(report)
    assert code == 1 and f["status"] == "blocking"
    assert "does not load" in f["message"] and "models.engines[1]" in f["message"]
