"""pyproject.toml: `[project]` dependencies and extras, dependency groups, and the tools' tables.

pip-audit's own `PyProjectSource` installs the project into a virtual
environment to learn its versions; a gate must not (that runs the project's
build code), so the declared requirements are read here and each one is a pin
or unpinned like a requirements line. Poetry's constraint syntax is translated:
a bare version (`"1.2.3"`) or `"==1.2.3"` is an exact pin, `^`, `~`, `*` and
ranges are not. uv's and PDM's older `dev-dependencies` lists are read too.
Dependencies declared `dynamic` are read from the requirements files that
setuptools (`[tool.setuptools.dynamic]`) or hatch-requirements-txt name; when
no such file is named (and no setup.py/setup.cfg sits next to it) they are
reported as not audited. The project's references to its own extras
(`mypkg[dev]` in mypkg's pyproject) are the project itself, not unpinned
requirements. `[build-system] requires` is left out: build tools run at build
time, not in the environment the manifest describes. Lines point at the
requirement string (or the Poetry key) inside its table.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from mlsecops.stages.deps.manifests import locate, requirements
from mlsecops.stages.deps.manifests.interface import ManifestError, ParsedManifest, Pin, Problem, Unaudited, Unpinned
from mlsecops.stages.deps.manifests.pins import Entry, pep508_entry, table_source
from mlsecops.stages.deps.manifests.reader import ManifestReader
from mlsecops.stages.deps.manifests.references import dynamic_sources, table as _table

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


def own_name(doc: dict[str, Any]) -> str | None:
    """The project's own (canonical) name, from `[project]` or `[tool.poetry]`."""
    name = _table(doc, "project").get("name") or _table(doc, "tool", "poetry").get("name")
    return canonicalize_name(name) if isinstance(name, str) and name.strip() else None


def parse(rel: str, reader: ManifestReader, max_depth: int = 8, max_entries: int = 10_000) -> ParsedManifest:
    doc, lines = load_toml(rel, reader)
    index = locate.TextIndex(lines)
    out = ParsedManifest(path=rel, kind="pyproject", files=[rel])
    own = own_name(doc)
    project = doc.get("project")
    if isinstance(project, dict):
        start = index.table_line("project")
        _strings(out, rel, index, project.get("dependencies"), "project.dependencies", start, own)
        extras = project.get("optional-dependencies")
        extras_start = index.table_line("project.optional-dependencies") or start
        if isinstance(extras, dict):
            for group, reqs in extras.items():
                _strings(out, rel, index, reqs, f"project.optional-dependencies.{group}", extras_start, own)
        _dynamic(out, rel, reader, doc, index, max_depth, max_entries)
    groups = doc.get("dependency-groups")
    if isinstance(groups, dict):
        start = index.table_line("dependency-groups")
        for group, reqs in groups.items():
            strings = [r for r in reqs if isinstance(r, str)] if isinstance(reqs, list) else reqs
            _strings(out, rel, index, strings, f"dependency-groups.{group}", start, own)
    uv_dev = _table(doc, "tool", "uv").get("dev-dependencies")
    _strings(out, rel, index, uv_dev, "tool.uv.dev-dependencies", index.key_line("tool.uv", "dev-dependencies"), own)
    for group, reqs in _table(doc, "tool", "pdm", "dev-dependencies").items():
        _strings(out, rel, index, reqs, f"tool.pdm.dev-dependencies.{group}", index.table_line("tool.pdm.dev-dependencies"), own)
    poetry = _table(doc, "tool", "poetry")
    for table, deps in _poetry_tables(poetry):
        _poetry(out, rel, index, table, deps, own)
    return out


def _dynamic(out: ParsedManifest, rel: str, reader: ManifestReader, doc: dict[str, Any], index: locate.TextIndex,
             max_depth: int, max_entries: int) -> None:
    dynamic = _table(doc, "project").get("dynamic")
    if not isinstance(dynamic, list):
        return
    for field in ("dependencies", "optional-dependencies"):
        if field not in dynamic:
            continue
        sources = dynamic_sources(doc, field)
        if sources is not None:
            table, files = sources
            line = index.table_line(table) or index.key_line("project", "dynamic")
            for target in files:
                requirements.include(out, rel, line, target, reader, max_depth, max_entries)
            continue
        if any(reader.exists(reader.sibling(rel, name)) for name in ("setup.py", "setup.cfg")):
            continue  # setuptools fills them from setup.py / setup.cfg, which are audited on their own
        backend = str(_table(doc, "build-system").get("build-backend") or "the build backend")
        out.add(Unaudited(name=f"project.{field}", reason="dynamic", path=rel, line=index.key_line("project", "dynamic"),
                          spec=f"dynamic = {dynamic!r}"[:200],
                          message=f"not audited: [project] {field} are dynamic, computed by {backend} at build time, "
                          "and no requirements file they come from is named"))


def _strings(out: ParsedManifest, rel: str, index: locate.TextIndex, reqs: Any, field: str, start: int | None,
             own: str | None = None) -> None:
    if reqs is None:
        return
    if not isinstance(reqs, list) or not all(isinstance(r, str) for r in reqs):
        out.problems.append(Problem(path=rel, line=start, message=f"{field} must be a list of requirement strings: not audited"))
        return
    cursor = start
    for req in reqs:  # in the order written: each is looked for after the previous one
        found = index.string_line(req, cursor)
        cursor = found or cursor
        out.add(pep508_entry(req, rel, found or start, "pyproject", own))


def _poetry_tables(poetry: dict[str, Any]) -> list[tuple[str, Any]]:
    tables = [("tool.poetry.dependencies", poetry.get("dependencies")), ("tool.poetry.dev-dependencies", poetry.get("dev-dependencies"))]
    groups = poetry.get("group")
    if isinstance(groups, dict):
        for name, group in sorted(groups.items()):
            if isinstance(group, dict):
                tables.append((f"tool.poetry.group.{name}.dependencies", group.get("dependencies")))
    return [(t, d) for t, d in tables if d is not None]


def _poetry(out: ParsedManifest, rel: str, index: locate.TextIndex, table: str, deps: Any, own: str | None) -> None:
    start = index.table_line(table)
    if not isinstance(deps, dict):
        out.problems.append(Problem(path=rel, line=start, message=f"[{table}] must be a table: not audited"))
        return
    for name, constraint in deps.items():
        if name.lower() == "python":
            continue
        if own is not None and canonicalize_name(name) == own:
            out.add("local")  # the project's own extras
            continue
        line = index.key_line(table, name) or index.table_line(f"{table}.{name}") or start
        items = constraint if isinstance(constraint, list) else [constraint]
        for item in items:
            out.add(_poetry_entry(name, item, rel, line))


def _poetry_entry(name: str, item: Any, rel: str, line: int | None) -> Entry:
    if isinstance(item, dict):
        source = table_source(name, item, rel, line, "url", "pyproject")
        if source is not None:
            return source
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
