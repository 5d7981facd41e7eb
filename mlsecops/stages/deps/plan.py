"""From the changeset to a plan per manifest: which pins to audit, what is unpinned, what failed.

The manifests are those `manifests/discover.py` picked for this run. Each is
parsed (with its includes), its unpinned requirements are settled by
constraints or the lock compiled from it, the policy's `skip_packages` are
dropped, what cannot be audited (a git source, a conda package with no PyPI
name) is kept for its own findings, and everything that could not be read
becomes a stage error naming the file and line, so that a broken manifest can
never look like a clean one.
"""

from __future__ import annotations

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, Field

from mlsecops.findings import Stage, StageError
from mlsecops.stages.deps.manifests import select
from mlsecops.stages.deps.manifests.conda_names import CondaNames
from mlsecops.stages.deps.manifests.interface import PARSER_FAILURES, ManifestError, Pin, Problem, Unaudited, Unpinned
from mlsecops.stages.deps.manifests.kinds import kind_of
from mlsecops.stages.deps.manifests.reader import ManifestReader
from mlsecops.stages.deps.policy import DepsPolicy


class Plan(BaseModel):
    """One manifest, ready for the audit."""

    path: str
    kind: str = "requirements"
    pins: list[Pin] = Field(default_factory=list)
    unpinned: list[Unpinned] = Field(default_factory=list)
    unaudited: list[Unaudited] = Field(default_factory=list)
    errors: list[StageError] = Field(default_factory=list)
    local: int = 0
    skipped: int = Field(default=0, description="requirements dropped by deps.skip_packages")
    readable: bool = True
    declares: bool = Field(default=True, description="the manifest names at least one dependency")


def stage_error(problem: Problem, manifest: str) -> StageError:
    via = f" (included from {manifest})" if problem.path != manifest else ""
    return StageError(stage=Stage.deps, path=problem.path, message=problem.render() + via)


def plan(rel: str, reader: ManifestReader, policy: DepsPolicy, compiled: dict[str, list[str]] | None = None,
         names: CondaNames | None = None) -> Plan:
    """Parse and settle one manifest; never raises for anything in the manifest.

    `compiled` maps a `.in` to the locks compiled from it (see discover.py);
    `names` is the conda-to-PyPI map for environment files.
    """
    limits = policy.limits
    try:
        parsed = select.parse(rel, reader, limits.max_include_depth, limits.max_packages, names)
    except ManifestError as exc:
        return Plan(path=rel, kind=kind_of(rel), readable=False, errors=[stage_error(exc.problem, rel)])
    except PARSER_FAILURES as exc:
        # A parser (ours, pip-audit's, tomli's) that fails on a hostile file costs that file only:
        # the stage's other manifests are still audited (a crash here lost every one of them).
        problem = Problem(path=rel, message=f"cannot be read ({type(exc).__name__}: {str(exc)[:200]}): not audited")
        return Plan(path=rel, kind=kind_of(rel), readable=False, errors=[stage_error(problem, rel)])
    if parsed.entries() > limits.max_packages:
        problem = Problem(
            path=rel,
            message=f"{parsed.entries()} requirements, over the limit of {limits.max_packages} "
            "(deps.limits.max_packages): not audited",
        )
        return Plan(path=rel, kind=parsed.kind, readable=False, errors=[stage_error(problem, rel)])
    lock = select.companion(parsed, reader, limits.max_include_depth, limits.max_packages, compiled)
    pins, unpinned = select.settle(parsed, lock)
    skip = {canonicalize_name(p) for p in policy.skip_packages}
    kept_pins = [p for p in pins if canonicalize_name(p.name) not in skip]
    kept_unpinned = [u for u in unpinned if canonicalize_name(u.name) not in skip]
    kept_unaudited = [u for u in parsed.unaudited if canonicalize_name(u.name) not in skip]
    skipped = len(pins) - len(kept_pins) + len(unpinned) - len(kept_unpinned) + len(parsed.unaudited) - len(kept_unaudited)
    return Plan(
        path=rel,
        kind=parsed.kind,
        pins=kept_pins,
        unpinned=kept_unpinned,
        unaudited=kept_unaudited,
        errors=[stage_error(p, rel) for p in parsed.problems],
        local=parsed.local,
        skipped=skipped,
        declares=parsed.declares(),
    )


def _is_version(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def add_resolved(target: Plan, resolved: list[tuple[str, str]], policy: DepsPolicy) -> None:
    """Add what pip resolved as pins: at the requirement's line when it is one, else the manifest."""
    lines = {canonicalize_name(u.name): u for u in target.unpinned}
    have = {(canonicalize_name(p.name), p.version) for p in target.pins}
    skip = {canonicalize_name(p) for p in policy.skip_packages}
    for name, version in resolved:
        key = (canonicalize_name(name), version)
        if key in have or key[0] in skip or not _is_version(version):
            continue
        have.add(key)
        req = lines.get(key[0])
        target.pins.append(
            Pin(
                name=name,
                version=version,
                path=req.path if req else target.path,
                line=req.line if req else None,
                text=f"{req.spec if req else name} (resolved by pip to {version})",
                origin="resolved",
            )
        )
