"""The JSON report of the contract (CONTRACT.md): the verdict for machines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlsecops import __version__
from mlsecops.files import atomic_write
from mlsecops.reporters.escape import unicode_safe
from mlsecops.verdict import Status, Verdict

_CORE = ("rule_id", "stage", "severity", "status", "path", "line", "message", "tool", "fingerprint", "vuln_id", "package")


def _finding(f: Any) -> dict[str, Any]:
    data = f.model_dump(mode="json")
    out = {k: data[k] for k in _CORE}
    for k, v in data.items():
        if k not in out and v not in (None, [], {}, ""):
            out[k] = v
    return out


def render(verdict: Verdict) -> dict[str, Any]:
    return {
        "verdict": verdict.verdict,
        "findings": [_finding(f) for f in verdict.findings],
        "errors": [e.model_dump(mode="json") for e in verdict.errors],
        "notes": [n.model_dump(mode="json") for n in verdict.notes],
        "stages": verdict.stages,
        "details": verdict.details,
        "summary": {
            "findings": len(verdict.findings),
            "blocking": verdict.count(Status.blocking),
            "waived": verdict.count(Status.waived),
            "advisory": verdict.count(Status.advisory),
            "errors": len(verdict.errors),
        },
        "expired_waivers": [w.model_dump() for w in verdict.expired_waivers],
        "policy": verdict.policy,
        "fail_closed": verdict.fail_closed,
        "mode": verdict.mode,
        "base": verdict.base,
        "head": verdict.head,
        "tool": {"name": "mlsecops", "version": __version__},
    }


def write(verdict: Verdict, path: Path) -> None:
    atomic_write(path, json.dumps(unicode_safe(render(verdict)), indent=2, ensure_ascii=False) + "\n")
