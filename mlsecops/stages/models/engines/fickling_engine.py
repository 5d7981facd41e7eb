"""fickling, through its Python API, on the pickles mlsecops extracted.

fickling reads the pickle bytes it is given (for large files, a skeleton with the
payloads elided) and decompiles them into an AST; nothing is unpickled. Its
import-level results are merged into mlsecops's finding for the same import;
its other analyses become MLS116 findings when they are severe enough to mean
something (fickling calls every non-stdlib import "likely unsafe", which on ML
files is noise).
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path

from mlsecops.findings import Severity
from mlsecops.formats.pickle import WalkResult
from mlsecops.stages.models.allowlist import judge, normalise
from mlsecops.stages.models.scanfile import ScanState

_IMPORT = re.compile(r"from ([\w.]+) import ([\w.]+)")
_CALL = re.compile(r"`?([A-Za-z_][\w.]*)\(")
ENGINE = "fickling"


def _map(severity_name: str) -> Severity | None:
    return {
        "OVERTLY_MALICIOUS": Severity.high,
        "LIKELY_OVERTLY_MALICIOUS": Severity.medium,
    }.get(severity_name)


def scan(state: ScanState, data: bytes, member: str | None, stacked: bool, walk: WalkResult) -> None:
    from fickling.analysis import check_safety
    from fickling.fickle import Pickled, StackedPickle

    state.engines_run.add(ENGINE)
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if stacked:
                pickles = list(StackedPickle.load(io.BytesIO(data), fail_on_decode_error=False))
            else:
                pickles = [Pickled.load(io.BytesIO(data), fail_on_decode_error=False)]
            results = [check_safety(p) for p in pickles]
    except Exception as exc:  # noqa: BLE001 - an engine failing on hostile input is data, not a crash
        _failed(state, member, walk, f"{type(exc).__name__}: {str(exc)[:200]}")
        return
    _merge(state, member, results, walk)


def scan_zip(state: ScanState, path: Path) -> None:
    """`fickling.loader.scan_zip_archive` over a whole zip, merged member by member.

    Only members mlsecops walked itself are merged (fickling's zip scan picks
    members by extension); its read errors are notes, not failures: mlsecops's
    own zip reader already read every member, tricks included.
    """
    from fickling.loader import scan_zip_archive

    state.engines_run.add(ENGINE)
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            per_member = scan_zip_archive(str(path), graceful=True)
    except Exception as exc:  # noqa: BLE001
        state.notes.append(f"fickling's zip scan failed: {type(exc).__name__}: {str(exc)[:160]}")
        return
    for name, result in per_member.items():
        walk = state.walks.get(name)
        if not isinstance(walk, WalkResult):
            continue
        if result.errors:
            state.notes.append(f"fickling's zip scan of {name}: {'; '.join(result.errors)[:200]}")
        _merge(state, name, result.results, walk)


def _merge(state: ScanState, member: str | None, results: list, walk: WalkResult) -> None:  # type: ignore[type-arg]
    seen_globals = {key for (m, key) in state.obs if m == member and key.startswith("global:")}
    allowed = {ref.name.rsplit(".", 1)[-1] for ref in walk.globals if judge(ref.module, ref.name, state.lists).verdict == "allow"}
    for res in results:
        for r in res.results:
            sev_name = r.severity.name
            text = f"{r.trigger or ''} {r.message or ''}"
            imports = _IMPORT.findall(str(text))
            if imports:
                for module, name in imports:
                    _import(state, member, module, name, sev_name, r)
                continue
            sev = _map(sev_name)
            if sev is None:
                continue
            target = _matching_global(str(r.trigger or r.message), seen_globals)
            if target is None and _calls_only(str(r.trigger or r.message), allowed):
                continue
            if target:
                state.observe("MLS101", sev, "", member, target, engine=ENGINE, evidence=[f"fickling {r.analysis_name}: {_short(r.message)}"])
            else:
                state.observe("MLS116", sev, f"fickling {r.analysis_name}: {_short(r.message)}", member,
                              f"fickling:{r.analysis_name}", engine=ENGINE, evidence=[_short(str(r.trigger or ""))])


def _import(state: ScanState, member: str | None, module: str, name: str, sev_name: str, r: object) -> None:
    module, name = normalise(module, name)
    key = f"global:{module}.{name}"
    sev = {"OVERTLY_MALICIOUS": Severity.critical, "LIKELY_OVERTLY_MALICIOUS": Severity.high,
           "LIKELY_UNSAFE": Severity.medium, "SUSPICIOUS": Severity.low}.get(sev_name, Severity.info)
    evidence = [f"fickling {getattr(r, 'analysis_name', '')}: {_short(getattr(r, 'message', ''))}"]
    if state.has(member, key):
        state.observe("MLS101", sev, "", member, key, engine=ENGINE, evidence=evidence)
        return
    if judge(module, name, state.lists).verdict == "allow" and sev == Severity.critical:
        state.observe("MLS116", Severity.medium, f"fickling flags {module}.{name}, which mlsecops's allowlist accepts",
                      member, f"fickling-allowlisted:{module}.{name}", engine=ENGINE, evidence=evidence)


def _matching_global(text: str, keys: set[str]) -> str | None:
    for callee in _CALL.findall(text):
        last = callee.split(".")[-1]
        for key in keys:
            if key.rsplit(".", 1)[-1] == last:
                return key
    return None


def _calls_only(text: str, allowed: set[str]) -> bool:
    """fickling calls every call 'unsafe'; a call to an allowlisted rebuild helper is not news."""
    names = [c.rsplit(".", 1)[-1] for c in _CALL.findall(text)]
    return bool(names) and all(n in allowed or n in ("update", "__new__", "__setstate__") for n in names)


def _failed(state: ScanState, member: str | None, walk: WalkResult, why: str) -> None:
    if walk.complete:
        state.errors.append(f"fickling could not analyse {member or 'the pickle'}: {why}")
    else:
        state.observe("MLS105", Severity.medium, "The pickle stream is broken", member, "malformed", engine=ENGINE,
                      evidence=[f"fickling: {why}"])


def _short(text: object) -> str:
    return " ".join(str(text).split())[:240]
