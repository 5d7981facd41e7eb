"""What one file's scan carries from analyzer to analyzer: the task, the limits, the
observations so far, and the two ways out of an analyzer that scanfile supplies (a child
stream to scan, the engines to run).

Neutral ground: analyzers, engines and the helpers they share import this module, and it
imports nothing of theirs (nor scanfile), so none of them needs another to run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from pydantic import BaseModel, Field

from mlsecops.findings import Severity
from mlsecops.formats.kinds import Format
from mlsecops.rules import Rule
from mlsecops.stages.models.allowlist import Lists
from mlsecops.stages.models.policy import ModelLimits

if TYPE_CHECKING:
    from mlsecops.stages.models.interface import Engine, Scanner

MB = 1024 * 1024


class Task(BaseModel):
    """What the stage asks a worker to scan (crosses the process boundary as JSON)."""

    source: str
    path: str
    size: int
    limits: ModelLimits
    unknown_globals: str = "medium"
    unknown_calls: str = "high"
    allow_globals: list[str] = Field(default_factory=list)
    deny_globals: list[str] = Field(default_factory=list)
    engines: list[str] = Field(default_factory=lambda: ["mlsecops", "fickling", "modelscan"])
    tmpdir: str


@dataclass
class Observation:
    """What the engines saw of one problem (member, key); scanfile makes it one finding."""

    rule_id: str
    message: str
    member: str | None
    key: str
    severities: dict[str, Severity] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)
    fix: str | None = None
    properties: dict[str, str] = field(default_factory=dict)


class ScanLimitError(Exception):
    """A limit was hit; the analyzer that raised it reports MLS115 and stops descending."""


class NoScanner(RuntimeError):
    """A child stream was handed over, but nothing was set up to scan it (a wiring bug)."""


@dataclass
class ScanState:
    """What one file's scan accumulates, shared by every analyzer and engine."""

    task: Task
    lists: Lists
    tmp: Path
    scanner: Scanner | None = None  # scanfile: detection and recursion into child streams
    engines: Mapping[str, Engine] = field(default_factory=dict)  # every engine there is, by policy name
    obs: dict[tuple[str | None, str], Observation] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)
    expanded: int = 0
    pickles: int = 0
    opcodes: int = 0
    engines_run: set[str] = field(default_factory=set)
    counter: int = 0
    walks: dict[str | None, object] = field(default_factory=dict)  # member -> its WalkResult
    zip_members: dict[str, set[str]] = field(default_factory=dict)  # engine -> members left to its own zip scan
    side_files: list[tuple[str | None, str]] = field(default_factory=list)  # (member, name) a loader also reads

    @property
    def limits(self) -> ModelLimits:
        return self.task.limits

    def engine_enabled(self, name: str) -> bool:
        return name in self.task.engines

    def enabled_engines(self) -> list[Engine]:
        """The engines the policy turned on, in the registry's order."""
        return [e for name, e in self.engines.items() if self.engine_enabled(name)]

    def observe(self, rule: Rule, severity: Severity, message: str, member: str | None, key: str,
                engine: str = "mlsecops", evidence: list[str] | None = None, fix: str | None = None,
                properties: dict[str, str] | None = None) -> None:
        """Record what an engine saw of `rule` (a value from rules.py); the same (member, key) from
        several engines is one finding."""
        o = self.obs.get((member, key))
        if o is None:
            o = self.obs[(member, key)] = Observation(rule_id=rule.id, message=message, member=member, key=key, fix=fix)
        elif engine == "mlsecops":
            o.rule_id, o.message = rule.id, message
            o.fix = fix or o.fix
        o.properties.update(properties or {})
        prev = o.severities.get(engine)
        if prev is None or severity.rank > prev.rank:
            o.severities[engine] = severity
        for e in evidence or []:
            if e not in o.evidence and len(o.evidence) < 12:
                o.evidence.append(e)

    def has(self, member: str | None, key: str) -> bool:
        return (member, key) in self.obs

    def expand(self, n: int) -> None:
        """Count decompressed bytes against the per-file budget."""
        self.expanded += n
        if self.expanded > self.limits.max_expanded_mb * MB:
            raise ScanLimitError(f"expanded content exceeds {self.limits.max_expanded_mb} MiB")

    def temp_path(self, suffix: str = "") -> Path:
        self.counter += 1
        return self.tmp / f"m{self.counter}{suffix}"

    def scan_child(self, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> str | None:
        """Detect and scan a stream found inside this one (a member, a decoded stream, embedded
        bytes); the format found, or None when it is none the gate knows."""
        return self._scanner().scan(self, fh, size, name, member, depth)

    def scan_child_as(self, fmt: Format, fh: BinaryIO, size: int | None, name: str, member: str | None, depth: int,
                      whole: bool = True) -> None:
        """Scan a child stream as `fmt`, already known (what a loader reads it as, or what part of
        it was detected as). `whole=False`: a stream decoded as it is read, whose end is not known
        (size None or a bound): the checks that read the whole of it (polyglots) do not run."""
        self._scanner().scan_as(self, fmt, fh, size, name, member, depth, whole)

    def _scanner(self) -> Scanner:
        if self.scanner is None:
            raise NoScanner("this ScanState was built without a scanner")
        return self.scanner


def model_folder(state: ScanState, member: str | None) -> Path | None:
    """The folder a model's side files are resolved against (ONNX external data, joblib's legacy
    arrays): the file's own, when it is scanned where it lives (not a member, not a git export)."""
    if member is not None:
        return None
    source = Path(state.task.source)
    if source.name != Path(state.task.path).name or not source.parent.is_dir():
        return None
    return source.parent
