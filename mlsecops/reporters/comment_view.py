"""What the PR comment shows, arranged for a reviewer: the verdict's findings grouped and linked.

The templates only lay this out; every decision about what goes where is made here:
blocking items first, dependencies one row per package (linked advisory ids, the fixed
release, one upgrade line), model files one row per file with the exact fix (the allowlist
entry, the safetensors conversion), everything else one row per file. Findings that do
not block stay in their stage's collapsed section. Values are kept raw here; the templates
escape every one of them (`md`, `code`) and take links only from `links`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import BaseModel, Field

from mlsecops.findings import Severity
from mlsecops.reporters import links
from mlsecops.verdict import JudgedFinding, Status, Verdict

SEVERITY_MARK = {"critical": "🟥", "high": "🟧", "medium": "🟨", "low": "🟦", "info": "⬜"}
_ALLOW_GLOB = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.]*")
_SAFE_PATH = re.compile(r"[A-Za-z0-9._/-]{1,200}")
_LOCKS = {"uv.lock": "uv lock --upgrade-package {pkg}", "poetry.lock": "poetry update {pkg}",
          "Pipfile.lock": "pipenv update {pkg}"}
PICKLE_RULES = ("MLS101", "MLS102", "MLS103", "MLS104", "MLS105", "MLS106", "MLS107", "MLS110")


class Ref(BaseModel):
    """A text with an optional link (built by `links`, never from input)."""

    text: str
    url: str | None = None


class Problem(BaseModel):
    rule: Ref
    severity: str
    message: str
    member: str | None = None
    status: str = "blocking"


class FileRow(BaseModel):
    """One file and what is wrong with it (models, fuzz harnesses, the policy, assess ...)."""

    file: Ref
    line: int | None = None
    severity: str
    problems: list[Problem]
    fix: str = ""
    allow_globs: list[str] = Field(default_factory=list)
    convert_to: str | None = Field(default=None, description="the safetensors file to write instead")


class DepRow(BaseModel):
    """One vulnerable pinned package, wherever it is pinned."""

    package: str
    version: str
    severity: str
    where: list[Ref]
    advisories: list[Ref]
    fixed: str | None = None
    upgrade: str | None = Field(default=None, description="the one line (or command) that fixes it")
    no_fix: str | None = None


class Group(BaseModel):
    """Rows of one kind, cut to `shown` for the comment; `total` says how many there were."""

    rows: list[FileRow] | list[DepRow]
    total: int
    findings: int


def _worst(findings: Iterable[JudgedFinding]) -> str:
    return max((f.severity for f in findings), key=lambda s: s.rank, default=Severity.info).value


def _rule(f: JudgedFinding) -> Ref:
    return Ref(text=f.rule_id.split("/", 1)[0], url=links.rule_doc(f.rule_id))


def _lowest_clearing(items: list[JudgedFinding]) -> str | None:
    """Without the stage's minimal safe upgrade: the highest of each advisory's first fixed
    release (None when one advisory has no fix, or a version does not parse)."""
    from packaging.version import InvalidVersion, Version

    firsts = []
    for f in items:
        try:
            fixes = sorted(Version(v) for v in f.fix_versions)
        except InvalidVersion:
            return None
        if not fixes:
            return None
        firsts.append(fixes[0])
    return str(max(firsts)) if firsts else None


def dep_rows(findings: list[JudgedFinding], files: links.FileLinks) -> list[DepRow]:
    """Vulnerabilities grouped by package and pinned version, worst first."""
    groups: dict[tuple[str, str], list[JudgedFinding]] = {}
    for f in findings:
        groups.setdefault((f.package or "?", f.version or "?"), []).append(f)
    rows = []
    for (pkg, version), items in groups.items():
        first = items[0]
        safe = first.properties.get("safe_version") or _lowest_clearing(items)
        where = {(f.path, f.line): Ref(text=f"{f.path}:{f.line}" if f.line else f.path, url=files.file(f.path, f.line))
                 for f in items}
        ids = {f.vuln_id: Ref(text=f.vuln_id, url=links.advisory(f.vuln_id)) for f in items if f.vuln_id}
        lock = _LOCKS.get(first.path.rsplit("/", 1)[-1])
        upgrade = (lock.format(pkg=pkg) if lock else f"{pkg}=={safe}") if safe else None
        rows.append(DepRow(package=pkg, version=version, severity=_worst(items), where=list(where.values()),
                           advisories=list(ids.values()), fixed=str(safe) if safe else None, upgrade=upgrade,
                           no_fix=None if safe else str(first.properties.get("no_safe_version") or "no fixed release known")))
    return sorted(rows, key=lambda r: (-Severity(r.severity).rank, r.package))


def _convert_target(path: str) -> str:
    stem = path.rsplit(".", 1)[0] if "." in path.rsplit("/", 1)[-1] else path
    name = f"{stem}.safetensors"
    return name if _SAFE_PATH.fullmatch(name) else "model.safetensors"


def file_rows(findings: list[JudgedFinding], files: links.FileLinks) -> list[FileRow]:
    """Findings grouped by file, each file with the fix that clears all of its problems."""
    groups: dict[str, list[JudgedFinding]] = {}
    for f in findings:
        groups.setdefault(f.path, []).append(f)
    rows = []
    for path, items in groups.items():
        items.sort(key=lambda f: -f.severity.rank)
        line = items[0].line if len(items) == 1 else None
        problems = [Problem(rule=_rule(f), severity=f.severity.value, message=f.message, member=f.member,
                            status=f.status.value) for f in items]
        dangerous = any(f.rule_id in ("MLS101", "MLS104", "MLS105", "MLS107") for f in items)
        globs = sorted({str(f.properties["global"]) for f in items
                        if f.rule_id in ("MLS102", "MLS103") and _ALLOW_GLOB.fullmatch(str(f.properties.get("global", "")))})
        pickled = any(f.rule_id in PICKLE_RULES for f in items)
        if dangerous:
            fix = "Delete it, never load it; save the model from trusted code as safetensors."
        elif globs:
            fix = "If these imports are your own reviewed code, allowlist them; better, save only the weights as safetensors."
        else:
            fix = next((f.fix for f in items if f.fix), "") or ""
        rows.append(FileRow(file=Ref(text=path, url=files.file(path, line)), line=line, severity=_worst(items),
                            problems=problems, fix=fix, allow_globs=[] if dangerous else globs,
                            convert_to=_convert_target(path) if pickled else None))
    return sorted(rows, key=lambda r: (-Severity(r.severity).rank, r.file.text))


def _group(rows: list, findings: int, cap: int) -> Group:  # type: ignore[type-arg]
    return Group(rows=rows[:cap], total=len(rows), findings=findings)


class Blocking(BaseModel):
    models: Group
    deps: Group
    behaviour: Group = Field(description="assessed models whose metrics broke a bound (the assess stage)")
    other: Group

    @property
    def empty(self) -> bool:
        return not (self.models.total or self.deps.total or self.behaviour.total or self.other.total)

    def fix_list(self) -> str:
        """'3 model files and 5 dependencies'."""
        parts = self.parts()
        return " and ".join([", ".join(parts[:-1]), parts[-1]]) if len(parts) > 1 else "".join(parts)

    def parts(self) -> list[str]:
        """What the title asks to fix: '3 model files', '5 dependencies', '1 other file'."""
        out = []
        for n, one, many in ((self.models.total, "model file", "model files"), (self.deps.total, "dependency", "dependencies"),
                             (self.behaviour.total, "assessed model", "assessed models"),
                             (self.other.total, "other file", "other files")):
            if n:
                out.append(f"{n} {one if n == 1 else many}")
        return out


def blocking(verdict: Verdict, files: links.FileLinks, cap: int) -> Blocking:
    block = [f for f in verdict.findings if f.status == Status.blocking]
    deps = [f for f in block if f.stage.value == "deps" and f.rule_id == "MLS201"]
    models = [f for f in block if f.stage.value == "models" and f.rule_id.startswith("MLS1")]
    behaviour = [f for f in block if f.stage.value == "assess"]
    taken = {id(f) for f in deps} | {id(f) for f in models} | {id(f) for f in behaviour}
    other = [f for f in block if id(f) not in taken]
    return Blocking(models=_group(file_rows(models, files), len(models), cap),
                    deps=_group(dep_rows(deps, files), len(deps), cap),
                    behaviour=_group(file_rows(behaviour, files), len(behaviour), cap),
                    other=_group(file_rows(other, files), len(other), cap))


def nonblocking(verdict: Verdict, files: links.FileLinks, cap: int) -> dict[str, Group]:
    """The stages' collapsed sections: vulnerable pins and model files that do not block."""
    deps = [f for f in stage_findings(verdict, "deps", Status.advisory) if f.rule_id == "MLS201"]
    models = stage_findings(verdict, "models", Status.advisory)
    return {"deps_advisory": _group(dep_rows(deps, files), len(deps), cap),
            "models_advisory": _group(file_rows(models, files), len(models), cap)}


def stage_findings(verdict: Verdict, stage: str, status: Status | None = None) -> list[JudgedFinding]:
    return [f for f in verdict.findings if f.stage.value == stage and (status is None or f.status == status)]


def scanned(verdict: Verdict) -> bool:
    """Did the run look at anything? A PR touching nothing the gate scans gets no new comment."""
    counted = ("artifacts", "targets", "models", "manifests", "files")
    return bool(verdict.findings or verdict.errors or verdict.notes
                or any(st.get(k, 0) for st in verdict.stages.values() for k in counted))
