"""What reading a manifest yields: pins to audit, requirements that are not pinned, problems.

Every parser (requirements files, pyproject.toml, setup.py/setup.cfg, Pipfile,
conda environment files, lock files) returns a `ParsedManifest`, and every entry
remembers the file and line it was written on, so a finding points where a
person fixes it. A `Problem` is something the stage could not read (a malformed
line, a loop of includes): it becomes a stage error, never a silent pass. An
`Unaudited` dependency was read but cannot be tied to a PyPI release (its source
is git or a URL, a conda package with no PyPI name, a `setup.py` value computed
at run time): it becomes one finding of its own, as severe as the policy says,
and the rest of the manifest is still audited. A `local` requirement (the
project itself, `-e .`, a path in the repository, the project's own extras) is
not a PyPI release and is counted, not audited.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Origin = Literal["requirements", "constraints", "pyproject", "lock", "resolved", "conda", "setup.py", "setup.cfg", "Pipfile"]


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
    note: str | None = Field(default=None, description="how the name was found, e.g. a conda-to-PyPI mapping")


class Unpinned(_Frozen):
    """A requirement whose version is not fixed by the manifest: not audited as is."""

    name: str
    spec: str = Field(description="the requirement as written")
    path: str
    line: int | None = None
    origin: Origin = "requirements"


UnauditedReason = Literal["git", "vcs", "url", "conda-unmapped", "not-literal", "dynamic"]


class Unaudited(_Frozen):
    """A declared dependency that cannot be tied to a PyPI release, so nothing was audited for it."""

    name: str = Field(description="the package, or the field that could not be read")
    reason: UnauditedReason
    message: str = Field(description="why, for a person: 'not audited: source is git (...)'")
    path: str
    line: int | None = None
    spec: str = Field(default="", description="the requirement as written")


PARSER_FAILURES = (RecursionError, MemoryError, ValueError, TypeError, KeyError, AttributeError, IndexError)
"""What a parser (ours, pip-audit's, tomli's) may raise on a hostile file besides ManifestError:
caught per file, so one file never takes the stage's other manifests down with it."""


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
    unaudited: list[Unaudited] = Field(default_factory=list)
    problems: list[Problem] = Field(default_factory=list)
    local: int = Field(default=0, description="requirements on local paths (the project itself)")
    files: list[str] = Field(default_factory=list, description="every file read, includes too")

    def entries(self) -> int:
        return len(self.pins) + len(self.unpinned) + len(self.constraints) + len(self.unaudited)

    def declares(self) -> bool:
        """Whether the manifest names any dependency at all (audited or not)."""
        return bool(self.entries() or self.local or self.problems)

    def merge(self, other: ParsedManifest) -> None:
        """Take in everything a file this one includes yields (its entries keep their own paths)."""
        self.pins += other.pins
        self.unpinned += other.unpinned
        self.constraints += other.constraints
        self.unaudited += other.unaudited
        self.problems += other.problems
        self.local += other.local
        self.files += [f for f in other.files if f not in self.files]

    def add(self, entry: Pin | Unpinned | Problem | Unaudited | str, constraint: bool = False) -> None:
        """File one parsed requirement; a constraint's range is not a requirement of its own."""
        if entry == "local":
            self.local += 1
        elif isinstance(entry, Problem):
            self.problems.append(entry)
        elif isinstance(entry, Unaudited):
            self.unaudited.append(entry)
        elif isinstance(entry, Pin):
            (self.constraints if constraint else self.pins).append(entry)
        elif isinstance(entry, Unpinned) and not constraint:
            self.unpinned.append(entry)


class ManifestError(Exception):
    """The whole manifest cannot be read (too large, unparseable, outside the root)."""

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        self.problem = Problem(path=path, line=line, message=message)
        super().__init__(self.problem.render())
