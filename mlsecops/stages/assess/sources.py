"""Find the files an `assess.models` entry names: at the head commit and at the base commit.

Paths are relative to the scanned PATH. In diff mode the head version is the
changeset's artifact when the file changed, else the blob at the head commit;
the base version is the blob at the merge base (where the changeset's diff
starts), found through a rename when the changeset saw one. Without git, or in
`--all` mode, the head is the work tree. Symlinks are never followed.

Every version is copied once into the entry's private folder (outside any
sandbox), bounded by its size limit, and its content id is the SHA-256 of the
bytes copied: format detection, the cache key and the sandbox all see those
bytes. A git blob id is not used as the id, because the checked-out file can
differ from its blob (`.gitattributes` conversions), and a key must name what
was evaluated.

Whether an entry changed is asked of git (the path's tree entry at the head and
at the merge base), not of the changeset, which leaves out files the policy's
`paths`/`ignore` exclude, symlinks and oversized files.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from pydantic import BaseModel, Field

from mlsecops.changes import git
from mlsecops.changes.artifact import Changeset
from mlsecops.formats.safe_open import open_regular


class SourceError(Exception):
    """The file cannot be had (missing, a symlink, too large). `str()` says which and why."""


class Source(BaseModel):
    path: str
    file: Path = Field(description="the private copy")
    content_id: str = Field(description="sha256: of the copy's bytes")
    size: int


def _top_path(changeset: Changeset, rel: str) -> str:
    return f"{changeset.prefix}/{rel}" if changeset.prefix else rel


def _private(src: Path, dest: Path, rel: str, limit_mb: int) -> Source:
    """Copy `src` to `dest` (never following a link), at most the size limit, hashing what is copied."""
    limit = limit_mb * 1024 * 1024
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    size = 0
    fh, _ = open_regular(src)
    with fh, dest.open("wb") as out:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            size += len(chunk)
            if size > limit:
                raise SourceError(f"{rel} is larger than the policy's limit ({limit_mb} MiB)")
            h.update(chunk)
            out.write(chunk)
    return Source(path=rel, file=dest, content_id="sha256:" + h.hexdigest(), size=size)


def _tree_entry(root: Path, rev: str, top_path: str) -> tuple[str, str] | None:
    """(mode, blob id) of one path at `rev`, or None when it is not there."""
    out = git.run(root, "ls-tree", "-z", "--full-tree", rev, "--", top_path).decode("utf-8", "surrogateescape")
    rec = out.split("\0", 1)[0]
    if not rec:
        return None
    meta = rec.split("\t", 1)[0].split(" ")
    return meta[0], meta[2]


def _from_git(changeset: Changeset, rev: str, rel: str, dest: Path, limit_mb: int, what: str) -> Source | None:
    assert changeset.git_root is not None
    entry = _tree_entry(changeset.git_root, rev, _top_path(changeset, rel))
    if entry is None:
        return None
    mode, blob = entry
    if mode == "120000":
        raise SourceError(f"{rel} is a symlink at the {what} commit (not followed)")
    if mode == "160000":
        raise SourceError(f"{rel} is a submodule at the {what} commit")
    size = int(git.run(changeset.git_root, "cat-file", "-s", blob).decode().strip())
    if size > limit_mb * 1024 * 1024:
        raise SourceError(f"{rel} is larger than the policy's limit ({limit_mb} MiB)")
    raw = dest.parent / "blobs" / blob
    if not raw.exists():
        git.cat_blob_to(changeset.git_root, blob, raw)
    return _private(raw, dest, rel, limit_mb)


def head(changeset: Changeset, rel: str, dest: Path, limit_mb: int) -> Source:
    """The version of `rel` this change proposes, copied to `dest`."""
    art = changeset.find(rel)
    if art is not None:
        if art.size > limit_mb * 1024 * 1024:
            raise SourceError(f"{rel} is larger than the policy's limit ({limit_mb} MiB)")
        return _private(art.source, dest, rel, limit_mb)
    if changeset.mode == "diff" and changeset.git_root is not None and changeset.head:
        if rel in changeset.deleted:
            raise SourceError(f"{rel} is deleted by this change")
        found = _from_git(changeset, changeset.head, rel, dest, limit_mb, "head")
        if found is None:
            raise SourceError(f"{rel} does not exist at the head commit")
        return found
    path = changeset.root / rel
    for parent in [changeset.root / "/".join(rel.split("/")[:i]) for i in range(1, rel.count("/") + 1)]:
        if parent.is_symlink():
            raise SourceError(f"{rel}: {parent.relative_to(changeset.root)} is a symlink (not followed)")
    try:
        return _private(path, dest, rel, limit_mb)
    except FileNotFoundError:
        raise SourceError(f"{rel} does not exist") from None
    except SourceError:
        raise
    except OSError as exc:
        raise SourceError(f"{rel} cannot be read: {exc.strerror or exc}") from None


def base_commit(changeset: Changeset) -> tuple[str | None, str]:
    """The commit whose model is the baseline, or None and why there is none."""
    if changeset.git_root is None:
        return None, "not a git repository, so there is no base model"
    if not changeset.base:
        return None, "no base commit (run with --base, or on a pull request)"
    if changeset.mode == "diff" and changeset.head:
        try:
            return git.merge_base(changeset.git_root, changeset.base, changeset.head), ""
        except git.GitError as exc:
            return None, f"no merge base with the base commit ({exc})"
    return changeset.base, ""


def base_version(changeset: Changeset, rel: str, dest: Path, limit_mb: int) -> Source | None:
    """The base commit's version of `rel` (through a rename the changeset saw), or None when there is none
    (no base commit, or the file is new). Raise SourceError (or GitError) when it is there but cannot be had."""
    commit, _ = base_commit(changeset)
    if commit is None:
        return None
    art = changeset.find(rel)
    old = art.old_path if art is not None and art.old_path else rel
    found = _from_git(changeset, commit, old, dest, limit_mb, "base")
    return found.model_copy(update={"path": rel}) if found is not None else None


def base(changeset: Changeset, rel: str, dest: Path, limit_mb: int) -> tuple[Source | None, str]:
    """The base commit's version of a model, or None and why there is none."""
    commit, why = base_commit(changeset)
    if commit is None:
        return None, why
    try:
        found = base_version(changeset, rel, dest, limit_mb)
    except (SourceError, git.GitError) as exc:
        return None, f"the base version cannot be read: {exc}"
    if found is None:
        return None, "the model is new in this change (not in the base commit)"
    return found, ""


def changed(changeset: Changeset, rel: str) -> bool:
    """Whether this change touches `rel`: git's answer when the merge base is known, whatever the policy's
    `paths`/`ignore` let the changeset see. When it cannot be told, the answer is yes (the entry is assessed)."""
    if changeset.find(rel) is not None or rel in changeset.deleted or any(s.path == rel for s in changeset.skipped):
        return True
    if changeset.git_root is None or not changeset.head:
        return False
    commit, _ = base_commit(changeset)
    if commit is None:
        return True
    top = _top_path(changeset, rel)
    try:
        return _tree_entry(changeset.git_root, changeset.head, top) != _tree_entry(changeset.git_root, commit, top)
    except git.GitError:
        return True


def copy_into(src: Path, dest: Path) -> Path:
    """A copy for one sandboxed job (never a link: the sandbox may write its own folder)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fh, _ = open_regular(src)
    with fh, dest.open("wb") as out:
        shutil.copyfileobj(fh, out, 1 << 20)
    return dest
