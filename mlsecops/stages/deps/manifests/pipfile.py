"""Pipfile: `[packages]`, `[dev-packages]` and pipenv's custom package categories.

Pipenv's values are a version string (`"==1.2.3"` is a pin, `"*"` and ranges
are not; a bare `"1.2.3"` is read as `==1.2.3`) or a table: `{version = ...}`,
`{git = ...}` (one "not audited" entry), `{path = ...}` (the project itself or a
vendored tree), `{file = URL}` (audited as the release its file name names).
`[source]`, `[requires]`, `[scripts]` and `[pipenv]` are settings, not packages.
The `Pipfile.lock` next to it, when there is one, settles what is unpinned here.
"""

from __future__ import annotations

from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from mlsecops.stages.deps.manifests import locate
from mlsecops.stages.deps.manifests.interface import ParsedManifest, Problem, Unpinned
from mlsecops.stages.deps.manifests.pins import Entry, spec_entry, table_source
from mlsecops.stages.deps.manifests.pyproject import load_toml
from mlsecops.stages.deps.manifests.reader import ManifestReader

SETTINGS = frozenset({"source", "requires", "scripts", "pipenv"})


def _entry(name: str, value: Any, rel: str, line: int | None) -> Entry:
    if isinstance(value, dict):
        source = table_source(name, value, rel, line, "file", "Pipfile")
        if source is not None:
            return source
        value = value.get("version", "*")
    if not isinstance(value, str):
        return Problem(path=rel, line=line, message=f"{name}: unreadable Pipfile entry {str(value)[:80]!r}: not audited")
    text = value.strip()
    if text in ("", "*"):
        return Unpinned(name=name, spec=f"{name} = {text!r}", path=rel, line=line, origin="Pipfile")
    if text[0].isdigit():
        text = "==" + text
    try:
        spec = SpecifierSet(text)
    except InvalidSpecifier:
        return Problem(path=rel, line=line, message=f"{name}: invalid version {value!r}: not audited")
    entry = spec_entry(name, spec, rel, line, f"{name} = {value!r}", "Pipfile")
    return entry


def parse(rel: str, reader: ManifestReader, max_entries: int = 10_000) -> ParsedManifest:
    doc, lines = load_toml(rel, reader)
    index = locate.TextIndex(lines)
    out = ParsedManifest(path=rel, kind="Pipfile", files=[rel])
    for table, packages in doc.items():
        if table in SETTINGS or not isinstance(packages, dict):
            continue
        start = index.table_line(table)
        if len(packages) + out.entries() > max_entries:
            out.problems.append(Problem(path=rel, line=start, message=f"[{table}]: more than {max_entries} packages "
                                        "(deps.limits.max_packages): not audited"))
            continue
        for name, value in packages.items():
            line = index.key_line(table, name) or index.table_line(f"{table}.{name}") or start
            out.add(_entry(name, value, rel, line))
    return out
