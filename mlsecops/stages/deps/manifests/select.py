"""Which parser reads which manifest, and which pins settle a manifest's unpinned requirements.

The format follows the file name (`pyproject.toml`, `uv.lock`, ...; anything
else the policy's globs select is read as a requirements file). An unpinned
requirement is not always a problem: a constraints file in the same include
tree, or the lock file a tool compiled from the manifest (`requirements.txt`
next to `requirements.in`, `uv.lock`/`poetry.lock`/`pylock.toml` next to
`pyproject.toml`) may pin it. Then the audit checks that pin, at the lock's
line, and only a requirement nothing pins is reported as unpinned.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable

from packaging.utils import canonicalize_name

from mlsecops.stages.deps.manifests import lockfiles, pyproject, requirements
from mlsecops.stages.deps.manifests.interface import ManifestError, ParsedManifest, Pin, Unpinned
from mlsecops.stages.deps.manifests.reader import ManifestReader

_PYLOCK = re.compile(r"^pylock(\.[^./]+)?\.toml$")
_LOCKS_OF_PYPROJECT = ("uv.lock", "poetry.lock", "pylock.toml")

Parser = Callable[[str, ManifestReader], ParsedManifest]


def kind_of(rel: str) -> str:
    name = posixpath.basename(rel)
    if name == "pyproject.toml":
        return "pyproject"
    if _PYLOCK.match(name):
        return "pylock.toml"
    if name in ("uv.lock", "poetry.lock", "Pipfile.lock"):
        return name
    return "requirements"


def parse(rel: str, reader: ManifestReader, max_depth: int, max_entries: int = 10_000) -> ParsedManifest:
    """Parse one manifest; raises ManifestError when it cannot be read at all."""
    kind = kind_of(rel)
    parsers: dict[str, Parser] = {
        "pyproject": pyproject.parse,
        "pylock.toml": lockfiles.parse_pylock,
        "uv.lock": lockfiles.parse_uv,
        "poetry.lock": lockfiles.parse_poetry,
        "Pipfile.lock": lockfiles.parse_pipfile_lock,
    }
    if kind == "requirements":
        return requirements.parse(rel, reader, max_depth, max_entries)
    return parsers[kind](rel, reader)


def _companion_paths(parsed: ParsedManifest, reader: ManifestReader) -> list[str]:
    if parsed.kind == "pyproject":
        return [reader.sibling(parsed.path, name) for name in _LOCKS_OF_PYPROJECT]
    if parsed.kind == "requirements" and parsed.path.endswith(".in"):
        return [parsed.path[: -len(".in")] + ".txt"]
    return []


def companion(parsed: ParsedManifest, reader: ManifestReader, max_depth: int, max_entries: int = 10_000) -> ParsedManifest | None:
    """The lock compiled from this manifest, if there is one that parses."""
    if not parsed.unpinned:
        return None
    for rel in _companion_paths(parsed, reader):
        if not reader.exists(rel):
            continue
        try:
            return parse(rel, reader, max_depth, max_entries)
        except ManifestError:
            return None  # an unreadable lock settles nothing; it is reported when audited itself
    return None


def settle(parsed: ParsedManifest, lock: ParsedManifest | None) -> tuple[list[Pin], list[Unpinned]]:
    """(pins to audit, requirements still unpinned) once constraints and the lock are applied."""
    pinned_by: dict[str, list[Pin]] = {}
    for pin in [*parsed.constraints, *(lock.pins + lock.constraints if lock else [])]:
        pinned_by.setdefault(canonicalize_name(pin.name), []).append(pin)
    pins = list(parsed.pins) + list(parsed.constraints)
    left: list[Unpinned] = []
    for req in parsed.unpinned:
        found = pinned_by.get(canonicalize_name(req.name))
        if found:
            pins.extend(p for p in found if p not in pins)
        else:
            left.append(req)
    return pins, left
