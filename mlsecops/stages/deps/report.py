"""Findings from the audit: one per (file, package, vulnerability), one per unpinned requirement, one per
dependency that cannot be audited.

A vulnerability is reported where its pin is written (the included file and its
line, not the manifest that included it), with the advisory's id, its aliases,
the pinned version, the releases that fix it (those above the pin), the
package's minimal safe upgrade, and the advisory's own severity: the highest
that any of its alias records states, or the policy's `unknown_severity`. A pin
that came through a name map (a conda package) says which map. A dependency
that cannot be audited is one MLS203 finding (an environment file's conda
packages with no PyPI project are one finding together). Fingerprints leave the
line out, so moving a line does not reopen an alert.
"""

from __future__ import annotations

from packaging.utils import canonicalize_name
from packaging.version import Version
from pip_audit._service import VulnerabilityResult

from mlsecops.findings import Finding, Severity, Stage, fingerprint
from mlsecops.reporters.escape import plain
from mlsecops.stages.deps.advisories.matching import fix_versions
from mlsecops.stages.deps.advisories.service import RecordKeeper
from mlsecops.stages.deps.audit import AuditOutcome, Key
from mlsecops.stages.deps.manifests.interface import Pin, Unaudited
from mlsecops.stages.deps.plan import Plan
from mlsecops.stages.deps.policy import DepsPolicy
from mlsecops.stages.deps.severity import RecordSeverity, highest, record_severity

TOOL = "pip-audit"
OSV_LINK = "https://osv.dev/vulnerability/"


def pin_key(pin: Pin) -> Key:
    return (canonicalize_name(pin.name), Version(pin.version))


def _details(package: str, vuln: VulnerabilityResult, keeper: RecordKeeper) -> tuple[RecordSeverity | None, list[Version]]:
    records = keeper.records_for(package, {vuln.id, *vuln.aliases})
    severity = highest([record_severity(r.as_mapping(), package) for r in records])
    fixes = set(vuln.fix_versions)
    for record in records:
        fixes.update(fix_versions(record, package))
    return severity, sorted(fixes)


def _severity(found: RecordSeverity | None, policy: DepsPolicy) -> tuple[Severity, str] | None:
    if found is not None:
        return found.severity, found.source
    if policy.unknown_severity == "off":
        return None
    return Severity(policy.unknown_severity), "unknown"


def _finding(pin: Pin, vuln: VulnerabilityResult, outcome: AuditOutcome, keeper: RecordKeeper, policy: DepsPolicy) -> Finding | None:
    key = pin_key(pin)
    package, version = key
    found, fixes = _details(package, vuln, keeper)
    rated = _severity(found, policy)
    if rated is None:
        return None
    severity, source = rated
    above = [str(v) for v in fixes if v > version]
    aliases = sorted(vuln.aliases)
    safe = outcome.safe.get(key)
    message = f"{pin.name} {pin.version} is affected by {vuln.id}"
    message += f" (aka {', '.join(aliases)})" if aliases else ""
    message += f" [{pin.note}]" if pin.note else ""
    message += f": {plain(vuln.description, 240)}"
    if not above:
        message += " No release that fixes it is known."
    if safe is not None:
        fix: str | None = f"upgrade {pin.name} to {safe}"
    elif above:
        fix = f"upgrade {pin.name} to {above[0]} or later"
    else:
        fix = None
    evidence = [f"{pin.path}:{pin.line}: {pin.text}" if pin.line else f"{pin.path}: {pin.text}"]
    if pin.note:
        evidence.append(pin.note)
    if found is not None and found.vector:
        evidence.append(f"{found.source}: {found.vector} (base score {found.score})")
    props: dict[str, str | int | float | bool | None] = {
        "severity_source": source,
        "group": f"{package}=={version}",
        "origin": pin.origin,
    }
    if found is not None and found.score is not None:
        props["cvss_score"] = found.score
    if pin.note:
        props["mapping"] = pin.note
    if safe is not None:
        props["safe_version"] = str(safe)
    elif key in outcome.no_safe:
        props["no_safe_version"] = outcome.no_safe[key]
    return Finding(
        rule_id="MLS201",
        stage=Stage.deps,
        severity=severity,
        path=pin.path,
        line=pin.line,
        message=message,
        tool=TOOL,
        evidence=evidence,
        fingerprint=fingerprint("MLS201", pin.path, package, vuln.id),
        fix=fix,
        help_uri=OSV_LINK + vuln.id,
        vuln_id=vuln.id,
        aliases=aliases,
        package=pin.name,
        version=pin.version,
        fix_versions=above,
        properties=props,
    )


def vulnerability_findings(plans: list[Plan], outcome: AuditOutcome, keeper: RecordKeeper, policy: DepsPolicy) -> list[Finding]:
    findings: list[Finding] = []
    seen: set[tuple[str, str, str]] = set()
    for plan in plans:
        for pin in plan.pins:
            key = pin_key(pin)
            for vuln in outcome.vulns.get(key, []):
                mark = (pin.path, key[0], vuln.id)
                if mark in seen:
                    continue
                seen.add(mark)
                finding = _finding(pin, vuln, outcome, keeper, policy)
                if finding is not None:
                    findings.append(finding)
    return findings


def unpinned_findings(plans: list[Plan], policy: DepsPolicy, resolved: bool) -> list[Finding]:
    if policy.unpinned == "off":
        return []
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    after = "it was resolved with pip and the resolved release audited" if resolved else "it was not audited"
    for plan in plans:
        for req in plan.unpinned:
            package = canonicalize_name(req.name)
            if (req.path, package) in seen:
                continue
            seen.add((req.path, package))
            findings.append(
                Finding(
                    rule_id="MLS202",
                    stage=Stage.deps,
                    severity=Severity(policy.unpinned),
                    path=req.path,
                    line=req.line,
                    message=f"{plain(req.spec, 160)} is not pinned to an exact version: the release that installs "
                    f"can change between installs, and {after}.",
                    tool="mlsecops",
                    evidence=[f"{req.path}:{req.line}: {req.spec}" if req.line else f"{req.path}: {req.spec}"],
                    fingerprint=fingerprint("MLS202", req.path, package),
                    fix=f"pin {req.name} with == (or commit the lock file your tool writes)",
                    package=req.name,
                    properties={"origin": req.origin},
                )
            )
    return findings


_SOURCE_FIX = "depend on a released version (name==X), or accept this source with a waiver that says why"
_UNAUDITED_FIX = {
    "git": _SOURCE_FIX,
    "vcs": _SOURCE_FIX,
    "url": _SOURCE_FIX,
    "not-literal": "write install_requires/extras_require as literal lists, or declare them in pyproject.toml",
    "dynamic": "name the requirements file in [tool.setuptools.dynamic], or list the dependencies in [project]",
    "conda-unmapped": "nothing to upgrade here if these are not Python packages; map one that is in deps.conda_names",
}


def _where(entry: Unaudited) -> str:
    return f"{entry.path}:{entry.line}: {entry.spec}" if entry.line else f"{entry.path}: {entry.spec}"


def unaudited_findings(plans: list[Plan], policy: DepsPolicy, mapping: str) -> list[Finding]:
    """MLS203: one per dependency that cannot be audited; an environment file's unmapped conda packages together.

    `mapping` names the conda-to-PyPI map, for the conda finding.
    """
    findings: list[Finding] = []
    seen: set[tuple[str, str, str]] = set()
    conda: dict[str, list[Unaudited]] = {}
    for plan in plans:
        for entry in plan.unaudited:
            if entry.reason == "conda-unmapped":
                conda.setdefault(entry.path, []).append(entry)
                continue
            source = entry.reason in ("git", "vcs", "url")
            key = canonicalize_name(entry.name) if source else entry.name
            if (entry.path, key, entry.reason) in seen or policy.unaudited == "off":
                continue
            seen.add((entry.path, key, entry.reason))
            findings.append(Finding(
                rule_id="MLS203", stage=Stage.deps, severity=Severity(policy.unaudited), path=entry.path, line=entry.line,
                message=plain(f"{entry.name}: {entry.message}" if source else entry.message, 500),
                tool="mlsecops", evidence=[plain(_where(entry), 300)],
                fingerprint=fingerprint("MLS203", entry.path, key, entry.reason),
                fix=_UNAUDITED_FIX[entry.reason],
                package=entry.name if source else None,
                properties={"reason": entry.reason},
            ))
    if policy.conda_unmapped == "off":
        return findings
    for path, entries in sorted(conda.items()):
        names = sorted({e.name for e in entries})
        shown = ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")
        findings.append(Finding(
            rule_id="MLS203", stage=Stage.deps, severity=Severity(policy.conda_unmapped), path=path,
            line=min((e.line for e in entries if e.line), default=None),
            message=f"{len(names)} conda package(s) {entries[0].message}: {plain(shown, 400)}. The name map used is the "
            f"{mapping}; the policy's deps.conda_names adds names.",
            tool="mlsecops", evidence=[plain(_where(e), 200) for e in entries[:20]],
            fingerprint=fingerprint("MLS203", path, "conda-unmapped"),
            fix=_UNAUDITED_FIX["conda-unmapped"],
            properties={"reason": "conda-unmapped", "packages": ", ".join(names)[:1000], "mapping": mapping},
        ))
    return findings
