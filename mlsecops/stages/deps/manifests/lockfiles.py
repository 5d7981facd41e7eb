"""Lock files exported to pins: pylock.toml (through pip-audit), uv.lock, poetry.lock, Pipfile.lock.

A lock file already names every package at one version, so nothing is
resolved: each locked package from an index is a pin, a package from a local
directory is the project itself, and one from git or an unnamed URL cannot be
tied to a release and is one "not audited" entry: the other locked packages are
audited as usual. pylock.toml (PEP 751) is read by pip-audit's
own `PyLockSource`; the other formats are read here with `tomllib`/`json`. A
file that does not parse is a problem naming the file (and the line when the
parser gives one), never an empty, clean lock.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from pip_audit._dependency_source import DependencySourceError, PyLockSource
from pip_audit._service import ResolvedDependency, SkippedDependency

from mlsecops.stages.deps.manifests import locate
from mlsecops.stages.deps.manifests.interface import ManifestError, ParsedManifest, Pin, Problem
from mlsecops.stages.deps.manifests.pins import Entry, source_entry, spec_entry, url_entry
from mlsecops.stages.deps.manifests.pyproject import load_toml
from mlsecops.stages.deps.manifests.reader import ManifestReader


def _lines_by_index(lines: list[str], array: str, packages: list[Any]) -> list[int | None]:
    """The line of each package entry, by position when the blocks line up, else by name."""
    blocks = locate.package_blocks(lines, array)
    if len(blocks) == len(packages):
        return [b.name_line or b.line for b in blocks]
    by_name: dict[str, int] = {}
    for b in blocks:
        if b.name is not None:
            by_name.setdefault(b.name, b.name_line or b.line)
    return [by_name.get(str(pkg.get("name"))) if isinstance(pkg, dict) else None for pkg in packages]


def _locked(name: str, version: Any, rel: str, line: int | None) -> Entry:
    if not isinstance(version, str) or not version:
        return Problem(path=rel, line=line, message=f"{name}: locked without a version: not audited")
    try:
        Version(version)
    except InvalidVersion:
        return Problem(path=rel, line=line, message=f"{name}: {version!r} is not a PEP 440 version: not audited")
    return Pin(name=name, version=version, path=rel, line=line, text=f"{name}=={version}", origin="lock")


def _toml_packages(rel: str, reader: ManifestReader, array: str, kind: str) -> tuple[ParsedManifest, list[Any], list[int | None]]:
    doc, lines = load_toml(rel, reader)
    packages = doc.get(array, [])
    if not isinstance(packages, list) or not all(isinstance(p, dict) for p in packages):
        raise ManifestError(rel, f"`{array}` must be an array of tables")
    return ParsedManifest(path=rel, kind=kind, files=[rel]), packages, _lines_by_index(lines, array, packages)


def parse_uv(rel: str, reader: ManifestReader) -> ParsedManifest:
    out, packages, lines = _toml_packages(rel, reader, "package", "uv.lock")
    for pkg, line in zip(packages, lines, strict=True):
        name, source = str(pkg.get("name", "")), pkg.get("source") or {}
        if not name:
            out.problems.append(Problem(path=rel, line=line, message="a [[package]] without a name"))
        elif any(k in source for k in ("editable", "virtual", "directory", "path")):
            out.local += 1
        elif "git" in source:
            out.add(source_entry(name, "git", str(source["git"]), rel, line, f"{name} @ git+{source['git']}"))
        elif "url" in source and "registry" not in source:
            out.add(url_entry(name, str(source["url"]), rel, line, f"{name} @ {source['url']}", "lock"))
        else:
            out.add(_locked(name, pkg.get("version"), rel, line))
    return out


def parse_poetry(rel: str, reader: ManifestReader) -> ParsedManifest:
    out, packages, lines = _toml_packages(rel, reader, "package", "poetry.lock")
    for pkg, line in zip(packages, lines, strict=True):
        name, source = str(pkg.get("name", "")), pkg.get("source") or {}
        kind = source.get("type") if isinstance(source, dict) else None
        if not name:
            out.problems.append(Problem(path=rel, line=line, message="a [[package]] without a name"))
        elif kind in ("directory", "file"):
            out.local += 1
        elif kind == "git":
            url = str(source.get("url", ""))
            out.add(source_entry(name, "git", url, rel, line, f"{name} @ git+{url}"))
        elif kind == "url":
            out.add(url_entry(name, str(source.get("url", "")), rel, line, f"{name} @ {source.get('url')}", "lock"))
        else:
            out.add(_locked(name, pkg.get("version"), rel, line))
    return out


def parse_pipfile_lock(rel: str, reader: ManifestReader) -> ParsedManifest:
    text = reader.read_text(rel)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(rel, f"not valid JSON: {exc.msg}", exc.lineno) from None
    except RecursionError:
        raise ManifestError(rel, "not valid JSON: nested too deeply") from None
    if not isinstance(doc, dict):
        raise ManifestError(rel, "not a Pipfile.lock (expected a JSON object)")
    index = locate.TextIndex(text.splitlines())
    out = ParsedManifest(path=rel, kind="Pipfile.lock", files=[rel])
    for section, packages in doc.items():
        if section.startswith("_") or not isinstance(packages, dict):
            continue
        start = index.json_key_line(section, 1)
        for name, spec in packages.items():
            line = index.json_key_line(name, start) or start
            if not isinstance(spec, dict):
                out.problems.append(Problem(path=rel, line=line, message=f"{name}: unreadable entry: not audited"))
            elif any(k in spec for k in ("git", "hg", "svn", "bzr")):
                kind = next(k for k in ("git", "hg", "svn", "bzr") if k in spec)
                out.add(source_entry(name, kind, str(spec[kind]), rel, line, f"{name} @ {kind}+{spec[kind]}"))
            elif "path" in spec:
                out.local += 1
            elif "file" in spec:
                out.add(url_entry(name, str(spec["file"]), rel, line, f"{name} @ {spec['file']}", "lock"))
            else:
                version = str(spec.get("version", ""))
                try:
                    entry = spec_entry(name, SpecifierSet(version), rel, line, f"{name}{version}", "lock")
                except InvalidSpecifier:
                    entry = Problem(path=rel, line=line, message=f"{name}: invalid version {version!r}: not audited")
                out.add(entry)
    return out


def parse_pylock(rel: str, reader: ManifestReader) -> ParsedManifest:
    source: Path = reader.source(rel)
    try:
        deps = list(PyLockSource([source]).collect())
    except DependencySourceError as exc:
        message = str(exc).replace(f"{source}: ", "")
        raise ManifestError(rel, f"pip-audit cannot read this lock file: {message}") from None
    except InvalidVersion as exc:
        raise ManifestError(rel, f"pip-audit cannot read this lock file: {exc}") from None
    out, packages, lines = _toml_packages(rel, reader, "packages", "pylock.toml")
    for dep, pkg, line in zip(deps, packages, lines, strict=False):
        if isinstance(dep, ResolvedDependency):
            out.pins.append(Pin(name=dep.name, version=str(dep.version), path=rel, line=line, text=f"{dep.name}=={dep.version}", origin="lock"))
        elif "directory" in pkg:
            out.local += 1
        elif isinstance(dep, SkippedDependency) and isinstance(pkg.get("vcs"), dict):
            vcs = pkg["vcs"]
            kind = str(vcs.get("type", "vcs"))
            where = str(vcs.get("url") or vcs.get("path") or "")
            out.add(source_entry(dep.name, kind, where, rel, line, f"{dep.name} @ {kind}+{where}"))
        elif isinstance(dep, SkippedDependency) and isinstance(pkg.get("archive"), dict):
            where = str(pkg["archive"].get("url") or pkg["archive"].get("path") or "")
            out.add(url_entry(dep.name, where, rel, line, f"{dep.name} @ {where}", "lock"))
        elif isinstance(dep, SkippedDependency):
            out.problems.append(Problem(path=rel, line=line, message=f"{dep.name}: a package without a version cannot be tied to a release ({dep.skip_reason}): not audited"))
    return out
