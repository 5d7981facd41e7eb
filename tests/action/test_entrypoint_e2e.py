"""entrypoint.py driven the way the runner drives a container action, against a real git repository
and a local stand-in for GitHub's REST API.

Tests marked `needs_models` expect the models stage to find the planted pickle
(verdict fail, exit 1); they are skipped until that stage is installed. The
others get a blocking finding from the policy-tamper guard, which needs no stage.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.action.action_support import GIT_ENV, TOKEN, ApiServer, FakeGitHub, make_repo, parse_command, pr_event, run_step

needs_models = pytest.mark.skipif(
    importlib.util.find_spec("mlsecops.stages.models.stage") is None,
    reason="the models stage (mlsecops.stages.models.stage) is not installed yet",
)

STRICT = "version: 1\nmodels:\n  fail_on: medium\n"
LOOSE = "version: 1\nmodels:\n  fail_on: never\ndeps:\n  fail_on: never\nfuzz:\n  fail_on: never\n"
NO_STAGES = {"STAGES": "fuzz", "FUZZ-BUDGET": "1"}


def _token_only_in_mask(result) -> None:  # type: ignore[no-untyped-def]
    """The token appears exactly once: in the runner's ::add-mask:: protocol line, nowhere else."""
    mask_line = f"::add-mask::{TOKEN}"
    assert result.stdout.count(mask_line) == 1
    assert result.stdout.splitlines()[0] == mask_line
    assert TOKEN not in result.everything().replace(mask_line, "")


def _tamper_repo(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A PR that loosens the policy (and adds a malicious pickle): MLS001 blocks whatever the stages do."""
    repo = make_repo(tmp_path / "repo", policy=STRICT)
    from tests.action.action_support import git

    git(repo.path, "checkout", "-q", "feature")
    (repo.path / ".mlsecops.yml").write_text(LOOSE)
    git(repo.path, "commit", "-q", "-am", "loosen the gate")
    repo.head = git(repo.path, "rev-parse", "HEAD")
    return repo


def test_first_run_creates_second_updates_one_comment(tmp_path: Path) -> None:
    repo = _tamper_repo(tmp_path)
    with ApiServer(FakeGitHub()) as gh:
        gh.add_comment("an unrelated comment")
        gh.add_comment("<!-- mlsecops:comment -->\n<!-- mlsecops:workflow mlsecops gate -->\nplanted by the PR author",
                       user="mallory", association="CONTRIBUTOR")
        first = run_step(tmp_path, repo.path, "pull_request", pr_event(repo), gh.url, inputs=NO_STAGES)
        assert first.code == 1, first.stdout + first.stderr
        ours = [c for c in gh.comments if c["user"]["type"] == "Bot"]
        assert len(ours) == 1
        assert ours[0]["body"].startswith("<!-- mlsecops:comment -->\n<!-- mlsecops:workflow mlsecops gate -->\n")
        assert "MLS001" in ours[0]["body"]
        assert gh.comments[1]["body"].endswith("planted by the PR author")  # never adopted
        second = run_step(tmp_path, repo.path, "pull_request", pr_event(repo), gh.url, inputs=NO_STAGES)
        assert second.code == 1
        assert [c["id"] for c in gh.comments if c["user"]["type"] == "Bot"] == [ours[0]["id"]]
        methods = [(r["method"], r["path"].rsplit("/", 2)[-2:]) for r in gh.requests]
        assert ("PATCH", ["comments", str(ours[0]["id"])]) in methods
        assert all(r["auth"] == f"Bearer {TOKEN}" for r in gh.requests)
    for result in (first, second):
        assert result.outputs["verdict"] == "fail"
        assert int(result.outputs["blocking"]) >= 1
        assert result.outputs["sarif-file"] == "mlsecops.sarif"
        assert "::error file=.mlsecops.yml,line=3,title=mlsecops MLS001" in result.stdout  # the line it loosens
        _only_our_commands(result.stdout)
        _token_only_in_mask(result)
    sarif = json.loads((repo.path / "mlsecops.sarif").read_text())
    assert any(r["ruleId"] == "MLS001" for run in sarif["runs"] for r in run["results"])


def test_policy_tamper_uses_base_policy(tmp_path: Path) -> None:
    repo = _tamper_repo(tmp_path)
    with ApiServer(FakeGitHub()) as gh:
        result = run_step(tmp_path, repo.path, "pull_request", pr_event(repo), gh.url,
                          inputs={**NO_STAGES, "COMMENT": "false"})
        assert gh.requests == []  # comment: false makes no API call at all
    assert result.code == 1
    assert "at base" in result.summary and "MLS001" in result.summary


def test_forbidden_comment_degrades_to_summary_and_keeps_exit_code(tmp_path: Path) -> None:
    repo = _tamper_repo(tmp_path)
    with ApiServer(FakeGitHub(fail_post=403)) as gh:
        result = run_step(tmp_path, repo.path, "pull_request", pr_event(repo), gh.url, inputs=NO_STAGES)
    assert result.code == 1
    assert result.outputs["verdict"] == "fail"
    warning = [line for line in result.stdout.splitlines() if line.startswith("::warning")]
    assert any("could not post the PR comment" in w and "403" in w for w in warning)
    assert "could not post the PR comment" in result.summary
    assert "MLS001" in result.summary
    _token_only_in_mask(result)


def test_api_down_and_rate_limited_never_changes_the_verdict(tmp_path: Path) -> None:
    repo = _tamper_repo(tmp_path)
    with ApiServer(FakeGitHub(rate_limit_once=True, fail_once=[502])) as gh:
        result = run_step(tmp_path, repo.path, "pull_request", pr_event(repo), gh.url, inputs=NO_STAGES)
        assert len([c for c in gh.comments if c["user"]["type"] == "Bot"]) == 1
    assert result.code == 1
    assert "retrying" in result.stdout
    # No server at all: the comment fails, the gate does not.
    offline = run_step(tmp_path, repo.path, "pull_request", pr_event(repo), "http://127.0.0.1:9", inputs=NO_STAGES)
    assert offline.code == 1
    assert "could not post the PR comment" in offline.summary
    _token_only_in_mask(offline)


def test_bad_input_is_a_configuration_error(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    result = run_step(tmp_path, repo.path, "pull_request", pr_event(repo), inputs={"STAGES": "deps,bogus"})
    assert result.code == 2
    assert result.outputs["verdict"] == "error"
    assert "::error title=mlsecops configuration error::input 'stages'" in result.stdout
    _token_only_in_mask(result)


def _only_our_commands(stdout: str) -> None:
    """Every line the runner would read as a command is one we meant. (`##[` inside one of our
    `::` commands is inert: the runner tries the `::` syntax first and takes the whole line.)"""
    for line in stdout.splitlines():
        stripped = line.lstrip()
        if stripped.startswith("::"):
            kind = stripped[2:].split(" ", 1)[0].split("::", 1)[0]
            assert kind in {"add-mask", "stop-commands", "error", "warning", "notice"} or kind.startswith("mlsecops-"), line
        else:
            assert "##[" not in line, line


@needs_models
def test_untrusted_file_names_cannot_inject_workflow_commands(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    from tests.action.action_support import git, malicious_pickle

    git(repo.path, "checkout", "-q", "feature")
    evil = "a,b:c%0A::stop-commands::x ##[set-output name=verdict]pass\n::warning::forged.pkl"
    (repo.path / "models" / evil).write_bytes(malicious_pickle())
    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-q", "-m", "evil name")
    repo.head = git(repo.path, "rev-parse", "HEAD")
    result = run_step(tmp_path, repo.path, "pull_request", pr_event(repo), inputs={"STAGES": "models", "COMMENT": "false"})
    assert result.code == 1
    assert result.outputs["verdict"] == "fail"
    _only_our_commands(result.stdout)
    parsed = [parse_command(line) for line in result.stdout.splitlines()]
    files = [props.get("file") for kind, props, _ in filter(None, parsed) if kind == "error"]
    assert f"models/{evil}" in files  # the runner reads back exactly the file name, nothing more


@needs_models
def test_malicious_pickle_fails_and_clean_head_passes(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    with ApiServer(FakeGitHub()) as gh:
        bad = run_step(tmp_path, repo.path, "pull_request", pr_event(repo), gh.url, inputs={"STAGES": "models"})
        assert bad.code == 1, bad.stdout + bad.stderr
        assert bad.outputs["verdict"] == "fail"
        assert "file=models/model.pkl" in bad.stdout
        good = run_step(tmp_path, repo.path, "pull_request", pr_event(repo, head=repo.clean_head), gh.url,
                        inputs={"STAGES": "models"})
        assert good.code == 0, good.stdout + good.stderr
        assert good.outputs["verdict"] == "pass"
        bots = [c for c in gh.comments if c["user"]["type"] == "Bot"]
        # One comment, updated in place: the earlier "blocked" turns into "resolved".
        assert len(bots) == 1 and "resolved" in bots[0]["body"] and "<!-- mlsecops:state resolved -->" in bots[0]["body"]
    for result in (bad, good):
        _token_only_in_mask(result)


@needs_models
def test_push_of_new_branch_scans_whole_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    event = {"before": "0" * 40, "after": repo.head, "created": True, "repository": {"full_name": "octo/demo"}}
    result = run_step(tmp_path, repo.path, "push", event, inputs={"STAGES": "models"})
    assert "push created a branch" in result.stdout
    assert result.code == 1


def _merge_checkout(tmp_path: Path, pr_edits_policy: bool):  # type: ignore[no-untyped-def]
    """The target branch changes its policy after the PR forked; CI checks out the merge commit."""
    from tests.action.action_support import git

    repo = make_repo(tmp_path / "repo", policy=STRICT)
    if pr_edits_policy:
        git(repo.path, "checkout", "-q", "feature")
        (repo.path / ".mlsecops.yml").write_text(LOOSE)
        git(repo.path, "commit", "-q", "-am", "loosen the gate")
        repo.head = git(repo.path, "rev-parse", "HEAD")
    git(repo.path, "checkout", "-q", "main")
    (repo.path / ".mlsecops.yml").write_text(STRICT + "# reviewed on main\n")
    git(repo.path, "commit", "-q", "-am", "tighten on main")
    repo.base = git(repo.path, "rev-parse", "HEAD")
    git(repo.path, "checkout", "-q", "--detach", repo.base)
    merge = subprocess.run(["git", "-C", str(repo.path), "merge", "-q", "--no-edit", "-X", "ours", repo.head],
                           capture_output=True, text=True, env={**os.environ, **GIT_ENV})
    assert merge.returncode == 0, merge.stderr
    return repo


def test_a_policy_change_on_the_target_branch_is_not_the_prs(tmp_path: Path) -> None:
    repo = _merge_checkout(tmp_path, pr_edits_policy=False)
    result = run_step(tmp_path, repo.path, "pull_request", pr_event(repo), inputs={**NO_STAGES, "COMMENT": "false"})
    assert "MLS001" not in result.summary and "MLS001" not in result.stdout
    assert "policy .mlsecops.yml" in result.stdout  # the checked-out (target branch) policy


def test_a_pr_policy_edit_is_judged_with_the_current_target_policy(tmp_path: Path) -> None:
    repo = _merge_checkout(tmp_path, pr_edits_policy=True)
    result = run_step(tmp_path, repo.path, "pull_request", pr_event(repo), inputs={**NO_STAGES, "COMMENT": "false"})
    assert result.code == 1
    assert f"at base {repo.base[:12]}" in result.stdout
