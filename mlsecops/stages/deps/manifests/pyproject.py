"""pyproject.toml: `[project]` dependencies and extras, dependency groups, and Poetry's tables.

pip-audit's own `PyProjectSource` installs the project into a virtual
environment to learn its versions; a gate must not (that runs the project's
build code), so the declared requirements are read here and each one is a pin
or unpinned like a requirements line. Poetry's constraint syntax is translated:
a bare version (`"1.2.3"`) or `"==1.2.3"` is an exact pin, `^`, `~`, `*` and
ranges are not. `[build-system] requires` is left out: build tools run at build
time, not in the environment the manifest describes. Lines point at the
requirement string (or the Poetry key) inside its table.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

from packaging.version import InvalidVersion, Version

from mlsecops.stages.deps.manifests import locate
from mlsecops.stages.deps.manifests.interface import ManifestError, ParsedManifest, Pin, Problem, Unpinned
from mlsecops.stages.deps.manifests.pins import Entry, pep508_entry, url_entry
from mlsecops.stages.deps.manifests.reader import ManifestReader

_TOML_LINE = re.compile(r"at line (\d+)")
_POETRY_EXACT = re.compile(r"^(?:==\s*)?([0-9][A-Za-z0-9.+!-]*)$")


def load_toml(rel: str, reader: ManifestReader) -> tuple[dict[str, Any], list[str]]:
    """The parsed document and its lines; raises ManifestError naming the line."""
    text = reader.read_text(rel)
    try:
        return tomllib.loads(text), text.splitlines()
    except tomllib.TOMLDecodeError as exc:
        m = _TOML_LINE.search(str(exc))
        raise ManifestError(rel, f"not valid TOML: {exc}", int(m.group(1)) if m else None) from None
    except RecursionError:
        raise ManifestError(rel, "not valid TOML: nested too deeply") from None


def parse(rel: str, reader: ManifestReader) -> ParsedManifest:
    doc, lines = load_toml(rel, reader)
    index = locate.TextIndex(lines)
    out = ParsedManifest(path=rel, kind="pyproject", files=[rel])
    project = doc.get("project")
    if isinstance(project, dict):
        start = index.table_line("project")
        _strings(out, rel, index, project.get("dependencies"), "project.dependencies", start)
        extras = project.get("optional-dependencies")
        extras_start = index.table_line("project.optional-dependencies") or start
        if isinstance(extras, dict):
            for group, reqs in extras.items():
                _strings(out, rel, index, reqs, f"project.optional-dependencies.{group}", extras_start)
    groups = doc.get("dependency-groups")
    if isinstance(groups, dict):
        start = index.table_line("dependency-groups")
        for group, reqs in groups.items():
            strings = [r for r in reqs if isinstance(r, str)] if isinstance(reqs, list) else reqs
            _strings(out, rel, index, strings, f"dependency-groups.{group}", start)
    poetry = (doc.get("tool") or {}).get("poetry") if isinstance(doc.get("tool"), dict) else None
    if isinstance(poetry, dict):
        for table, deps in _poetry_tables(poetry):
            _poetry(out, rel, index, table, deps)
    return out


def _strings(out: ParsedManifest, rel: str, index: locate.TextIndex, reqs: Any, field: str, start: int | None) -> None:
    if reqs is None:
        return
    if not isinstance(reqs, list) or not all(isinstance(r, str) for r in reqs):
        out.problems.append(Problem(path=rel, line=start, message=f"{field} must be a list of requirement strings: not audited"))
        return
    cursor = start
    for req in reqs:  # in the order written: each is looked for after the previous one
        found = index.string_line(req, cursor)
        cursor = found or cursor
        out.add(pep508_entry(req, rel, found or start, "pyproject"))


def _poetry_tables(poetry: dict[str, Any]) -> list[tuple[str, Any]]:
    tables = [("tool.poetry.dependencies", poetry.get("dependencies")), ("tool.poetry.dev-dependencies", poetry.get("dev-dependencies"))]
    groups = poetry.get("group")
    if isinstance(groups, dict):
        for name, group in sorted(groups.items()):
            if isinstance(group, dict):
                tables.append((f"tool.poetry.group.{name}.dependencies", group.get("dependencies")))
    return [(t, d) for t, d in tables if d is not None]


def _poetry(out: ParsedManifest, rel: str, index: locate.TextIndex, table: str, deps: Any) -> None:
    start = index.table_line(table)
    if not isinstance(deps, dict):
        out.problems.append(Problem(path=rel, line=start, message=f"[{table}] must be a table: not audited"))
        return
    for name, constraint in deps.items():
        if name.lower() == "python":
            continue
        line = index.key_line(table, name) or index.table_line(f"{table}.{name}") or start
        items = constraint if isinstance(constraint, list) else [constraint]
        for item in items:
            out.add(_poetry_entry(name, item, rel, line))


def _poetry_entry(name: str, item: Any, rel: str, line: int | None) -> Entry:
    if isinstance(item, dict):
        if "git" in item:
            return Problem(path=rel, line=line, message=f"{name}: a git dependency cannot be tied to a release: not audited")
        if "url" in item:
            return url_entry(name, str(item["url"]), rel, line, f"{name} @ {item['url']}", "pyproject")
        if "path" in item:
            return "local"
        item = item.get("version", "*")
    if not isinstance(item, str):
        return Problem(path=rel, line=line, message=f"{name}: unreadable Poetry constraint {item!r}: not audited")
    text = item.strip()
    m = _POETRY_EXACT.match(text)
    if m:
        try:
            Version(m.group(1))
            return Pin(name=name, version=m.group(1), path=rel, line=line, text=f"{name} = {text!r}", origin="pyproject")
        except InvalidVersion:
            pass
    return Unpinned(name=name, spec=f"{name} {text}", path=rel, line=line, origin="pyproject")
