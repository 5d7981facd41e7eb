"""The base branch's version of what a harness runs, for the "does it crash there too?" check.

For a model file the base version is one blob (`targets` copies it). A harness
needs its base version *and* the in-repo code it imported then, so the base
commit's Python files under PATH are unpacked from `git archive` (one
process, Python files only, regular files with safe names only) into the
work folder. The unpacked tree is only ever read by a sandboxed worker.
"""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path, PurePosixPath

from mlsecops.changes import git
from mlsecops.changes.artifact import Changeset

MAX_FILES = 20_000
MAX_BYTES = 128 * 1024 * 1024


def base_commit(changeset: Changeset) -> str | None:
    if changeset.git_root is None or changeset.base is None:
        return None
    if changeset.mode == "diff" and changeset.head:
        try:
            return git.merge_base(changeset.git_root, changeset.base, changeset.head)
        except git.GitError:
            return changeset.base
    return changeset.base


def python_tree(changeset: Changeset, dest: Path, deadline: float | None = None) -> Path | None:
    """The base commit's *.py files under PATH, unpacked into `dest`; None without a base or time."""
    rev = base_commit(changeset)
    if rev is None or changeset.git_root is None:
        return None
    if dest.is_dir():
        return dest
    spec = f"{changeset.prefix}/*.py" if changeset.prefix else "*.py"
    timeout = 120.0 if deadline is None else deadline - time.monotonic()
    if timeout < 1:
        return None
    try:
        raw = git.run(changeset.git_root, "archive", "--format=tar", rev, "--", spec, timeout=timeout)
    except git.GitError:
        return None
    dest.mkdir(parents=True, exist_ok=True)
    count = total = 0
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        for member in tar:
            if not member.isreg() or count >= MAX_FILES or total + member.size > MAX_BYTES:
                continue
            rel = PurePosixPath(member.name)
            if rel.is_absolute() or ".." in rel.parts:
                continue
            if changeset.prefix:
                try:
                    rel = rel.relative_to(changeset.prefix)
                except ValueError:
                    continue
            fh = tar.extractfile(member)
            if fh is None:
                continue
            out = dest / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(fh.read())
            count += 1
            total += member.size
    return dest
