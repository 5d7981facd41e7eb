"""Build the changeset: the diff between two commits, or every file under PATH.

Paths are reported relative to PATH. In diff mode the head version of each
changed file is read from the work tree when head is the checked-out commit,
otherwise its blob is streamed into the run's work directory. Git blob ids come
for free from the index and serve as cache keys.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from mlsecops import globs
from mlsecops.changes import filelist, folder, git
from mlsecops.changes.artifact import Artifact, Changeset, ChangesetError, ChangeStatus, Skipped

_STATUS: dict[str, ChangeStatus] = {"A": "added", "M": "modified", "T": "modified", "R": "renamed", "C": "copied"}


def _selected(path: str, include: list[str], exclude: list[str]) -> bool:
    if include and not globs.match_any(path, include):
        return False
    return not globs.match_any(path, exclude)


def _strip(prefix: str, path: str) -> str | None:
    if not prefix:
        return path
    return path[len(prefix) + 1 :] if path.startswith(prefix + "/") else None


def build(
    root: Path,
    workdir: Path,
    base: str | None = None,
    head: str | None = None,
    all_files: bool = False,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    files: list[filelist.ChangedFile] | None = None,
    generated: list[str] | None = None,
) -> Changeset:
    """`files`, when given, is the list of changed files (from the CI system) to use instead of
    `git diff base...head`, for a history too shallow to diff; their work-tree content is read."""
    include = include or []
    exclude = exclude or []
    try:
        root = root.resolve(strict=True)
    except OSError as exc:
        raise ChangesetError(f"cannot read {root}: {exc.strerror or exc}") from None
    single: str | None = None
    if root.is_file():
        single, root = root.name, root.parent
    elif not root.is_dir():
        raise ChangesetError(f"{root} is neither a folder nor a regular file")
    if not os.access(root, os.R_OK | os.X_OK):
        raise ChangesetError(f"cannot read {root}: permission denied")
    top = git.toplevel(root)
    prefix = ""
    if top is not None:
        prefix = PurePosixPath(root.relative_to(top.resolve()).as_posix()).as_posix()
        prefix = "" if prefix == "." else prefix
    if base and top is None and files is None:
        raise ChangesetError(f"--base needs a git repository, and {root} is not inside one")
    try:
        if files is not None and not all_files:
            cs = filelist.from_files(root, top, prefix, files, base, head)
        elif base and not all_files:
            cs = _from_diff(root, top, prefix, workdir, base, head or "HEAD")  # type: ignore[arg-type]
        else:
            cs = _from_walk(root, top, prefix, base, head, single, generated or [])
    except git.GitError as exc:
        raise ChangesetError(str(exc)) from None
    kept: list[Artifact] = []
    for art in cs.artifacts:
        if _selected(art.path, include, exclude):
            kept.append(art)
        else:
            cs.skipped.append(Skipped(path=art.path, reason="excluded by the policy's paths/ignore"))
    cs.artifacts = kept
    return cs


def _from_diff(root: Path, top: Path, prefix: str, workdir: Path, base: str, head: str) -> Changeset:
    base_sha = git.rev_parse(top, base)
    head_sha = git.rev_parse(top, head)
    checked_out = git.rev_parse(top, "HEAD") == head_sha
    changes, deleted = git.diff_changes(top, base_sha, head_sha)
    head_tree = git.ls_tree(top, head_sha)
    base_tree = git.ls_tree(top, git.merge_base(top, base_sha, head_sha))
    clean = git.clean_index_blobs(top) if checked_out else {}
    cs = Changeset(root=root, mode="diff", base=base_sha, head=head_sha, git_root=top, prefix=prefix)
    cs.deleted = [p for p in (_strip(prefix, d) for d in deleted) if p is not None]
    for letter, top_path, old in changes:
        rel = _strip(prefix, top_path)
        if rel is None:
            continue
        mode, blob = head_tree.get(top_path, ("", ""))
        if mode == "120000":
            cs.skipped.append(Skipped(path=rel, reason="symlink (not followed)"))
            continue
        if mode == "160000" or not blob:
            cs.skipped.append(Skipped(path=rel, reason="submodule or not a file"))
            continue
        base_blob = base_tree.get(old or top_path, ("", None))[1]
        old_rel = _strip(prefix, old) if old else None
        if checked_out:
            source = root / rel
            st = folder.regular_file(source, rel, cs.skipped, "in the diff but missing from the work tree")
            if st is None:
                continue
            size = st.st_size
            blob_id = blob if clean.get(top_path) == blob else None
        else:
            source = workdir / "head" / blob
            git.cat_blob_to(top, blob, source)
            size = source.stat().st_size
            blob_id = blob
        cs.artifacts.append(
            Artifact(path=rel, source=source, size=size, status=_STATUS.get(letter, "modified"),
                     old_path=old_rel, blob=blob_id, base_blob=base_blob)
        )
    return cs


def _untracked_output(rel: str, top_path: str, generated: list[str], tracked: set[str]) -> bool:
    """A file mlsecops itself wrote (fuzz corpus, reproducers) and git does not track.

    Tracked files there are scanned like any other: a pull request cannot hide a
    model by committing it under these folders.
    """
    return top_path not in tracked and any(rel == g or rel.startswith(g.rstrip("/") + "/") for g in generated)


def _from_walk(root: Path, top: Path | None, prefix: str, base: str | None, head: str | None, single: str | None,
               generated: list[str]) -> Changeset:
    blobs = git.clean_index_blobs(top) if top is not None else {}
    tracked = git.tracked(top) if (top is not None and generated) else set()
    base_sha = git.rev_parse(top, base) if (base and top is not None) else None
    base_tree = git.ls_tree(top, base_sha) if base_sha and top is not None else {}
    head_sha = git.rev_parse(top, head or "HEAD") if (top is not None and (head or base)) else None
    cs = Changeset(root=root, mode="all", base=base_sha, head=head_sha, git_root=top, prefix=prefix)
    entries = folder.walk(root) if single is None else _single(root, single)
    for entry in entries:
        if isinstance(entry, Skipped):
            cs.skipped.append(entry)
            continue
        rel, st = entry
        top_path = f"{prefix}/{rel}" if prefix else rel
        if generated and _untracked_output(rel, top_path, generated, tracked):
            cs.skipped.append(Skipped(path=rel, reason="written by mlsecops's fuzz stage (corpus or reproducer), not tracked by git"))
            continue
        cs.artifacts.append(
            Artifact(path=rel, source=root / rel, size=st.st_size, status="present",
                     blob=blobs.get(top_path), base_blob=base_tree.get(top_path, ("", None))[1])
        )
    return cs


def _single(root: Path, name: str):  # type: ignore[no-untyped-def]
    st = os.lstat(root / name)
    why = folder.classify_mode(st.st_mode)
    yield Skipped(path=name, reason=why) if why else (name, st)
