"""Running inside the container: git trusts a checkout owned by another user, root is dropped,
and entrypoint.py is the CLI when given arguments."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.action.action_support import ENTRYPOINT, REPO_ROOT, make_repo
from mlsecops.action import gitenv, privileges
from mlsecops.changes import git as mgit


def test_trusted_dirs_cover_the_path_up_to_the_workspace(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert gitenv.trusted_dirs(ws / "a" / "b", ws) == [str(ws / "a" / "b"), str(ws / "a"), str(ws)]
    assert gitenv.trusted_dirs(ws, ws) == [str(ws)]
    env = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.x", "GIT_CONFIG_VALUE_0": "y"}
    gitenv.add_safe_directories(env, ["/w"])
    assert env["GIT_CONFIG_COUNT"] == "2" and env["GIT_CONFIG_KEY_1"] == "safe.directory" and env["GIT_CONFIG_VALUE_1"] == "/w"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand the checkout to another uid")
def test_safe_directory_lets_git_read_a_foreign_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "repo").path
    for p in [repo, *repo.rglob("*")]:
        os.lchown(p, 1001, 1001)
    monkeypatch.delenv("GIT_CONFIG_COUNT", raising=False)
    assert mgit.toplevel(repo) is None  # "dubious ownership": git refuses
    env: dict[str, str] = {}
    gitenv.add_safe_directories(env, gitenv.trusted_dirs(repo, repo))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert mgit.toplevel(repo) == repo


def test_privilege_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    owned = tmp_path / "owned"
    owned.mkdir()
    monkeypatch.setattr(Path, "stat", lambda self, **kw: os.stat_result((0o40755, 0, 0, 0, 1234, 1234, 0, 0, 0, 0)))
    assert privileges.target_uid(owned) == 1234
    monkeypatch.setattr(Path, "stat", lambda self, **kw: os.stat_result((0o40755, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
    assert privileges.target_uid(owned) is None  # root owns it: stay, or the reports cannot be written
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(Path, "stat", lambda self, **kw: os.stat_result((0o40755, 0, 0, 0, 1234, 1234, 0, 0, 0, 0)))
    assert privileges.target_uid(owned) is None  # not root: nothing to drop


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")
def test_drop_in_a_child(tmp_path: Path) -> None:
    code = ("import os; from mlsecops.action import privileges; env = {'HOME': '/root'}; "
            "privileges.drop(4321, env); print(os.getuid(), os.getgid(), os.getgroups(), os.access(env['HOME'], os.W_OK))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(REPO_ROOT), "PATH": os.environ["PATH"]}, cwd="/").stdout.split()
    assert out == ["4321", str(privileges.IMAGE_GID), "[]", "True"]


def test_entrypoint_with_arguments_is_the_cli(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO_ROOT), "GITHUB_ACTIONS": "true", "HOME": str(tmp_path)}
    version = subprocess.run([sys.executable, str(ENTRYPOINT), "--version"], capture_output=True, text=True, env=env)
    assert version.returncode == 0 and version.stdout.startswith("mlsecops ")
    bad = tmp_path / "p.yml"
    bad.write_text("version: 1\nmodels:\n  fail_on: sometimes\n")
    check = subprocess.run([sys.executable, str(ENTRYPOINT), "policy", "check", str(bad)], capture_output=True, text=True, env=env)
    assert check.returncode == 2 and "fail_on" in check.stderr
    none = subprocess.run([sys.executable, str(ENTRYPOINT)], capture_output=True, text=True,
                          env={**env, "GITHUB_ACTIONS": ""})
    assert none.returncode == 2 and "scan /repo" in none.stderr


def test_filelist_reads_listed_files_safely(tmp_path: Path) -> None:
    from mlsecops.changes.filelist import ChangedFile, from_files

    root = tmp_path / "r"
    (root / "m").mkdir(parents=True)
    (root / "m" / "a.pkl").write_bytes(b"x")
    (root / "link").symlink_to("/etc")
    files = [ChangedFile(path="m/a.pkl", status="added"), ChangedFile(path="gone.pkl", status="removed"),
             ChangedFile(path="link/passwd"), ChangedFile(path="../outside"), ChangedFile(path="missing.pkl")]
    cs = from_files(root, None, "", files, "b", "h")
    assert [a.path for a in cs.artifacts] == ["m/a.pkl"] and cs.mode == "diff"
    assert cs.deleted == ["gone.pkl"]
    reasons = {s.path: s.reason for s in cs.skipped}
    assert "symlink" in reasons["link/passwd"] and "plain relative" in reasons["../outside"]
    assert "missing" in reasons["missing.pkl"]
