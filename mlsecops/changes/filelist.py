"""A changeset from an explicit list of changed files, read from the work tree.

The fallback when the git history is too shallow for `base...head` and could
not be fetched: the CI system (GitHub's pull request files API, or the compare
API for a push) says which files changed, and their current content in the
checked-out work tree is scanned. Paths in the list are relative to the git top
level (or to PATH outside a repository), as git and the API give them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from mlsecops.changes import folder, git
from mlsecops.changes.artifact import Artifact, Changeset, ChangeStatus, Skipped

FileStatus = Literal["added", "modified", "renamed", "copied", "removed"]


class ChangedFile(BaseModel):
    path: str
    status: FileStatus = "modified"
    old_path: str | None = None


_STATUS: dict[str, ChangeStatus] = {"added": "added", "modified": "modified", "renamed": "renamed", "copied": "copied"}


def _strip(prefix: str, path: str) -> str | None:
    if not prefix:
        return path
    return path[len(prefix) + 1 :] if path.startswith(prefix + "/") else None


def from_files(root: Path, top: Path | None, prefix: str, files: list[ChangedFile],
               base: str | None, head: str | None) -> Changeset:
    """Artifacts for the listed files under `root`; deletions and unreadable entries are recorded, not scanned."""
    blobs = git.clean_index_blobs(top) if top is not None else {}
    cs = Changeset(root=root, mode="diff", base=base, head=head, git_root=top, prefix=prefix)
    seen: set[str] = set()
    real_root = os.path.realpath(root)
    for item in files:
        rel = _strip(prefix, item.path.strip("/"))
        if rel is None or rel in seen:
            continue
        seen.add(rel)
        if item.status == "removed":
            cs.deleted.append(rel)
            continue
        if any(part in ("", ".", "..") for part in rel.split("/")):
            cs.skipped.append(Skipped(path=rel, reason="not a plain relative path"))
            continue
        source = root / rel
        if os.path.realpath(source.parent) != os.path.normpath(os.path.join(real_root, os.path.dirname(rel))):
            cs.skipped.append(Skipped(path=rel, reason="inside a symlinked folder (not followed)"))
            continue
        st = folder.regular_file(source, rel, cs.skipped, "listed as changed but missing from the work tree")
        if st is None:
            continue
        old = _strip(prefix, item.old_path) if item.old_path else None
        top_path = f"{prefix}/{rel}" if prefix else rel
        cs.artifacts.append(
            Artifact(path=rel, source=source, size=st.st_size, status=_STATUS[item.status],
                     old_path=old, blob=blobs.get(top_path))
        )
    return cs
