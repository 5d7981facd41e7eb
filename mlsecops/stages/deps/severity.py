"""The severity of an advisory, from what its OSV record says, or "unknown".

OSV records state severity two ways: a CVSS vector in `severity[]`, or a word in
`database_specific.severity` (GitHub's "MODERATE" and friends), at the record or
the affected-package level. CVSS v2, v3.0/v3.1 and v4.0 base scores and their
qualitative ratings come from the `cvss` package (Red Hat's implementation of
FIRST's specifications, v4 with FIRST's own lookup tables), not from formulas
kept here. When a record states several vectors the newest CVSS version wins
(v4 over v3 over v2), as NVD and GitHub show them. When a record says nothing
the severity is `None` and the policy's `unknown_severity` decides; an advisory
is never silently treated as harmless.
"""

from __future__ import annotations

from typing import Any

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError
from packaging.utils import canonicalize_name
from pydantic import BaseModel

from mlsecops.findings import Severity


class RecordSeverity(BaseModel):
    """What one record says about its severity, and where that came from."""

    severity: Severity
    source: str
    score: float | None = None
    vector: str | None = None


_SOURCE_RANK = {"cvss_v2": 0, "cvss_v3": 1, "cvss_v4": 2}
_WORDS = {
    "CRITICAL": Severity.critical,
    "HIGH": Severity.high,
    "IMPORTANT": Severity.high,
    "MODERATE": Severity.medium,
    "MEDIUM": Severity.medium,
    "LOW": Severity.low,
    "NONE": Severity.info,
}


def cvss_score(vector: str) -> tuple[str, float, Severity]:
    """(source, base score, rating) of a CVSS v2, v3.x or v4.0 vector; raises ValueError when unusable.

    The version is read from the vector (`CVSS:4.0/`, `CVSS:3.1/`, none for v2),
    so a record that files a vector under the wrong `type` is still scored right.
    """
    text = vector.strip()
    try:
        if text.startswith("CVSS:4."):
            v4 = CVSS4(text)
            return "cvss_v4", float(v4.base_score), _WORDS[v4.severity.upper()]
        if text.startswith("CVSS:3."):
            v3 = CVSS3(text)
            return "cvss_v3", float(v3.base_score), _WORDS[v3.severities()[0].upper()]
        v2 = CVSS2(text.removeprefix("(").removesuffix(")"))
        return "cvss_v2", float(v2.base_score), _WORDS[v2.severities()[0].upper()]
    except (CVSSError, KeyError, ValueError, TypeError, AttributeError, RuntimeError, ArithmeticError) as exc:
        raise ValueError(f"unusable CVSS vector {vector[:200]!r}: {exc}") from None


def _from_vectors(entries: list[dict[str, Any]]) -> RecordSeverity | None:
    best: RecordSeverity | None = None
    for entry in entries:
        if not str(entry.get("type", "")).startswith("CVSS_V"):
            continue
        vector = str(entry.get("score", ""))
        try:
            source, score, rating = cvss_score(vector)
        except ValueError:
            continue
        found = RecordSeverity(severity=rating, source=source, score=score, vector=vector.strip())
        # The newest CVSS version wins; between equals, the higher score.
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
