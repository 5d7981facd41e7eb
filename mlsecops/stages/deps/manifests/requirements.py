"""requirements*.txt / *.in / constraints files, with their -r/-c includes, read like pip-audit.

Lines are parsed by `pip_requirements_parser` (the parser pip-audit uses):
comments, line continuations, `--hash` options, extras and environment markers
are pip's own syntax. Includes are followed here rather than by the parser, so
that each one stays inside the scanned folder, nests at most
`deps.limits.max_include_depth` deep, and a loop (`a.txt` includes `b.txt`
includes `a.txt`) is reported with the chain instead of recursing forever. A
file included twice by different routes is read once. Requirements are audited
whatever their marker says: the gate audits what the manifest can install on
any platform, not only on the machine that runs it. Pins in a constraints file
(`-c`, or a file named constraints*) are audited; its ranges are not findings,
since constraining is what such a file is for.
"""

from __future__ import annotations

import posixpath
import tempfile
from pathlib import Path
from typing import NamedTuple

from pip_requirements_parser import (
    CommentRequirementLine,
    InstallRequirement,
    InvalidRequirementLine,
    OptionLine,
    RequirementsFile,
)

from mlsecops.stages.deps.manifests.interface import ManifestError, ParsedManifest, Problem
from mlsecops.stages.deps.manifests.pins import Entry, spec_entry, url_entry
from mlsecops.stages.deps.manifests.reader import ManifestReader


def is_constraints_name(rel: str) -> bool:
    return posixpath.basename(rel).lower().startswith("constraints")


def parse(rel: str, reader: ManifestReader, max_depth: int, max_entries: int = 10_000) -> ParsedManifest:
    """Read `rel` and everything it includes; raises ManifestError if `rel` itself is unreadable."""
    out = ParsedManifest(path=rel, kind="requirements")
    limits = _Limits(max_depth=max_depth, max_entries=max_entries)
    _walk(rel, reader, out, stack=[], seen=set(), constraint=is_constraints_name(rel), limits=limits)
    return out


def parse_lines(rel: str, lines: list[tuple[int, str]], reader: ManifestReader, max_depth: int,
                max_entries: int = 10_000) -> ParsedManifest:
    """Requirement lines kept inside another file (a conda environment's `pip:` list), read as if
    they were a requirements file at `rel`: each at its own line number, includes relative to `rel`."""
    out = ParsedManifest(path=rel, kind="requirements")
    limits = _Limits(max_depth=max_depth, max_entries=max_entries)
    if len(lines) > max_entries:
        raise ManifestError(rel, f"{len(lines)} pip requirements, over the limit of {max_entries} (deps.limits.max_packages): not audited")
    with tempfile.TemporaryDirectory(prefix="mlsecops-pip-") as tmp:
        source = Path(tmp) / "requirements.txt"
        source.write_text("".join(text.replace("\r", " ").replace("\n", " ").rstrip("\\ ") + "\n" for _, text in lines), encoding="utf-8")
        items = _parse_file(rel, source)
    for item in items:  # back from the temporary file's lines to the lines they are written on
        holder = getattr(item, "requirement_line", None) or item
        number = getattr(holder, "line_number", None)
        if isinstance(number, int) and 1 <= number <= len(lines):
            holder.line_number = lines[number - 1][0]
    _walk(rel, reader, out, stack=[], seen=set(), constraint=False, limits=limits, items=items)
    out.files.remove(rel)  # `rel` itself is read by its own parser
    return out


def include(out: ParsedManifest, rel: str, line: int | None, target: str, reader: ManifestReader, max_depth: int,
            max_entries: int = 10_000) -> None:
    """Read the requirements file `target` named in `rel` (a pyproject or setup.cfg `file:` reference) into `out`."""
    limits = _Limits(max_depth=max_depth, max_entries=max_entries)
    _include(rel, line, target, reader, out, stack=[rel], seen={rel}, constraint=False, limits=limits)


class _Limits(NamedTuple):
    max_depth: int
    max_entries: int


def _parse_file(rel: str, source: Path) -> list[object]:
    try:
        return list(RequirementsFile.parse(filename=str(source), include_nested=False))
    except Exception as exc:  # noqa: BLE001 - the parser raises bare Exceptions on odd input
        raise ManifestError(rel, f"cannot parse {rel}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def _lines(rel: str, reader: ManifestReader, max_entries: int) -> list[object]:
    # pip's option parser costs about a millisecond per requirement: count before parsing.
    candidates = sum(1 for ln in reader.read_bytes(rel).splitlines() if ln.strip() and not ln.lstrip().startswith((b"#", b"-")))
    if candidates > max_entries:
        raise ManifestError(rel, f"{rel} has about {candidates} requirements, over the limit of {max_entries} "
                                 "(deps.limits.max_packages): not audited")
    return _parse_file(rel, reader.source(rel))


def _walk(
    rel: str,
    reader: ManifestReader,
    out: ParsedManifest,
    stack: list[str],
    seen: set[str],
    constraint: bool,
    limits: _Limits,
    items: list[object] | None = None,
) -> None:
    items = _lines(rel, reader, limits.max_entries) if items is None else items
    out.files.append(rel)
    seen.add(rel)
    stack = [*stack, rel]
    for item in items:
        if isinstance(item, CommentRequirementLine):
            continue
        if isinstance(item, InvalidRequirementLine):
            message = (item.error_message or "invalid line").strip().splitlines()[0].replace(": :", ":")
            out.problems.append(Problem(path=rel, line=item.line_number, message=f"{message}: {(item.line or '')[:120]!r}"))
        elif isinstance(item, OptionLine):
            for key, nested_constraint in (("requirements", False), ("constraints", True)):
                for target in item.options.get(key) or []:
                    _include(rel, item.line_number, target, reader, out, stack, seen, constraint or nested_constraint, limits)
        elif isinstance(item, InstallRequirement):
            out.add(_entry(item, rel, constraint), constraint)


def _include(
    rel: str,
    line: int | None,
    target: str,
    reader: ManifestReader,
    out: ParsedManifest,
    stack: list[str],
    seen: set[str],
    constraint: bool,
    limits: _Limits,
) -> None:
    try:
        child = reader.join(rel, target, line)
    except ManifestError as exc:
        out.problems.append(exc.problem)
        return
    if child in stack:
        chain = " -> ".join([*stack[stack.index(child):], child])
        out.problems.append(Problem(path=rel, line=line, message=f"include loop: {chain}"))
        return
    if child in seen:
        return
    if len(stack) > limits.max_depth:
        out.problems.append(Problem(
            path=rel, line=line,
            message=f"includes nest deeper than {limits.max_depth} files (deps.limits.max_include_depth): {target!r} not read",
        ))
        return
    try:
        _walk(child, reader, out, stack, seen, constraint, limits)
    except ManifestError as exc:
        out.problems.append(Problem(path=rel, line=line, message=f"cannot include {target!r}: {exc.problem.message}"))


def _entry(req: InstallRequirement, rel: str, constraint: bool) -> Entry:
    line = req.line_number
    origin = "constraints" if constraint else "requirements"
    text = str(req.req) if req.req is not None else (req.line or "")
    if req.link is not None:
        return url_entry(req.name, req.link.url, rel, line, text, origin)
    if req.req is None:
        return Problem(path=rel, line=line, message=f"cannot read requirement {(req.line or '')[:120]!r}")
    return spec_entry(req.req.name, req.req.specifier, rel, line, text, origin)
