"""Audit the changed manifests with pip-audit: plan, resolve (opt-in), query, report.

Manifests are read without resolving anything (see `plan.py`), each distinct
(package, version) is audited once by pip-audit's `Auditor` against a local OSV
database (`--advisory-db`, fully offline) or the OSV service (`--osv-url` for a
mirror), and the answers become findings at the lines the pins are written on.
Unpinned requirements are findings of their own unless the policy opts into
resolving them with pip; so are dependencies that cannot be audited (a git
source, a conda package with no PyPI name). Whatever could not be checked (a
manifest that does not parse, an unusable database, a service that does not
answer, the stage's time running out) is a stage error naming the manifest: the
stage never reports "no vulnerabilities" for something it did not check. It
decides nothing and prints nothing. Imported by `stage.py` only when a change
touches a manifest.
"""

from __future__ import annotations

import time

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version
from pip_audit._service import ResolvedDependency

from mlsecops.changes.artifact import Changeset
from mlsecops.context import Context
from mlsecops.findings import Stage, StageError, StageResult
from mlsecops.stages.deps import absent, report, resolver
from mlsecops.stages.deps import plan as planning
from mlsecops.stages.deps.advisories import osv_db
from mlsecops.stages.deps.advisories.service import (
    GuardedService,
    OfflineOsvService,
    OnlineOsvService,
    RecordKeeper,
    query_url,
)
from mlsecops.stages.deps.audit import AuditOutcome, Key, audit
from mlsecops.stages.deps.manifests import conda_names
from mlsecops.stages.deps.manifests.conda_names import CondaNames
from mlsecops.stages.deps.manifests.discover import Manifests
from mlsecops.stages.deps.manifests.kinds import kind_of
from mlsecops.stages.deps.manifests.reader import ManifestReader

_MB = 1024 * 1024


def _service(context: Context, deadline: float) -> tuple[GuardedService, list[str]]:
    """The configured service and the database's unreadable records; raises OsvDatabaseError."""
    limits = context.policy.deps.limits
    if context.advisory_db is not None:
        context.progress(f"deps: loading the advisory database {context.advisory_db}")
        db = osv_db.load(context.advisory_db, cache_dir=context.cache_dir or context.workdir, max_record_mb=limits.max_record_mb,
                         progress=lambda done, total: context.progress(
                             f"deps: indexing the advisory database: {done}/{total} files (cached for later runs)"))
        context.progress(f"deps: {db.record_count} advisories in {db.files} file(s)")
        where = f"advisory database {context.advisory_db}"
        return GuardedService(OfflineOsvService(db), deadline, where), db.problems
    url = query_url(context.osv_url)
    online = OnlineOsvService(context.osv_url, timeout=limits.request_timeout_seconds, cache_dir=context.workdir / "osv-http-cache")
    return GuardedService(online, deadline, f"OSV at {url}"), []


def _resolve(plans: list[planning.Plan], context: Context, deadline: float) -> list[StageError]:
    """Opt-in: resolve each manifest's unpinned requirements with pip (see resolver.py)."""
    errors: list[StageError] = []
    for plan in plans:
        reqs, odd = [], []
        for req in plan.unpinned:
            try:
                Requirement(req.spec)
                reqs.append(req.spec)
            except InvalidRequirement:
                odd.append(req.spec)
        if odd:
            errors.append(StageError(stage=Stage.deps, path=plan.path, message=f"not resolved (not PEP 508 requirements): {', '.join(odd)[:300]}"))
        if not reqs:
            continue
        context.progress(f"deps: resolving {len(reqs)} unpinned requirement(s) of {plan.path} with pip")
        pins = [f"{p.name}=={p.version}" for p in plan.pins]
        try:
            pairs = resolver.resolve(reqs + pins, context.workdir / "resolve", deadline - time.monotonic())
        except resolver.ResolveError as exc:
            errors.append(StageError(stage=Stage.deps, path=plan.path, message=f"{len(reqs)} unpinned requirement(s) not audited: {exc}"))
            continue
        planning.add_resolved(plan, pairs, context.policy.deps)
    return errors


def _plan(rel: str, reader: ManifestReader, context: Context, deadline: float, found: Manifests,
          names: CondaNames | None) -> planning.Plan:
    if time.monotonic() > deadline:
        error = StageError(stage=Stage.deps, path=rel, message="not audited: the stage ran out of time (deps.timeout_seconds)")
        return planning.Plan(path=rel, readable=False, errors=[error])
    return planning.plan(rel, reader, context.policy.deps, found.compiled, names)


def _unique(plans: list[planning.Plan]) -> dict[Key, ResolvedDependency]:
    deps: dict[Key, ResolvedDependency] = {}
    for plan in plans:
        for pin in plan.pins:
            key = report.pin_key(pin)
            deps.setdefault(key, ResolvedDependency(name=pin.name, version=Version(pin.version)))
    return deps


def _dedupe(errors: list[StageError]) -> list[StageError]:
    seen: set[tuple[str, str]] = set()
    out = []
    for e in errors:
        if (e.path, e.message) not in seen:
            seen.add((e.path, e.message))
            out.append(e)
    return out


def run(found: Manifests, changeset: Changeset, context: Context, deadline: float) -> StageResult:
    """Audit the manifests `found.audit` (repo-relative, at least one) before `deadline` (monotonic)."""
    policy = context.policy.deps
    paths = found.audit
    reader = ManifestReader(changeset, int(policy.limits.max_manifest_mb * _MB))
    names = conda_names.load(policy.conda_names) if any(kind_of(p) == "conda" for p in paths) else None
    plans = [_plan(p, reader, context, deadline, found, names) for p in paths]
    errors = [e for p in plans for e in p.errors]
    if found.truncated:
        errors.append(StageError(stage=Stage.deps, message=f"requirement files named by includes and installers were not "
                                 f"all followed ({found.truncated}): manifests found only through them may be missing"))
    readable = [p for p in plans if p.readable]
    context.progress(
        f"deps: {len(paths)} manifest(s), {sum(len(p.pins) for p in readable)} pinned and "
        f"{sum(len(p.unpinned) for p in readable)} unpinned requirement(s)"
    )
    if policy.resolve:
        errors += _resolve(readable, context, deadline)
    deps = _unique(readable)
    outcome, keeper = AuditOutcome(), RecordKeeper()
    if deps:
        try:
            service, problems = _service(context, deadline)
        except osv_db.OsvDatabaseError as exc:
            outcome.error = str(exc)
        else:
            if problems:
                errors.append(StageError(stage=Stage.deps, message=f"{service.where}: {len(problems)} record(s) could not be read, "
                                         f"so the advisories in them were not checked; first: {problems[0]}"))
            context.progress(f"deps: auditing {len(deps)} package(s) against {service.where}")
            outcome = audit(list(deps.values()), service)
            keeper = service.keeper
    for plan in readable:
        unchecked = [p for p in plan.pins if not outcome.checked(report.pin_key(p))]
        if unchecked:
            errors.append(StageError(stage=Stage.deps, path=plan.path,
                                     message=f"{len(unchecked)} of {len(plan.pins)} pinned package(s) not audited: {outcome.error}"))
    findings = report.vulnerability_findings(readable, outcome, keeper, policy)
    vulns = len(findings)
    findings += report.unpinned_findings(readable, policy, resolved=policy.resolve)
    findings += report.unaudited_findings(readable, policy, names.label if names else conda_names.POLICY_LABEL)
    stats: dict[str, int | float] = {
        "artifacts": len(readable),
        "packages": sum(1 for k in deps if outcome.checked(k)),
        "vulnerabilities": vulns,
    }
    if any(p.unpinned for p in readable):
        stats["unpinned"] = sum(len(p.unpinned) for p in readable)
    if any(p.unaudited for p in readable):
        stats["unaudited"] = sum(len(p.unaudited) for p in readable)
    if any(p.local for p in readable):
        stats["local"] = sum(p.local for p in readable)
    if changeset.mode == "all" and not errors and not any(p.declares for p in plans):
        nothing = absent.no_dependencies(policy, [p.path for p in plans])
        findings += [nothing] if nothing else []
    return StageResult(stage=Stage.deps, findings=findings, errors=_dedupe(errors), stats=stats)
