"""Scan one file: detect its format, hand it to the analyzer for that format (registry.py),
recurse into the child streams analyzers hand back, check for polyglots, and merge what
every engine saw into one finding per problem.

This runs inside a sandboxed worker process (see pool.py). It reads the file;
it never imports, unpickles or loads anything from it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import BinaryIO, TypeVar

from pydantic import BaseModel, Field

from mlsecops.findings import Finding, Severity, Stage, fingerprint
from mlsecops.formats import ziparchive
from mlsecops.formats.detect import detect, tar_header
from mlsecops.formats.kinds import ARCHIVES, PICKLE_BEARING, Format
from mlsecops.formats.pickle import would_run
from mlsecops.formats.safe_open import NotRegularFile, open_regular
from mlsecops.stages.models import rules
from mlsecops.stages.models.allowlist import load_lists
from mlsecops.stages.models.context import ScanLimitError, ScanState, Task
from mlsecops.stages.models.registry import ANALYZERS, ENGINES

__all__ = ["FileResult", "Task", "from_line", "scan_as", "scan_file", "scan_stream", "to_line"]

_M = TypeVar("_M", bound=BaseModel)


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


def scan_stream(state: ScanState, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> str | None:
    """Detect and analyse one stream (the file itself or an archive member)."""
    if not _within_depth(state, member, depth):
        return None
    fmt = detect(fh, name, size)
    if fmt is None:
        return None
    scan_as(state, fmt, fh, size, name, member, depth)
    return fmt.value


def scan_as(state: ScanState, fmt: Format, fh: BinaryIO, size: int | None, name: str, member: str | None, depth: int,
            whole: bool = True) -> None:
    """Analyse one stream as `fmt`, already known: detected on part of it (a stream decoded
    as it is read), or what a loader reads it as whatever it looks like (torch's data.pkl).
    `whole=False`: a stream decoded as it is read, whose end is not known: no polyglot checks."""
    if not _within_depth(state, member, depth):
        return
    state.formats.append(fmt.value)
    analyzer = ANALYZERS.get(fmt)
    if analyzer is not None:
        analyzer.analyze(state, fmt, fh, size, name, member, depth)
    if whole:
        if size is None:
            raise ValueError("a stream of unknown size is never scanned whole")
        _polyglots(state, fmt, fh, size, name, member, depth)


_ZIP_FAMILY = ARCHIVES | {Format.pytorch_zip, Format.torchscript, Format.keras_v3}
_NOT_POLYGLOT = PICKLE_BEARING | {Format.zip, Format.npz, Format.pytorch_zip, Format.torchscript, Format.keras_v3,
                                   Format.zlib, Format.lzma, Format.lz4, Format.zstd, Format.joblib_zfile,
                                   Format.lfs_pointer}


def _polyglots(state: ScanState, fmt: Format, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> None:
    """A stream that is also a zip, a tar or a pickle is scanned as that too: some loader reads it so."""
    if fmt not in _ZIP_FAMILY and fmt not in (Format.lfs_pointer, Format.config, Format.jinja) and ziparchive.has_directory(fh, size):
        state.observe(rules.POLYGLOT_FILE, Severity.medium, f"The file is a {fmt.value} and also a zip archive: loaders that check "
                      "the end of the file see the zip, loaders that check the start see the other format", member, "polyglot-zip")
        ANALYZERS[Format.zip].analyze(state, Format.zip, fh, size, name, member, depth)
    if fmt not in (Format.tar, Format.lfs_pointer) and _starts_like_tar(fh):
        state.observe(rules.POLYGLOT_FILE, Severity.medium, f"The file is a {fmt.value} and also a tar archive: torch.load opens "
                      "every file tarfile reads as a legacy tar checkpoint before anything else", member, "polyglot-tar")
        ANALYZERS[Format.tar].analyze(state, Format.tar, fh, size, name, member, depth)
    if fmt not in _NOT_POLYGLOT and would_run(fh, size):
        # A GGUF, safetensors or tar header can also be valid pickle opcodes: pickle.load,
        # joblib.load and numpy.load(allow_pickle=True) run the pickle whatever the magic says.
        # (A zip's `PK` is a PERSID opcode: only an unpickler with persistent_load gets past
        # it, torch's, and torch.load reads every zip as a zip.)
        state.observe(rules.POLYGLOT_FILE, Severity.high, f"The file is a {fmt.value} and also a pickle that imports and calls code "
                      "when unpickled: loaders that check the magic see the first, pickle.load runs the second",
                      member, "polyglot-pickle")
        ANALYZERS[Format.pickle].analyze(state, Format.pickle, fh, size, name, member, depth)


def _starts_like_tar(fh: BinaryIO) -> bool:
    fh.seek(0)
    return tar_header(fh.read(512))


class _Recursion:
    """The Scanner (interface.py) analyzers reach through `state.scan_child`."""

    def scan(self, state: ScanState, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> str | None:
        return scan_stream(state, fh, size, name, member, depth)

    def scan_as(self, state: ScanState, fmt: Format, fh: BinaryIO, size: int | None, name: str, member: str | None,
                depth: int, whole: bool = True) -> None:
        scan_as(state, fmt, fh, size, name, member, depth, whole)


_SCANNER = _Recursion()


def _within_depth(state: ScanState, member: str | None, depth: int) -> bool:
    if depth > state.limits.max_depth:
        state.observe(rules.SCAN_LIMIT_EXCEEDED, Severity.high, f"containers nested deeper than {state.limits.max_depth} levels were not opened",
                      member, "depth-limit")
        return False
    return True


def scan_file(task: Task) -> FileResult:
    """The worker's entry point for one file."""
    started = time.monotonic()
    lists = load_lists(tuple(task.allow_globals), tuple(task.deny_globals))
    state = ScanState(task=task, lists=lists, tmp=Path(task.tmpdir), scanner=_SCANNER, engines=ENGINES)
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
        state.observe(rules.SCAN_LIMIT_EXCEEDED, Severity.high, f"The scan stopped early: {exc}.", None, "limit")
    except OSError as exc:
        state.errors.append(f"cannot read the file: {exc.strerror or exc}")
    result.findings = findings(state)
    result.errors = state.errors
    result.formats = sorted(set(state.formats))
    result.bytes_read = task.size
    result.pickles = state.pickles
    result.opcodes = state.opcodes
    result.engines = sorted(state.engines_run)
    result.notes = state.notes[:20]
    result.seconds = round(time.monotonic() - started, 4)
    return result


def findings(state: ScanState) -> list[Finding]:
    """One finding per observed (member, key), whatever engines saw it: mlsecops's own severity
    and message where it saw it, the highest engine severity otherwise."""
    out = []
    path = state.task.path
    for o in state.obs.values():
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
