"""Does an OSV record affect package P at version V? PEP 440 answers, per the OSV spec.

A record affects a version when the version is listed in an affected entry's
`versions`, or falls inside one of its ECOSYSTEM or SEMVER ranges. A range is
evaluated as the OSV specification describes: its events sorted by version,
`introduced` switches "affected" on, `fixed` (at or above) and `last_affected`
(strictly above) switch it off, and `limit` caps the range. Versions compare
with PEP 440 semantics (`packaging`), so "1.0" equals "1.0.0" and pre-releases
sort before their release. A local version label (`1.13.0+cpu`) is matched by
its public part: it is the same release, built differently. GIT ranges name
commits, not releases, and are left to the ECOSYSTEM ranges next to them.
"""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from mlsecops.stages.deps.advisories.records import OsvAffected, OsvRange, OsvRecord, canonical_version

_RANGE_TYPES = ("ECOSYSTEM", "SEMVER")
_ZERO = "0"


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _in_versions(affected: OsvAffected, version: Version) -> bool:
    """PEP 440 equality against the explicit list: canonical forms compare equal exactly when versions do."""
    return canonical_version(str(version)) in affected.canonical_versions()


def _events(rng: OsvRange) -> list[tuple[Version | None, str, str]]:
    """(version, kind, text) per event, `introduced: 0` as None, sorted lowest first."""
    out: list[tuple[Version | None, str, str]] = []
    for event in rng.events:
        for kind in ("introduced", "fixed", "last_affected", "limit"):
            text = getattr(event, kind)
            if text is None:
                continue
            if kind == "introduced" and text.strip() == _ZERO:
                out.append((None, kind, text))
                continue
            parsed = _version(text.strip())
            if parsed is not None:  # an event that is not a version cannot be placed
                out.append((parsed, kind, text))
    out.sort(key=lambda e: (e[0] is not None, e[0] or Version("0")))
    return out


def in_range(rng: OsvRange, version: Version) -> bool:
    """The OSV spec's evaluation of one ECOSYSTEM/SEMVER range."""
    events = _events(rng)
    limits = [v for v, kind, _ in events if kind == "limit" and v is not None]
    if limits and version >= min(limits):
        return False
    affected = False
    for at, kind, _ in events:
        if kind == "introduced" and (at is None or version >= at):
            affected = True
        elif kind == "fixed" and at is not None and version >= at:
            affected = False
        elif kind == "last_affected" and at is not None and version > at:
            affected = False
    return affected


def _entries(record: OsvRecord, package: str) -> list[OsvAffected]:
    return [a for a in record.affected if a.is_pypi and a.canonical_name == package]


def affects(record: OsvRecord, package: str, version: Version) -> bool:
    """Whether `record` affects the canonical `package` at `version`."""
    public = Version(version.public)
    entries = _entries(record, package)
    # Ranges first: a few events to compare, where a versions list has hundreds.
    for affected in entries:
        if any(rng.type in _RANGE_TYPES and in_range(rng, public) for rng in affected.ranges):
            return True
    return any(_in_versions(affected, public) for affected in entries)


def fix_versions(record: OsvRecord, package: str) -> list[Version]:
    """Every release that a range of this record names as fixed, lowest first."""
    found: set[Version] = set()
    for affected in _entries(record, package):
        for rng in affected.ranges:
            if rng.type not in _RANGE_TYPES:
                continue
            for event in rng.events:
                parsed = _version(event.fixed.strip()) if event.fixed else None
                if parsed is not None:
                    found.add(parsed)
    return sorted(found)
