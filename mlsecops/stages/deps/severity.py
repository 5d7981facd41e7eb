"""The severity of an advisory, from what its OSV record says, or "unknown".

OSV records state severity two ways: a CVSS vector in `severity[]` (the base
score is computed here, CVSS v3.0/v3.1 and v2, with the specifications' own
formulas and rounding), or a word in `database_specific.severity` (GitHub's
"MODERATE" and friends), at the record or the affected-package level. A CVSS
v4 vector has no formula here, so such a record falls back to its word. When a
record says nothing the severity is `None` and the policy's `unknown_severity`
decides; an advisory is never silently treated as harmless.
"""

from __future__ import annotations

import math
from typing import Any

from packaging.utils import canonicalize_name
from pydantic import BaseModel

from mlsecops.findings import Severity


class RecordSeverity(BaseModel):
    """What one record says about its severity, and where that came from."""

    severity: Severity
    source: str
    score: float | None = None
    vector: str | None = None


_V3 = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "UI": {"N": 0.85, "R": 0.62},
    "C": {"H": 0.56, "L": 0.22, "N": 0.0},
    "I": {"H": 0.56, "L": 0.22, "N": 0.0},
    "A": {"H": 0.56, "L": 0.22, "N": 0.0},
}
_V3_PR = {"U": {"N": 0.85, "L": 0.62, "H": 0.27}, "C": {"N": 0.85, "L": 0.68, "H": 0.5}}
_V2 = {
    "AV": {"L": 0.395, "A": 0.646, "N": 1.0},
    "AC": {"H": 0.35, "M": 0.61, "L": 0.71},
    "Au": {"M": 0.45, "S": 0.56, "N": 0.704},
    "C": {"N": 0.0, "P": 0.275, "C": 0.660},
    "I": {"N": 0.0, "P": 0.275, "C": 0.660},
    "A": {"N": 0.0, "P": 0.275, "C": 0.660},
}
_SOURCE_RANK = {"cvss_v2": 0, "cvss_v3": 1}
_WORDS = {
    "CRITICAL": Severity.critical,
    "HIGH": Severity.high,
    "IMPORTANT": Severity.high,
    "MODERATE": Severity.medium,
    "MEDIUM": Severity.medium,
    "LOW": Severity.low,
    "NONE": Severity.info,
}


def _metrics(vector: str) -> dict[str, str]:
    parts = [p for p in vector.strip().split("/") if p]
    out: dict[str, str] = {}
    for part in parts:
        key, sep, value = part.partition(":")
        if not sep or key in out:
            raise ValueError(f"malformed CVSS vector component {part!r}")
        out[key] = value
    return out


def _roundup_31(value: float) -> float:
    """CVSS v3.1's Roundup: the smallest one-decimal number >= value, float-safe."""
    as_int = round(value * 100_000)
    if as_int % 10_000 == 0:
        return as_int / 100_000.0
    return (math.floor(as_int / 10_000) + 1) / 10.0


def cvss3_base_score(vector: str) -> float:
    """The base score of a `CVSS:3.x/...` vector; raises ValueError when malformed."""
    m = _metrics(vector)
    version = m.pop("CVSS", "")
    if version not in ("3.0", "3.1"):
        raise ValueError(f"not a CVSS v3 vector: {vector!r}")
    try:
        scope = m["S"]
        weights = {k: _V3[k][m[k]] for k in _V3}
        pr = _V3_PR[scope][m["PR"]]
    except KeyError as exc:
        raise ValueError(f"incomplete or invalid CVSS v3 vector {vector!r} ({exc})") from None
    iss = 1 - (1 - weights["C"]) * (1 - weights["I"]) * (1 - weights["A"])
    if scope == "U":
        impact = 6.42 * iss
    else:
        impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15
    exploitability = 8.22 * weights["AV"] * weights["AC"] * pr * weights["UI"]
    if impact <= 0:
        return 0.0
    total = impact + exploitability if scope == "U" else 1.08 * (impact + exploitability)
    if version == "3.0":
        return math.ceil(min(total, 10) * 10) / 10
    return _roundup_31(min(total, 10))


def cvss2_base_score(vector: str) -> float:
    """The base score of a CVSS v2 vector (`AV:N/AC:L/Au:N/C:P/I:P/A:P`)."""
    m = _metrics(vector.removeprefix("(").removesuffix(")"))
    m.pop("CVSS", None)
    try:
        w = {k: _V2[k][m[k]] for k in _V2}
    except KeyError as exc:
        raise ValueError(f"incomplete or invalid CVSS v2 vector {vector!r} ({exc})") from None
    impact = 10.41 * (1 - (1 - w["C"]) * (1 - w["I"]) * (1 - w["A"]))
    exploitability = 20 * w["AV"] * w["AC"] * w["Au"]
    f_impact = 0.0 if impact == 0 else 1.176
    return round(((0.6 * impact) + (0.4 * exploitability) - 1.5) * f_impact + 1e-9, 1)


def from_score(score: float, cvss2: bool = False) -> Severity:
    """The qualitative rating of a base score (v3 scale; NVD's scale for v2)."""
    if score <= 0:
        return Severity.info
    if cvss2:
        return Severity.high if score >= 7 else Severity.medium if score >= 4 else Severity.low
    if score >= 9:
        return Severity.critical
    if score >= 7:
        return Severity.high
    if score >= 4:
        return Severity.medium
    return Severity.low


def _from_vectors(entries: list[dict[str, Any]]) -> RecordSeverity | None:
    best: RecordSeverity | None = None
    for entry in entries:
        kind, score = str(entry.get("type", "")), str(entry.get("score", "")).strip()
        try:
            if kind == "CVSS_V3":
                value = cvss3_base_score(score)
                found = RecordSeverity(severity=from_score(value), source="cvss_v3", score=value, vector=score)
            elif kind == "CVSS_V2":
                value = cvss2_base_score(score)
                found = RecordSeverity(severity=from_score(value, cvss2=True), source="cvss_v2", score=value, vector=score)
            else:
                continue
        except ValueError:
            continue
        # v3 beats v2 when both are given; between equals the higher score wins.
        if best is None or (_SOURCE_RANK[found.source], found.score or 0) > (_SOURCE_RANK[best.source], best.score or 0):
            best = found
    return best


def _word(data: Any) -> Severity | None:
    if isinstance(data, dict):
        value = data.get("severity")
        if isinstance(value, str):
            return _WORDS.get(value.strip().upper())
    return None


def record_severity(record: dict[str, Any], package: str | None = None) -> RecordSeverity | None:
    """The severity a record states, or None when it states none that can be read.

    `record` is the OSV record as a mapping; `package` (canonical) limits the
    affected-level words to that package's entries.
    """
    vectors = record.get("severity") or []
    found = _from_vectors([e for e in vectors if isinstance(e, dict)]) if isinstance(vectors, list) else None
    if found is not None:
        return found
    word = _word(record.get("database_specific"))
    if word is not None:
        return RecordSeverity(severity=word, source="database_specific")
    for affected in record.get("affected") or []:
        if not isinstance(affected, dict):
            continue
        if package is not None:
            name = (affected.get("package") or {}).get("name", "")
            if canonicalize_name(str(name)) != package:
                continue
        word = _word(affected.get("database_specific")) or _word(affected.get("ecosystem_specific"))
        if word is not None:
            return RecordSeverity(severity=word, source="database_specific")
    return None


def highest(values: list[RecordSeverity | None]) -> RecordSeverity | None:
    """The most severe of several records' severities (alias records of one vulnerability)."""
    known = [v for v in values if v is not None]
    if not known:
        return None
    return max(known, key=lambda v: (v.severity.rank, v.score or 0))
