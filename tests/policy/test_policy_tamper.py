"""A pull request that tries to choose its own policy without MLS001 saying so.

Each of these passed on main (d03445c..63d6cc2) with the base branch's `strict` policy in force:
the pull request's model (an import nobody allowlisted: MLS103, which `strict` blocks) went
through as "advisory" with no finding about the policy at all, or with an info-level MLS001.

- `.mlsecops.yml` turned into a symbolic link to a policy outside the repository (the installed
  gate's own `audit-only.yml`): the guard resolved the link, found it outside the repository,
  decided "a policy outside the repository cannot be edited by the PR" and applied it;
- `.mlsecops.yml` turned into a link to a new file in the repository: the guard compared the
  link's *target* at the base commit (absent) and judged the PR with the shipped default
  instead of the base branch's policy;
- `--policy strict` with a file named `strict` added by the pull request: the file won over the
  shipped policy of that name.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlsecops.policy.source import shipped_path
from tests.conftest import git, make_repo, scan_json

# An import of the PR's own class: MLS103, medium under the default policy, high (blocking) under strict.
UNKNOWN_IMPORT = b"\x80\x02cmypkg.models\nMyModel\nq\x00)\x81q\x01."


def _head_commit(repo: Path, message: str = "head") -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def _mls001(report: dict) -> dict:
    (f,) = [f for f in report["findings"] if f["rule_id"] == "MLS001"]
    return f


def _status(report: dict, rule: str) -> str:
    (f,) = [f for f in report["findings"] if f["rule_id"] == rule]
    return str(f["status"])


def _strict_repo(tmp_path: Path) -> tuple[Path, str]:
    repo = tmp_path / "r"
    base, _ = make_repo(repo, {"README": "x", ".mlsecops.yml": shipped_path("strict").read_text()},
                        {"models/m.pkl": UNKNOWN_IMPORT})
    return repo, base


def test_a_policy_file_linked_out_of_the_repository_is_not_applied(tmp_path: Path) -> None:
    repo, base = _strict_repo(tmp_path)
    (repo / ".mlsecops.yml").unlink()
    os.symlink(shipped_path("audit-only").resolve(), repo / ".mlsecops.yml")
    head = _head_commit(repo)
    code, report = _scan_diff(tmp_path, repo, base, head)
    assert code == 1, report
    assert _status(report, "MLS103") == "blocking"  # judged with the base branch's strict policy
    f = _mls001(report)
    assert f["status"] == "blocking" and f["path"] == ".mlsecops.yml"
    assert "outside the repository" in f["message"]
    assert report["policy"].startswith(".mlsecops.yml at base ")


def test_a_policy_file_linked_to_a_new_file_is_judged_with_the_base_policy(tmp_path: Path) -> None:
    repo, base = _strict_repo(tmp_path)
    (repo / ".mlsecops.yml").unlink()
    (repo / "conf.yml").write_text(shipped_path("default").read_text())
    os.symlink("conf.yml", repo / ".mlsecops.yml")
    head = _head_commit(repo)
    code, report = _scan_diff(tmp_path, repo, base, head)
    assert code == 1, report
    assert _status(report, "MLS103") == "blocking"
    f = _mls001(report)
    assert f["status"] == "blocking" and "edits" in f["message"]
    assert any("models.fail_on: medium → high" in e for e in f["evidence"]), f["evidence"]


def test_editing_the_file_a_policy_link_points_at_is_a_policy_change(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    (repo / "conf").mkdir(parents=True)
    (repo / "conf" / "gate.yml").write_text(shipped_path("strict").read_text())
    os.symlink("conf/gate.yml", repo / ".mlsecops.yml")
    base, head = make_repo(repo, {"README": "x"}, {"conf/gate.yml": shipped_path("audit-only").read_text(),
                                                   "models/m.pkl": UNKNOWN_IMPORT})
    code, report = _scan_diff(tmp_path, repo, base, head)
    assert code == 1 and _status(report, "MLS103") == "blocking"
    assert _mls001(report)["status"] == "blocking"


def test_a_link_loop_or_a_folder_as_the_policy_is_a_loosening_not_a_crash(tmp_path: Path) -> None:
    repo, base = _strict_repo(tmp_path)
    (repo / ".mlsecops.yml").unlink()
    os.symlink("a", repo / ".mlsecops.yml")
    os.symlink(".mlsecops.yml", repo / "a")
    head = _head_commit(repo)
    code, report = _scan_diff(tmp_path, repo, base, head)
    assert code == 1 and _status(report, "MLS103") == "blocking"
    assert "symbolic links" in _mls001(report)["message"]


def test_an_unchanged_policy_link_still_applies(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    (repo / "conf").mkdir(parents=True)
    (repo / "conf" / "gate.yml").write_text(shipped_path("strict").read_text())
    os.symlink("conf/gate.yml", repo / ".mlsecops.yml")
    base, head = make_repo(repo, {"README": "x"}, {"models/m.pkl": UNKNOWN_IMPORT})
    code, report = _scan_diff(tmp_path, repo, base, head)
    assert code == 1 and _status(report, "MLS103") == "blocking"
    assert not [f for f in report["findings"] if f["rule_id"] == "MLS001"]


def test_a_shipped_policy_name_is_never_a_file_of_the_pull_request(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    base, head = make_repo(repo, {"README": "x"}, {"strict": "version: 1\n", "models/m.pkl": UNKNOWN_IMPORT})
    report_path = tmp_path / "report.json"
    from tests.conftest import run_cli

    proc = run_cli("scan", ".", "--base", base, "--head", head, "--stages", "models", "--policy", "strict",
                   "--json", str(report_path), "--sarif", str(tmp_path / "o.sarif"), "--no-cache", "-q", cwd=repo)
    import json

    report = json.loads(report_path.read_text())
    assert proc.returncode == 1, proc.stderr
    assert report["policy"] == "policies/strict.yml (shipped)"
    assert _status(report, "MLS103") == "blocking"


def _scan_diff(tmp_path: Path, repo: Path, base: str, head: str) -> tuple[int, dict]:
    return scan_json(tmp_path, repo, "--base", base, "--head", head, "--stages", "models")


def test_a_hostile_proposed_policy_is_a_loosening_not_a_crash_or_a_stall(tmp_path: Path) -> None:
    """A PR's proposed policy is parsed by the gate: nested 100,000 deep (a C-stack crash for
    libyaml's composer), 300,000 list entries (each glob compiled: 30 s on main) or one 1 MB glob
    (pathspec's compile: over a minute on main) must each end as MLS001, 'does not load'."""
    shapes = {
        "deep": "paths: " + "[" * 100_000,
        "wide": "paths: [" + "a, " * 300_000 + "a]\n",
        "long": "paths: ['" + "a" * 1_000_000 + "']\n",
    }
    for name, text in shapes.items():
        repo = tmp_path / name
        base, head = make_repo(repo, {"README": "x", ".mlsecops.yml": "version: 1\n"}, {".mlsecops.yml": text})
        code, report = scan_json(tmp_path / f"{name}-out", repo, "--base", base, "--head", head, "--stages", "models")
        f = _mls001(report)
        assert code == 1 and f["status"] == "blocking" and "does not load" in f["message"], (name, f["message"][:300])
