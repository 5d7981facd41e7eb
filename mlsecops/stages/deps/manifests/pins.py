"""Turn one requirement into what the audit can do with it: a pin, unpinned, local, or a problem.

Shared by every manifest format. Only an exact `==X` (not `==X.*`) or `===X`
pins a version; anything else is a range that pip would resolve at install
time, so it is reported as unpinned rather than guessed. A direct URL to a wheel
or sdist names its version in the file name (`torch-1.13.0-...whl`) and is
audited as that release; a VCS URL or any other URL cannot be tied to a
release and is one "not audited" entry (not an error that would hide the rest
of the manifest); a local path is the project itself.
"""

from __future__ import annotations

import posixpath
import re
from typing import Literal
from urllib.parse import unquote, urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from mlsecops.stages.deps.manifests.interface import Origin, Pin, Problem, Unaudited, Unpinned

Entry = Pin | Unpinned | Problem | Unaudited | Literal["local"]

_VCS = ("git+", "hg+", "svn+", "bzr+")
_SHOWN_URL = 160
_USERINFO = re.compile(r"(//)[^/@\s]*@")


def without_credentials(text: str) -> str:
    """A URL with any `user:token@` part masked: a manifest may carry a deploy token, a report must not."""
    return _USERINFO.sub(r"\1***@", text)
_REMOTE = re.compile(r"^(https?|ftp)://", re.IGNORECASE)


def pinned_version(spec: SpecifierSet) -> str | None:
    """The one version `spec` fixes, or None when it allows a range."""
    for item in spec:
        if item.operator == "===":
            return item.version
        if item.operator == "==" and not item.version.endswith(".*") and spec.contains(item.version, prereleases=True):
            return item.version
    return None


def _release_from_url(url: str) -> tuple[str, str] | None:
    """(name, version) named by a wheel or sdist URL's file name, if it names one."""
    filename = unquote(posixpath.basename(urlsplit(url).path))
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
            return str(name), str(version)
        name, version = parse_sdist_filename(filename)
        return str(name), str(version)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


def source_entry(name: str, kind: str, where: str, path: str, line: int | None, text: str) -> Unaudited:
    """A package whose source is a repository or a URL: one finding, never a stage error."""
    reason = "git" if kind == "git" else "url" if kind == "url" else "vcs"
    label = "a URL" if kind == "url" else kind
    where = without_credentials(where)
    shown = where if len(where) <= _SHOWN_URL else where[:_SHOWN_URL] + "..."
    return Unaudited(name=without_credentials(name), reason=reason, path=path, line=line, spec=without_credentials(text),
                     message=f"not audited: source is {label} ({shown}), which names no release to look up")


def table_source(name: str, table: dict[str, object], path: str, line: int | None, url_key: str, origin: Origin) -> Entry | None:
    """A dependency written as a table (Poetry, Pipfile): its VCS, URL or path source, or None when it names none."""
    for kind in ("git", "hg", "svn", "bzr"):
        if kind in table:
            return source_entry(name, kind, str(table[kind]), path, line, f"{name} = {{ {kind} = {str(table[kind])!r} }}")
    if url_key in table:
        return url_entry(name, str(table[url_key]), path, line, f"{name} @ {table[url_key]}", origin)
    if "path" in table:
        return "local"
    return None


def url_entry(name: str | None, url: str, path: str, line: int | None, text: str, origin: Origin) -> Entry:
    """A requirement that points at a URL or a path instead of an index."""
    if url.startswith(_VCS):
        return source_entry(name or url, url.split("+", 1)[0], url, path, line, text)
    if _REMOTE.match(url):
        release = _release_from_url(url)
        if release is None:
            return source_entry(name or url, "url", url, path, line, text)
        return Pin(name=name or release[0], version=release[1], path=path, line=line, text=without_credentials(text), origin=origin)
    release = _release_from_url(url)
    if release is not None:  # a wheel or sdist file kept in the repository
        return Pin(name=name or release[0], version=release[1], path=path, line=line, text=text, origin=origin)
    return "local"  # a directory: the project itself, or a vendored source tree


def spec_entry(name: str, spec: SpecifierSet, path: str, line: int | None, text: str, origin: Origin) -> Entry:
    """A named requirement with a version specifier (possibly empty)."""
    version = pinned_version(spec)
    if version is None:
        return Unpinned(name=name, spec=text, path=path, line=line, origin=origin)
    try:
        Version(version)
    except InvalidVersion:
        return Problem(path=path, line=line, message=f"{name}: {version!r} is not a PEP 440 version: not audited")
    return Pin(name=name, version=version, path=path, line=line, text=text, origin=origin)


def pep508_entry(text: str, path: str, line: int | None, origin: Origin, own: str | None = None) -> Entry:
    """One PEP 508 string (pyproject.toml's dependency lists); `own` is the project's canonical name."""
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0]
        return Problem(path=path, line=line, message=f"invalid requirement {text[:120]!r}: {reason}")
    if own is not None and canonicalize_name(req.name) == own:
        return "local"  # the project's own extras (`mypkg[dev]` in mypkg's manifest)
    if req.url:
        return url_entry(req.name, req.url, path, line, text, origin)
    return spec_entry(req.name, req.specifier, path, line, text, origin)
