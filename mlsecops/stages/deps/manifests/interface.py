"""What reading a manifest yields: pins to audit, requirements that are not pinned, problems.

Every parser (requirements files, pyproject.toml, lock files) returns a
`ParsedManifest`, and every entry remembers the file and line it was written
on, so a finding points where a person fixes it. A `Problem` is something the
stage could not check (a malformed line, a loop of includes, a URL requirement
whose version cannot be known): it becomes a stage error, never a silent pass.
A `local` requirement (the project itself, `-e .`, a path in the repository) is
not a PyPI release and is counted, not audited.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Origin = Literal["requirements", "constraints", "pyproject", "lock", "resolved"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Pin(_Frozen):
    """A dependency at one exact version, where it was written."""

    name: str = Field(description="as written")
    version: str
    path: str = Field(description="the file the pin is written in, relative to the scanned PATH")
    line: int | None = None
    text: str = Field(default="", description="the requirement as written, for evidence")
    origin: Origin = "requirements"


class Unpinned(_Frozen):
    """A requirement whose version is not fixed by the manifest: not audited as is."""

    name: str
    spec: str = Field(description="the requirement as written")
    path: str
    line: int | None = None
    origin: Origin = "requirements"


class Problem(_Frozen):
    """Something in a manifest that could not be checked."""

    path: str
    line: int | None = None
    message: str

    def render(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


class ParsedManifest(BaseModel):
    """Everything one manifest (with its includes) asks to install."""

    path: str
    kind: str
    pins: list[Pin] = Field(default_factory=list)
    unpinned: list[Unpinned] = Field(default_factory=list)
    constraints: list[Pin] = Field(default_factory=list, description="pins that only constrain")
    problems: list[Problem] = Field(default_factory=list)
    local: int = Field(default=0, description="requirements on local paths (the project itself)")
    files: list[str] = Field(default_factory=list, description="every file read, includes too")

    def entries(self) -> int:
        return len(self.pins) + len(self.unpinned) + len(self.constraints)

    def add(self, entry: Pin | Unpinned | Problem | str, constraint: bool = False) -> None:
        """File one parsed requirement; a constraint's range is not a requirement of its own."""
        if entry == "local":
            self.local += 1
        elif isinstance(entry, Problem):
            self.problems.append(entry)
        elif isinstance(entry, Pin):
            (self.constraints if constraint else self.pins).append(entry)
        elif isinstance(entry, Unpinned) and not constraint:
            self.unpinned.append(entry)


class ManifestError(Exception):
    """The whole manifest cannot be read (too large, unparseable, outside the root)."""

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        self.problem = Problem(path=path, line=line, message=message)
        super().__init__(self.problem.render())
