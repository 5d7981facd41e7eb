"""A shallow checkout, as actions/checkout makes by default: the Action fetches what the diff
needs from origin, or falls back to the pull request's file list from the REST API."""

from __future__ import annotations

from pathlib import Path

from tests.action.action_support import ApiServer, FakeGitHub, GitHttpServer, git, make_repo, pr_event, run_step

STRICT = "version: 1\nmodels:\n  fail_on: medium\n"
LOOSE = "version: 1\nmodels:\n  fail_on: never\n"
INPUTS = {"STAGES": "fuzz", "FUZZ-BUDGET": "1", "COMMENT": "false"}


def _upstream(tmp_path: Path):  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "src", policy=STRICT)
    git(repo.path, "checkout", "-q", "feature")
    (repo.path / ".mlsecops.yml").write_text(LOOSE)
    git(repo.path, "commit", "-q", "-am", "loosen the gate")
    repo.head = git(repo.path, "rev-parse", "HEAD")
    served = tmp_path / "served"
    served.mkdir()
    git(served, "clone", "-q", "--bare", str(repo.path), "demo.git")
    git(served / "demo.git", "config", "uploadpack.allowAnySHA1InWant", "true")
    return repo, served


def test_shallow_clone_is_deepened_from_origin(tmp_path: Path) -> None:
    repo, served = _upstream(tmp_path)
    with GitHttpServer(served) as server:
        work = tmp_path / "workspace"
        git(tmp_path, "clone", "-q", "--depth=1", "--branch", "feature", f"{server.url}/demo.git", str(work))
        assert git(work, "rev-parse", "--is-shallow-repository") == "true"
        result = run_step(tmp_path, work, "pull_request", pr_event(repo), inputs=INPUTS)
    assert "too shallow" in result.stdout and "--depth=" in result.stdout
    assert "fetched enough history" in result.stdout
    assert result.code == 1
    assert "at base" in result.summary  # the base commit's policy was read from the fetched history


def test_unfetchable_history_falls_back_to_the_pr_files_api(tmp_path: Path) -> None:
    repo, served = _upstream(tmp_path)
    with GitHttpServer(served) as server:
        work = tmp_path / "workspace"
        git(tmp_path, "clone", "-q", "--depth=1", "--branch", "feature", f"{server.url}/demo.git", str(work))
    # The server is gone: fetching fails, the API lists the changed files instead.
    files = [{"filename": "models/model.pkl", "status": "added"},
             {"filename": ".mlsecops.yml", "status": "modified"},
             {"filename": "gone.txt", "status": "removed"}]
    with ApiServer(FakeGitHub(pr_files=files)) as gh:
        result = run_step(tmp_path, work, "pull_request", pr_event(repo), gh.url, inputs=INPUTS)
        assert any(r["path"] == "/repos/octo/demo/pulls/7/files" for r in gh.requests)
    assert "git fetch failed" in result.stdout
    assert "scanning the 3 changed file(s) the GitHub API lists" in result.stdout
    # The base policy cannot be read: the shipped default applies and the edit is reported.
    assert result.code == 1
    assert "MLS001" in result.summary and "shipped default" in result.summary


def _gone_server_clone(tmp_path: Path, fetch_base: bool):  # type: ignore[no-untyped-def]
    repo, served = _upstream(tmp_path)
    with GitHttpServer(served) as server:
        work = tmp_path / "workspace"
        git(tmp_path, "clone", "-q", "--depth=1", "--branch", "feature", f"{server.url}/demo.git", str(work))
        if fetch_base:  # the base commit alone, grafted: no merge base with the head
            git(work, "fetch", "-q", "--depth=1", "origin", repo.base)
    return repo, work


def test_a_history_too_shallow_to_diff_and_no_api_still_judges_the_policy_change(tmp_path: Path) -> None:
    """On main the whole-tree fallback resolved the policy with no base at all, so the pull
    request's own `.mlsecops.yml` (models.fail_on: never) applied and its malicious pickle passed."""
    repo, work = _gone_server_clone(tmp_path, fetch_base=True)
    result = run_step(tmp_path, work, "pull_request", pr_event(repo), inputs={**INPUTS, "STAGES": "models"})
    assert "scanning the whole tree" in result.stdout
    assert result.code == 1, result.stdout[-3000:]
    assert "at base" in result.summary and "MLS001" in result.summary


def test_without_the_base_commit_a_looser_policy_than_the_default_is_not_applied(tmp_path: Path) -> None:
    repo, work = _gone_server_clone(tmp_path, fetch_base=False)
    result = run_step(tmp_path, work, "pull_request", pr_event(repo), inputs={**INPUTS, "STAGES": "models"})
    assert "scanning the whole tree" in result.stdout
    assert result.code == 1, result.stdout[-3000:]
    assert "MLS001" in result.summary and "could not be read" in result.summary
    assert "shipped" in result.summary
