"""Member names inside containers: how they are written in findings, and the names that
escape the folder an archive is extracted to (or a model's data is read from)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from mlsecops.findings import Severity
from mlsecops.stages.models import rules
from mlsecops.stages.models.context import ScanState


def join_member(parent: str | None, name: str) -> str:
    return f"{parent}!{name}" if parent else name


def traversal(name: str) -> str | None:
    """Why a member name escapes its extraction folder, or None."""
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        return "absolute path"
    if ".." in PurePosixPath(norm).parts:
        return "'..' path segment"
    if "\x00" in name:
        return "NUL byte in the name"
    return None


def check_name(state: ScanState, name: str, member: str | None) -> None:
    why = traversal(name)
    if why:
        state.observe(rules.ARCHIVE_PATH_TRAVERSAL, Severity.high, f"Archive member {name!r} escapes the extraction folder ({why})",
                      member, f"traversal:{name}", evidence=[name])
