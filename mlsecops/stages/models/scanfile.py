"""Scan one file: detect its format, hand it to the analyzer for that format,
recurse into containers, and merge what every engine saw into one finding per problem.

This runs inside a sandboxed worker process (see pool.py). It reads the file;
it never imports, unpickles or loads anything from it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypeVar

from pydantic import BaseModel, Field

from mlsecops.findings import Finding, Severity, Stage, fingerprint
from mlsecops.formats.detect import detect
from mlsecops.formats.kinds import Format
from mlsecops.formats.safe_open import NotRegularFile, open_regular
from mlsecops.stages.models.allowlist import Lists, load_lists
from mlsecops.stages.models.policy import ModelLimits

MB = 1024 * 1024
_M = TypeVar("_M", bound=BaseModel)


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


def to_line(model: BaseModel) -> bytes:
    """One JSON line for the worker protocol and the cache.

    Not `model_dump_json`: file names that are not valid UTF-8 reach us as
    lone surrogates (os.fsdecode), which pydantic refuses to serialise; the json
    module writes them as `\\udcXX` escapes and reads them back unchanged, so one
    odd name cannot take the whole stage down.
    """
    return json.dumps(model.model_dump(mode="json")).encode("ascii") + b"\n"


def from_line(cls: type[_M], line: bytes) -> _M:
    """The model in one line written by `to_line`; ValueError when it is not one."""
    return cls.model_validate(json.loads(line))


class FileResult(BaseModel):
    path: str
    format: str | None = None
    formats: list[str] = Field(default_factory=list, description="every format met, members included")
    findings: list[Finding] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    bytes_read: int = 0
    pickles: int = 0
    opcodes: int = 0
    engines: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    seconds: float = 0.0


@dataclass
class _Obs:
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


@dataclass
class ScanState:
    """What one file's scan accumulates, shared by every analyzer and engine."""

    task: Task
    lists: Lists
    tmp: Path
    obs: dict[tuple[str | None, str], _Obs] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)
    expanded: int = 0
    pickles: int = 0
    opcodes: int = 0
    engines_run: set[str] = field(default_factory=set)
    counter: int = 0
    walks: dict[str | None, object] = field(default_factory=dict)  # member -> its WalkResult
    fickling_zip: set[str] = field(default_factory=set)  # members left to fickling's zip scan
    side_files: list[tuple[str | None, str]] = field(default_factory=list)  # (member, name) a loader also reads

    @property
    def limits(self) -> ModelLimits:
        return self.task.limits

    def engine_enabled(self, name: str) -> bool:
        return name in self.task.engines

    def observe(self, rule_id: str, severity: Severity, message: str, member: str | None, key: str,
                engine: str = "mlsecops", evidence: list[str] | None = None, fix: str | None = None,
                properties: dict[str, str] | None = None) -> None:
        """Record what an engine saw; the same (member, key) from several engines is one finding."""
        o = self.obs.get((member, key))
        if o is None:
            o = self.obs[(member, key)] = _Obs(rule_id=rule_id, message=message, member=member, key=key, fix=fix)
        elif engine == "mlsecops":
            o.rule_id, o.message = rule_id, message
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

    def findings(self) -> list[Finding]:
        out = []
        path = self.task.path
        for o in self.obs.values():
            if "mlsecops" in o.severities:
                severity = o.severities["mlsecops"]
            else:
                severity = max(o.severities.values(), key=lambda s: s.rank)
            engines = sorted(o.severities)
            message = o.message if o.member is None or o.member in o.message else f"{o.message} (in {o.member})"
            out.append(
                Finding(
                    rule_id=o.rule_id,
                    stage=Stage.models,
                    severity=severity,
                    path=path,
                    line=1,
                    message=message,
                    tool="mlsecops" if "mlsecops" in engines else engines[0],
                    engines=engines,
                    evidence=o.evidence,
                    member=o.member,
                    fingerprint=fingerprint(o.rule_id, path, o.member, o.key),
                    fix=o.fix,
                    properties={"key": o.key, **o.properties},
                )
            )
        return out


def model_folder(state: ScanState, member: str | None) -> Path | None:
    """The folder a model's side files are resolved against (ONNX external data, joblib's legacy
    arrays): the file's own, when it is scanned where it lives (not a member, not a git export)."""
    if member is not None:
        return None
    source = Path(state.task.source)
    if source.name != Path(state.task.path).name or not source.parent.is_dir():
        return None
    return source.parent


def join_member(parent: str | None, name: str) -> str:
    return f"{parent}!{name}" if parent else name


def scan_stream(state: ScanState, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> str | None:
    """Detect and analyse one stream (the file itself or an archive member)."""
    if not _within_depth(state, member, depth):
        return None
    fmt = detect(fh, name, size)
    if fmt is None:
        return None
    scan_as(state, fmt, fh, size, name, member, depth)
    return fmt.value


def scan_as(state: ScanState, fmt: Format, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> None:
    """Analyse one stream as `fmt`, already known: detected on part of it (a stream decoded
    as it is read), or what a loader reads it as whatever it looks like (torch's data.pkl)."""
    from mlsecops.stages.models import dispatch

    if not _within_depth(state, member, depth):
        return
    state.formats.append(fmt.value)
    dispatch.analyze(state, fmt, fh, size, name, member, depth)


def _within_depth(state: ScanState, member: str | None, depth: int) -> bool:
    if depth > state.limits.max_depth:
        state.observe("MLS115", Severity.high, f"containers nested deeper than {state.limits.max_depth} levels were not opened",
                      member, "depth-limit")
        return False
    return True


def scan_file(task: Task) -> FileResult:
    """The worker's entry point for one file."""
    started = time.monotonic()
    lists = load_lists(tuple(task.allow_globals), tuple(task.deny_globals))
    state = ScanState(task=task, lists=lists, tmp=Path(task.tmpdir))
    result = FileResult(path=task.path)
    try:
        fh, st = open_regular(task.source)
        with fh:
            size = task.size
            if st.st_size != task.size:
                # Scanned as it is now, but the gate cannot vouch for what was listed: fail closed.
                state.errors.append(f"the file changed during the scan ({task.size} bytes when listed, {st.st_size} when opened)")
                size = st.st_size
            result.format = scan_stream(state, fh, size, Path(task.path).name, None, 0)
    except FileNotFoundError:
        state.errors.append("the file vanished during the scan")
    except PermissionError:
        state.errors.append("permission denied")
    except (IsADirectoryError, NotRegularFile) as exc:
        state.errors.append(f"not a regular file when opened: {exc.strerror or exc}")
    except MemoryError:
        state.errors.append(f"ran out of the {task.limits.memory_mb} MiB memory limit")
    except ScanLimitError as exc:
        state.observe("MLS115", Severity.high, f"The scan stopped early: {exc}.", None, "limit")
    except OSError as exc:
        state.errors.append(f"cannot read the file: {exc.strerror or exc}")
    result.findings = state.findings()
    result.errors = state.errors
    result.formats = sorted(set(state.formats))
    result.bytes_read = task.size
    result.pickles = state.pickles
    result.opcodes = state.opcodes
    result.engines = sorted(state.engines_run)
    result.notes = state.notes[:20]
    result.seconds = round(time.monotonic() - started, 4)
    return result

