"""Which files are dependency manifests, and which of them a change touches.

A manifest is a file the policy's `deps.manifests` globs name, or a file the
repository uses as one though its name is not in the globs: a requirements
file that a Dockerfile, CI workflow, tox.ini, Makefile or script installs
(`deps.installers`), that a setup.py names, or the `.in` file a lock was
compiled from (pip-compile's and uv's annotations). The files a manifest
includes (`-r`, `-c`, setup.cfg's `file:`, pyproject's dynamic `file`) are
audited as part of it. With --all (or without --base) every manifest is
audited. In diff mode a manifest is audited when it changed, when a file it
includes (however deep) changed or was deleted, or when a changed installer
uses it. A manifest that is a symbolic link (`requirements.txt -> deps/prod.pip`) is read as
what it leads to, inside the scanned folder only, and is audited when the link or its target
changes. The scan reads only text (see references.py) and imports neither pip
nor pip-audit, so a change that touches no dependency still costs nothing.
"""

from __future__ import annotations

import posixpath
import re
import time
from collections import deque

from pydantic import BaseModel, Field

from mlsecops import globs
from mlsecops.changes import folder, git
from mlsecops.changes.artifact import Changeset
from mlsecops.stages.deps.manifests import references
from mlsecops.stages.deps.manifests.interface import ManifestError
from mlsecops.stages.deps.manifests.kinds import kind_of
from mlsecops.stages.deps.manifests.reader import ManifestReader
from mlsecops.stages.deps.manifests.references import Ref

MAX_FILES = 20_000  # files read to follow references in one run
SYMLINK = "symlink (not followed)"  # changes/folder.py's and changeset.py's reason for a skipped link
MAX_BYTES = 256 * 1024 * 1024  # and their total size


class Manifests(BaseModel):
    """The manifests of the tree, how they hang together, and the ones to audit now."""

    roots: dict[str, str] = Field(default_factory=dict, description="manifest -> why it is one")
    includes: dict[str, list[str]] = Field(default_factory=dict, description="file -> files it includes")
    installs: dict[str, list[str]] = Field(default_factory=dict, description="installer -> manifests it uses")
    compiled: dict[str, list[str]] = Field(default_factory=dict, description="source (.in) -> locks compiled from it")
    audit: list[str] = Field(default_factory=list, description="the manifests this run audits, sorted")
    truncated: str | None = Field(default=None, description="why the references were not all followed")


_LITERAL = re.compile(r"[^*?/]+")


def _needle(pattern: str) -> str | None:
    """Text that every path a glob matches contains: the longest literal run of its last segment.

    A necessary condition, whether the last segment must match the file name or
    (gitignore's rule) any folder on the way; None when the pattern has no such
    run or uses brackets, escapes or negation, and must be tried on every path.
    """
    last = pattern.rstrip("/").rsplit("/", 1)[-1]
    if pattern.startswith("!") or any(c in last for c in "[]\\"):
        return None
    runs = _LITERAL.findall(last)
    return max(runs, key=len) if runs else None


def matching(paths: list[str], patterns: list[str]) -> list[str]:
    """The paths any of `patterns` matches (globs.py decides); a cheap substring test spares the rest.

    A repository of 20,000 files against the default globs costs a few hundredths
    of a second instead of most of a second, on every pull request.
    """
    if not patterns:
        return []
    needles = [_needle(p) for p in patterns]
    always = [p for p, n in zip(patterns, needles, strict=True) if n is None]
    finder = re.compile("|".join(re.escape(n) for n in needles if n)) if any(needles) else None
    return [path for path in paths
            if (finder is not None and finder.search(path) and globs.match_any(path, patterns))
            or (always and globs.match_any(path, always))]


def _links(changeset: Changeset) -> list[str]:
    """Symbolic links the changeset skipped (the models stage never follows one): pip does follow a
    `requirements.txt` that is a link, so the deps stage reads it, through the confined reader."""
    return [s.path for s in changeset.skipped if s.reason == SYMLINK]


def tree(changeset: Changeset, include: list[str], exclude: list[str]) -> list[str]:
    """Every file of the scanned tree (the head commit's in diff mode), repo-relative, as the policy selects
    them; symbolic links included (a link is read as what it leads to, inside the scanned folder only)."""
    if changeset.mode == "all":
        links = _links(changeset)
        if include:
            links = matching(links, include)
        excluded_links = set(matching(links, exclude))
        return [a.path for a in changeset.artifacts] + [p for p in links if p not in excluded_links]
    paths: list[str] = []
    if changeset.git_root is not None:
        try:
            listing = git.ls_tree(changeset.git_root, changeset.head or "HEAD")
        except git.GitError:
            listing = None
        if listing is not None:
            prefix = changeset.prefix + "/" if changeset.prefix else ""
            paths = [p[len(prefix):] for p in listing if p.startswith(prefix)]
    if not paths:
        paths = [e[0] for e in folder.walk(changeset.root) if isinstance(e, tuple)] + _links(changeset)
    if include:
        paths = matching(paths, include)
    excluded = set(matching(paths, exclude))
    return [p for p in paths if p not in excluded]


def _refs(rel: str, text: str, manifest: bool, installer: bool) -> list[Ref]:
    found: list[Ref] = []
    if manifest:
        kind = kind_of(rel)
        scan = {
            "requirements": references.requirements_refs,
            "pyproject": references.pyproject_refs,
            "setup.cfg": references.setup_cfg_refs,
            "setup.py": references.setup_py_refs,
            "conda": references.conda_refs,
        }.get(kind)
        found += scan(text) if scan else []
    if installer:
        found += references.installer_refs(rel, text)
    return found


def _resolve(reader: ManifestReader, rel: str, ref: Ref, present: set[str]) -> str | None:
    """The repo-relative file `ref` names from `rel` (relative to `rel`, then to the root for commands)."""
    candidates = []
    try:
        candidates.append(reader.join(rel, ref.target))
    except ManifestError:
        pass
    if ref.from_root and not ref.target.startswith("/"):
        top = posixpath.normpath(ref.target)
        if top != ".." and not top.startswith("../"):
            candidates.append(top)
    for candidate in candidates:
        if candidate in present:
            return candidate
    return candidates[0] if candidates and ref.kind == "include" else None


def scan(paths: list[str], reader: ManifestReader, manifest_globs: list[str], installer_globs: list[str],
         deadline: float | None = None) -> Manifests:
    """The manifests of the tree `paths`, following references from the glob-named ones and the installers.

    Bounded by MAX_FILES, MAX_BYTES and `deadline` (monotonic); what is left is named in `truncated`.
    """
    present = set(paths)
    out = Manifests()
    installers = set(matching(paths, installer_globs))
    for p in matching(paths, manifest_globs):
        out.roots[p] = "named like a manifest (deps.manifests)"
    queue = deque(sorted(out.roots) + sorted(installers - set(out.roots)))
    manifest_like = set(out.roots)
    seen: set[str] = set()
    read = 0
    while queue:
        rel = queue.popleft()
        if rel in seen or rel not in present:
            continue
        if len(seen) >= MAX_FILES or read >= MAX_BYTES:
            out.truncated = f"more than {MAX_FILES} files or {MAX_BYTES // 1024 // 1024} MB to follow"
            break
        if deadline is not None and time.monotonic() > deadline:
            out.truncated = "the stage ran out of time (deps.timeout_seconds)"
            break
        seen.add(rel)
        target_of_link = reader.link_target(rel)
        if target_of_link is not None and target_of_link != rel:
            out.includes.setdefault(rel, []).append(target_of_link)  # a change to what it leads to changes it
        try:
            text = reader.read_text(rel)
        except ManifestError:
            continue  # read (and reported) by its parser when it is audited
        read += len(text)
        for ref in _refs(rel, text, rel in manifest_like, rel in installers):
            target = _resolve(reader, rel, ref, present)
            if target is None or target == rel:
                continue
            if ref.kind == "include":
                out.includes.setdefault(rel, [])
                if target not in out.includes[rel]:
                    out.includes[rel].append(target)
            elif ref.kind == "installs":
                out.installs.setdefault(rel, [])
                if target not in out.installs[rel]:
                    out.installs[rel].append(target)
                out.roots.setdefault(target, f"installed by {rel}:{ref.line}")
            else:
                out.compiled.setdefault(target, [])
                if rel not in out.compiled[target]:
                    out.compiled[target].append(rel)
                out.roots.setdefault(target, f"compiled into {rel}")
            if target not in manifest_like:
                manifest_like.add(target)
                queue.append(target)
    return out


def _closure(start: str, includes: dict[str, list[str]]) -> set[str]:
    reached, stack = {start}, [start]
    while stack:
        for child in includes.get(stack.pop(), []):
            if child not in reached:
                reached.add(child)
                stack.append(child)
    return reached


def select(found: Manifests, changeset: Changeset) -> list[str]:
    """The manifests to audit: all of them with --all, else those the change touches."""
    if changeset.mode == "all":
        return sorted(found.roots)
    changed = {a.path for a in changeset.artifacts} | set(changeset.deleted) | set(_links(changeset))
    audit = {root for root in found.roots if _closure(root, found.includes) & changed}
    for installer in changed:
        audit.update(t for t in found.installs.get(installer, []) if t in found.roots)
    return sorted(audit)


def discover(changeset: Changeset, reader: ManifestReader, manifest_globs: list[str], installer_globs: list[str],
             include: list[str], exclude: list[str], deadline: float | None = None) -> Manifests:
    """Find the tree's manifests and pick the ones this run audits."""
    if changeset.mode == "diff" and not changeset.artifacts and not changeset.deleted and not _links(changeset):
        return Manifests()
    found = scan(tree(changeset, include, exclude), reader, manifest_globs, installer_globs, deadline)
    found.audit = select(found, changeset)
    return found
