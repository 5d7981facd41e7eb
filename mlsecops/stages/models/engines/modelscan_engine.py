"""modelscan, through `ModelScan.scan()`, on files mlsecops prepared for it.

modelscan picks its scanner by file extension, so it is handed a temporary copy
named for what the content really is (a pickle extracted from a zip becomes
`x.pkl`; a Keras file keeps `.h5`/`.keras`). Its issues are merged into
mlsecops's finding for the same import; its errors fail closed when mlsecops's
own walk found the file well-formed.
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Any

from mlsecops.findings import Severity
from mlsecops.formats.pickle import WalkResult
from mlsecops.stages.models import rules
from mlsecops.stages.models.allowlist import judge, normalise
from mlsecops.stages.models.context import ScanState

NAME = "modelscan"
_SEV = {"CRITICAL": Severity.critical, "HIGH": Severity.high, "MEDIUM": Severity.medium, "LOW": Severity.low}


def _run(path: Path) -> dict[str, Any]:
    from modelscan.modelscan import ModelScan
    from modelscan.settings import DEFAULT_SETTINGS

    logging.getLogger("modelscan").setLevel(logging.CRITICAL + 1)
    settings = copy.deepcopy(DEFAULT_SETTINGS)
    settings["reporting"] = {"module": "modelscan.reports.JSONReport", "settings": {}}
    return ModelScan(settings=settings).scan(str(path))


def scan_pickle(state: ScanState, data: bytes, member: str | None, walk: WalkResult) -> None:
    path = state.temp_path(".pkl")
    path.write_bytes(data)
    try:
        _scan(state, path, member, walk.complete, {normalise(m, n) for m, n in walk.resolved_specials()})
    finally:
        path.unlink(missing_ok=True)


def scan_file(state: ScanState, source: Path, suffix: str, member: str | None) -> None:
    """A whole file (Keras .h5/.keras) under a name modelscan recognises; linked, not copied."""
    link = state.temp_path(suffix)
    try:
        os.symlink(source, link)
    except OSError:
        return
    try:
        _scan(state, link, member, True)
    finally:
        link.unlink(missing_ok=True)


def _scan(state: ScanState, path: Path, member: str | None, well_formed: bool,
          resolved: set[tuple[str, str]] | None = None) -> None:
    state.engines_run.add(NAME)
    try:
        report = _run(path)
    except Exception as exc:  # noqa: BLE001 - an engine failing on hostile input is data
        _failed(state, member, well_formed, f"{type(exc).__name__}: {str(exc)[:200]}")
        return
    for issue in report.get("issues", []):
        module = str(issue.get("module", ""))
        operator = str(issue.get("operator", ""))
        sev = _SEV.get(str(issue.get("severity", "")).upper(), Severity.medium)
        evidence = [f"modelscan {issue.get('scanner', '')}: {issue.get('description', '')}"[:240]]
        if module and operator and not operator.startswith("Lambda"):
            mod, name = normalise(module, operator)
            key = f"global:{mod}.{name}"
            if (mod, name) in (resolved or ()):
                # mlsecops resolved every use (a constant getattr, an embedded checkpoint) and
                # judged what it resolves to: the import itself is evidence, not a finding.
                state.observe(rules.ENGINE_FINDING, Severity.info, f"modelscan flags {mod}.{name}; every use of it in this "
                              "pickle was resolved and judged by what it names", member,
                              f"modelscan-resolved:{key}", engine=NAME, evidence=evidence)
            elif state.has(member, key):
                state.observe(rules.DANGEROUS_PICKLE_IMPORT, sev, "", member, key, engine=NAME, evidence=evidence)
            elif judge(mod, name, state.lists).verdict == "allow":
                state.observe(rules.ENGINE_FINDING, Severity.medium, f"modelscan flags {mod}.{name}, which mlsecops's allowlist accepts",
                              member, f"modelscan-allowlisted:{key}", engine=NAME, evidence=evidence)
            else:
                state.observe(rules.DANGEROUS_PICKLE_IMPORT, sev, f"modelscan: {issue.get('description', '')}"[:300], member, key,
                              engine=NAME, evidence=evidence)
        elif operator.startswith("Lambda") or "lambda" in str(issue.get("description", "")).lower():
            ours = [k for (m, k) in state.obs if m == member and k.startswith("keras-lambda:")]
            state.observe(rules.KERAS_LAMBDA_LAYER, sev, "modelscan reports a Keras Lambda layer", member, ours[0] if ours else "keras-lambda:?",
                          engine=NAME, evidence=evidence)
        else:
            state.observe(rules.ENGINE_FINDING, sev, f"modelscan: {issue.get('description', '')}"[:300], member,
                          f"modelscan:{operator or module}", engine=NAME, evidence=evidence)
    for err in report.get("errors", []):
        desc = str(err.get("description", err))[:200]
        _failed(state, member, well_formed, desc)


def _failed(state: ScanState, member: str | None, well_formed: bool, why: str) -> None:
    if well_formed:
        state.errors.append(f"modelscan could not scan {member or 'the file'}: {why}")
    else:
        state.observe(rules.MALFORMED_PICKLE, Severity.medium, "The pickle stream is broken", member, "malformed", engine=NAME,
                      evidence=[f"modelscan: {why}"])


class Modelscan:
    """The Engine (interface.py): pickles mlsecops extracted, and whole Keras files where
    TensorFlow is installed (modelscan's Keras scanners only report an error without it)."""

    name = NAME
    whole = frozenset({".h5", ".keras"})

    def scan_pickle(self, state: ScanState, data: bytes, member: str | None, walk: WalkResult) -> None:
        scan_pickle(state, data, member, walk)

    def scan_whole(self, state: ScanState, path: Path, kind: str, member: str | None) -> None:
        import importlib.util

        if importlib.util.find_spec("tensorflow") is None:
            state.notes.append("modelscan's Keras scanner needs TensorFlow, which is not installed; "
                               "mlsecops read the model config itself")
            return
        scan_file(state, path, kind, member)

    def picks(self, name: str) -> bool:
        return False


ENGINE = Modelscan()
