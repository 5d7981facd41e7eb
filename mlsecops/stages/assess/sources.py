"""Find the files an `assess.models` entry names: at the head commit and at the base commit.

Paths are relative to the scanned PATH. In diff mode the head version is the
changeset's artifact when the file changed, else the blob at the head commit;
the base version is the blob at the merge base (where the changeset's diff
starts), found through a rename when the changeset saw one. Without git, or in
`--all` mode, the head is the work tree. Symlinks are never followed. Every
file gets a content id for the cache: its git blob id, else a SHA-256.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from pydantic import BaseModel

from mlsecops.changes import git
from mlsecops.changes.artifact import Changeset
from mlsecops.formats.safe_open import open_regular


class SourceError(Exception):
    """The file cannot be had (missing, a symlink, too large). `str()` says which and why."""


class Source(BaseModel):
    path: str
    file: Path
    content_id: str
    size: int


def _top_path(changeset: Changeset, rel: str) -> str:
    return f"{changeset.prefix}/{rel}" if changeset.prefix else rel


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    fh, _ = open_regular(path)
    with fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def _tree_entry(root: Path, rev: str, top_path: str) -> tuple[str, str] | None:
    """(mode, blob id) of one path at `rev`, or None when it is not there."""
    out = git.run(root, "ls-tree", "-z", "--full-tree", rev, "--", top_path).decode("utf-8", "surrogateescape")
    rec = out.split("\0", 1)[0]
    if not rec:
        return None
    meta = rec.split("\t", 1)[0].split(" ")
    return meta[0], meta[2]


def _from_git(changeset: Changeset, rev: str, rel: str, workdir: Path, limit_mb: int, what: str) -> Source | None:
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
    dest = workdir / "blobs" / blob
    if not dest.exists():
        git.cat_blob_to(changeset.git_root, blob, dest)
    return Source(path=rel, file=dest, content_id=blob, size=size)


def head(changeset: Changeset, rel: str, workdir: Path, limit_mb: int) -> Source:
    art = changeset.find(rel)
    if art is not None:
        if art.size > limit_mb * 1024 * 1024:
            raise SourceError(f"{rel} is larger than the policy's limit ({limit_mb} MiB)")
        return Source(path=rel, file=art.source, content_id=art.blob or _sha256(art.source), size=art.size)
    if changeset.mode == "diff" and changeset.git_root is not None and changeset.head:
        if rel in changeset.deleted:
            raise SourceError(f"{rel} is deleted by this change")
        found = _from_git(changeset, changeset.head, rel, workdir, limit_mb, "head")
        if found is None:
            raise SourceError(f"{rel} does not exist at the head commit")
        return found
    path = changeset.root / rel
    for parent in [changeset.root / "/".join(rel.split("/")[:i]) for i in range(1, rel.count("/") + 1)]:
        if parent.is_symlink():
            raise SourceError(f"{rel}: {parent.relative_to(changeset.root)} is a symlink (not followed)")
    try:
        fh, st = open_regular(path)
        fh.close()
    except FileNotFoundError:
        raise SourceError(f"{rel} does not exist") from None
    except OSError as exc:
        raise SourceError(f"{rel} cannot be read: {exc.strerror or exc}") from None
    if st.st_size > limit_mb * 1024 * 1024:
        raise SourceError(f"{rel} is larger than the policy's limit ({limit_mb} MiB)")
    return Source(path=rel, file=path, content_id=_sha256(path), size=st.st_size)


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


def base(changeset: Changeset, rel: str, workdir: Path, limit_mb: int) -> tuple[Source | None, str]:
    """The base commit's version of `rel`, or None and why there is none."""
    commit, why = base_commit(changeset)
    if commit is None:
        return None, why
    art = changeset.find(rel)
    old = art.old_path if art is not None and art.old_path else rel
    try:
        found = _from_git(changeset, commit, old, workdir, limit_mb, "base")
    except (SourceError, git.GitError) as exc:
        return None, f"the base version cannot be read: {exc}"
    if found is None:
        return None, "the model is new in this change (not in the base commit)"
    return found.model_copy(update={"path": rel}), ""


def changed(changeset: Changeset, rel: str) -> bool:
    return changeset.find(rel) is not None or rel in changeset.deleted


def copy_into(src: Path, dest: Path) -> Path:
    """A private copy for the sandbox (never a link: the sandbox may write its own folder)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fh, _ = open_regular(src)
    with fh, dest.open("wb") as out:
        shutil.copyfileobj(fh, out, 1 << 20)
    return dest
