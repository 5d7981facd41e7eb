"""Which parser reads which manifest, and which pins settle a manifest's unpinned requirements.

The format follows the file name (see kinds.py; anything else the policy's
globs select is read as a requirements file). An unpinned requirement is not
always a problem: a constraints file in the same include tree, or the lock file
a tool compiled from the manifest (`requirements.txt` next to `requirements.in`,
any lock whose pip-compile/uv annotations name the `.in`, `uv.lock`/
`poetry.lock`/`pylock.toml` next to `pyproject.toml`, `Pipfile.lock` next to
`Pipfile`) may pin it. Then the audit checks that pin, at the lock's line, and
only a requirement nothing pins is reported as unpinned.
"""

from __future__ import annotations

from collections.abc import Callable

from packaging.utils import canonicalize_name

from mlsecops.stages.deps.manifests import conda, conda_names, lockfiles, pipfile, pyproject, requirements, setup_cfg, setup_py
from mlsecops.stages.deps.manifests.conda_names import CondaNames
from mlsecops.stages.deps.manifests.interface import PARSER_FAILURES, ManifestError, ParsedManifest, Pin, Unpinned
from mlsecops.stages.deps.manifests.kinds import kind_of
from mlsecops.stages.deps.manifests.reader import ManifestReader

_LOCKS = {"pyproject": ("uv.lock", "poetry.lock", "pylock.toml"), "Pipfile": ("Pipfile.lock",)}


def parse(rel: str, reader: ManifestReader, max_depth: int, max_entries: int = 10_000,
          names: CondaNames | None = None) -> ParsedManifest:
    """Parse one manifest; raises ManifestError when it cannot be read at all.

    `names` is the conda-to-PyPI map for environment files (loaded when needed).
    """
    kind = kind_of(rel)
    parsers: dict[str, Callable[[], ParsedManifest]] = {
        "requirements": lambda: requirements.parse(rel, reader, max_depth, max_entries),
        "pyproject": lambda: pyproject.parse(rel, reader, max_depth, max_entries),
        "setup.py": lambda: setup_py.parse(rel, reader, max_entries),
        "setup.cfg": lambda: setup_cfg.parse(rel, reader, max_depth, max_entries),
        "Pipfile": lambda: pipfile.parse(rel, reader, max_entries),
        "conda": lambda: conda.parse(rel, reader, names or conda_names.load(), max_depth, max_entries),
        "pylock.toml": lambda: lockfiles.parse_pylock(rel, reader),
        "uv.lock": lambda: lockfiles.parse_uv(rel, reader),
        "poetry.lock": lambda: lockfiles.parse_poetry(rel, reader),
        "Pipfile.lock": lambda: lockfiles.parse_pipfile_lock(rel, reader),
    }
    return parsers[kind]()


def _companion_paths(parsed: ParsedManifest, reader: ManifestReader, compiled: dict[str, list[str]]) -> list[str]:
    if parsed.kind in _LOCKS:
        return [reader.sibling(parsed.path, name) for name in _LOCKS[parsed.kind]]
    if parsed.kind == "requirements":
        paths = [parsed.path[: -len(".in")] + ".txt"] if parsed.path.endswith(".in") else []
        return paths + [p for p in compiled.get(parsed.path, []) if p not in paths]
    return []


def companion(parsed: ParsedManifest, reader: ManifestReader, max_depth: int, max_entries: int = 10_000,
              compiled: dict[str, list[str]] | None = None) -> ParsedManifest | None:
    """The lock(s) compiled from this manifest, merged, if there are any that parse.

    `compiled` maps a source (`requirements.in`) to the locks whose pip-compile
    or uv annotations say they were compiled from it.
    """
    if not parsed.unpinned:
        return None
    found: ParsedManifest | None = None
    for rel in _companion_paths(parsed, reader, compiled or {}):
        if rel == parsed.path or not reader.exists(rel):
            continue
        try:
            lock = parse(rel, reader, max_depth, max_entries)
        except (ManifestError, *PARSER_FAILURES):
            continue  # an unreadable lock settles nothing; it is reported when audited itself
        if found is None:
            found = lock
        else:
            found.merge(lock)
    return found


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
