"""Run pip-audit's `Auditor` over the pinned dependencies, then find each one's safe upgrade.

The pins are handed to pip-audit as a `DependencySource` (already resolved: no
pip, no virtual environment, `--no-deps --disable-pip` semantics), audited by
pip-audit's `Auditor` against whichever `VulnerabilityService` the stage built,
and the minimal safe upgrade of each vulnerable package is pip-audit's own
`resolve_fix_versions`: the lowest fix release that the service reports clean.
pip-audit folds aliases only against its PYSEC results; two advisories that
share an alias (the same CVE published twice) are folded here as well, so a
vulnerability is one finding whatever its number of records. When the service
fails, what was answered is kept and the rest is marked unchecked, never clean.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from packaging.version import Version
from pip_audit._audit import Auditor
from pip_audit._dependency_source import DependencySource
from pip_audit._fix import ResolvedFixVersion, SkippedFixVersion, resolve_fix_versions
from pip_audit._service import Dependency, ResolvedDependency, VulnerabilityResult
from pydantic import BaseModel, ConfigDict, Field

from mlsecops.stages.deps.advisories.service import AdvisoryServiceError, GuardedService

Key = tuple[str, Version]


class PinnedSource(DependencySource):
    """Dependencies that are already resolved: the manifests' exact pins."""

    def __init__(self, deps: list[ResolvedDependency]) -> None:
        self._deps = deps

    def collect(self) -> Iterator[Dependency]:
        yield from self._deps

    def fix(self, fix_version: ResolvedFixVersion) -> None:
        raise NotImplementedError("the gate reports upgrades; it does not edit manifests")


class AuditOutcome(BaseModel):
    """What the service said per (canonical name, version), and what it could not say."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    vulns: dict[Key, list[VulnerabilityResult]] = Field(default_factory=dict)
    safe: dict[Key, Version] = Field(default_factory=dict)
    no_safe: dict[Key, str] = Field(default_factory=dict, description="why no safe upgrade was found")
    error: str | None = None

    def checked(self, key: Key) -> bool:
        return key in self.vulns


def key_of(dep: ResolvedDependency) -> Key:
    return (dep.canonical_name, dep.version)


def fold_aliases(vulns: list[VulnerabilityResult]) -> list[VulnerabilityResult]:
    """One result per vulnerability: results whose ids or aliases meet are merged.

    The first result of a group keeps its id (pip-audit orders PYSEC first); the
    others' ids join its aliases.
    """
    groups: list[VulnerabilityResult] = []
    for vuln in vulns:
        meeting = [g for g in groups if g.alias_of(vuln)]
        if not meeting:
            groups.append(vuln)
            continue
        head = meeting[0]
        ids = set(head.aliases) | set(vuln.aliases) | {vuln.id}
        for other in meeting[1:]:
            ids |= other.aliases | {other.id}
            groups.remove(other)
        groups[groups.index(head)] = replace(head, aliases=ids - {head.id})
    return groups


def audit(deps: list[ResolvedDependency], service: GuardedService) -> AuditOutcome:
    """Audit every dependency once; stop at the first service failure."""
    outcome = AuditOutcome()
    try:
        for dep, vulns in Auditor(service).audit(PinnedSource(deps)):
            outcome.vulns[key_of(dep)] = fold_aliases(vulns) if isinstance(dep, ResolvedDependency) else []
    except AdvisoryServiceError as exc:
        outcome.error = str(exc)
        return outcome
    vulnerable = {dep: outcome.vulns[key_of(dep)] for dep in deps if outcome.vulns.get(key_of(dep))}
    try:
        for fix in resolve_fix_versions(service, dict(vulnerable)):
            if isinstance(fix, ResolvedFixVersion):
                outcome.safe[key_of(fix.dep)] = fix.version
            elif isinstance(fix, SkippedFixVersion):
                outcome.no_safe[key_of(fix.dep)] = "no release fixes every known vulnerability"
    except AdvisoryServiceError as exc:
        for dep in vulnerable:
            outcome.no_safe.setdefault(key_of(dep), f"the safe upgrade could not be checked: {exc}")
    return outcome
