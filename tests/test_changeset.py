"""The changeset: diff mode, whole-tree mode, plain folders, and what is never followed or opened."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlsecops.changes import changeset
from mlsecops.changes.artifact import ChangesetError
from tests.conftest import git, make_repo


def paths(cs: changeset.Changeset) -> set[str]:
    return {a.path for a in cs.artifacts}


def test_diff_mode_added_modified_renamed_not_deleted(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    base, head = make_repo(
        repo,
        {"keep.txt": "same", "mod.txt": "v1", "gone.txt": "bye", "old/name.bin": "x" * 200},
        {"mod.txt": "v2", "gone.txt": None, "new.pkl": "new", "old/name.bin": None, "moved/name.bin": "x" * 200},
    )
    cs = changeset.build(repo, tmp_path / "work", base=base, head=head)
    assert cs.mode == "diff"
    assert paths(cs) == {"mod.txt", "new.pkl", "moved/name.bin"}
    assert cs.deleted == ["gone.txt"]
    moved = cs.find("moved/name.bin")
    assert moved and moved.status == "renamed" and moved.old_path == "old/name.bin" and moved.base_blob
    assert cs.find("new.pkl").status == "added" and cs.find("new.pkl").base_blob is None  # type: ignore[union-attr]
    assert all(a.blob for a in cs.artifacts)  # clean work tree: blob ids are free cache keys


def test_all_flag_scans_every_file_even_with_base(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    base, head = make_repo(repo, {"a.txt": "1"}, {"b.txt": "2"})
    cs = changeset.build(repo, tmp_path / "w", base=base, head=head, all_files=True)
    assert cs.mode == "all" and paths(cs) == {"a.txt", "b.txt"}


def test_head_other_than_checkout_is_read_from_git(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    base, head = make_repo(repo, {"a.txt": "1"}, {"a.txt": "2", "b.txt": "new"})
    git(repo, "checkout", "-q", base)
    cs = changeset.build(repo, tmp_path / "w", base=base, head=head)
    b = cs.find("b.txt")
    assert b and b.source.read_text() == "new" and not (repo / "b.txt").exists()


def test_plain_folder_and_subfolder_paths_are_relative_to_path(tmp_path: Path) -> None:
    (tmp_path / "proj" / "sub").mkdir(parents=True)
    (tmp_path / "proj" / "sub" / "m.pkl").write_bytes(b"\x80\x04N.")
    cs = changeset.build(tmp_path / "proj", tmp_path / "w")
    assert paths(cs) == {"sub/m.pkl"} and cs.git_root is None
    repo = tmp_path / "repo"
    base, head = make_repo(repo, {"models/a.bin": "1", "other.txt": "1"}, {"models/a.bin": "2", "other.txt": "2"})
    cs = changeset.build(repo / "models", tmp_path / "w2", base=base, head=head)
    assert paths(cs) == {"a.bin"} and cs.prefix == "models"


def test_policy_paths_and_ignore_globs(tmp_path: Path) -> None:
    for rel in ("models/a.pkl", "models/deep/b.pkl", "tests/fixtures/c.pkl", "README.md"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    cs = changeset.build(tmp_path, tmp_path / ".w", include=["models/**", "tests/**"], exclude=["tests/fixtures/**"])
    assert paths(cs) == {"models/a.pkl", "models/deep/b.pkl"}
    assert any(s.path == "tests/fixtures/c.pkl" and "policy" in s.reason for s in cs.skipped)


def test_symlinks_fifos_and_devices_are_never_followed_or_opened(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.pkl").write_bytes(b"\x80\x04N.")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "real.txt").write_text("x")
    os.symlink(outside / "secret.pkl", proj / "link.pkl")
    os.symlink(outside, proj / "linkdir")
    os.mkfifo(proj / "pipe")
    cs = changeset.build(proj, tmp_path / "w")
    assert paths(cs) == {"real.txt"}
    reasons = {s.path: s.reason for s in cs.skipped}
    assert reasons["link.pkl"].startswith("symlink") and reasons["linkdir"].startswith("symlink")
    assert reasons["pipe"].startswith("FIFO")


def test_symlink_in_a_diff_is_skipped(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    base, _ = make_repo(repo, {"a.txt": "1"}, {})
    os.symlink("/etc/passwd", repo / "evil.pkl")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "link")
    cs = changeset.build(repo, tmp_path / "w", base=base)
    assert not cs.artifacts and cs.skipped[0].reason.startswith("symlink")


def test_unusable_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ChangesetError, match="cannot read"):
        changeset.build(tmp_path / "nope", tmp_path / "w")
    with pytest.raises(ChangesetError, match="needs a git repository"):
        changeset.build(tmp_path, tmp_path / "w", base="HEAD~1")
    repo = tmp_path / "repo"
    make_repo(repo, {"a": "1"}, {"a": "2"})
    with pytest.raises(ChangesetError, match="unknown revision 'nosuchref'"):
        changeset.build(repo, tmp_path / "w", base="nosuchref")
    with pytest.raises(ChangesetError, match="not a revision"):
        changeset.build(repo, tmp_path / "w", base="--output=/tmp/x")


def test_fuzz_outputs_are_skipped_unless_tracked(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo, {"a.txt": "1"}, {".mlsecops/reproducers/committed.pkl": "tracked"})
    (repo / ".mlsecops" / "fuzz-corpus").mkdir(parents=True)
    (repo / ".mlsecops" / "fuzz-corpus" / "seed.bin").write_text("x")
    (repo / ".mlsecops" / "reproducers" / "crash.pkl").write_text("y")
    gen = [".mlsecops/fuzz-corpus", ".mlsecops/reproducers"]
    cs = changeset.build(repo, tmp_path / "w", generated=gen)
    assert paths(cs) == {"a.txt", ".mlsecops/reproducers/committed.pkl"}
    plain = tmp_path / "plain"
    (plain / ".mlsecops" / "fuzz-corpus").mkdir(parents=True)
    (plain / ".mlsecops" / "fuzz-corpus" / "seed.bin").write_text("x")
    assert not changeset.build(plain, tmp_path / "w2", generated=gen).artifacts
