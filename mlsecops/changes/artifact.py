"""The changeset model: the artifacts a run looks at, and what it skipped and why."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

ChangeStatus = Literal["added", "modified", "renamed", "copied", "present"]


class Artifact(BaseModel):
    path: str = Field(description="relative to the scanned PATH, '/' separators")
    source: Path = Field(description="the file to read (the work tree or a materialized blob)")
    size: int
    status: ChangeStatus = "present"
    old_path: str | None = None
    blob: str | None = Field(default=None, description="git blob id of this content, if known")
    base_blob: str | None = Field(default=None, description="git blob id of the base version")


class Skipped(BaseModel):
    path: str
    reason: str


class Changeset(BaseModel):
    root: Path
    mode: Literal["diff", "all"]
    base: str | None = None
    head: str | None = None
    git_root: Path | None = None
    prefix: str = Field(default="", description="PATH relative to the git top level")
    artifacts: list[Artifact] = Field(default_factory=list)
    skipped: list[Skipped] = Field(default_factory=list)
    deleted: list[str] = Field(default_factory=list)

    def find(self, path: str) -> Artifact | None:
        return next((a for a in self.artifacts if a.path == path), None)


class ChangesetError(Exception):
    """The changeset could not be built (bad revision, unreadable PATH): a usage error."""
