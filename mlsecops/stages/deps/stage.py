"""The deps stage: audit the pinned dependencies of every manifest the change touches with pip-audit.

Most pull requests to an ML repository touch no manifest; they must not pay for
importing pip-audit and pip (a quarter of a second), so this entry only finds
the manifests (`manifests/discover.py`: by name, by what installs or includes
them) and hands them to `audit_manifests.py` when there are any. A whole-tree
scan that finds none says so (MLS204) instead of passing with "0 artifacts".
"""

from __future__ import annotations

import time

from mlsecops.changes.artifact import Changeset
from mlsecops.context import Context
from mlsecops.findings import Stage, StageError, StageResult
from mlsecops.stages.deps import absent
from mlsecops.stages.deps.manifests.discover import Manifests, discover
from mlsecops.stages.deps.manifests.reader import ManifestReader
from mlsecops.stages.deps.policy import DepsPolicy

_MB = 1024 * 1024


def find(changeset: Changeset, context: Context, deadline: float | None = None) -> Manifests:
    """The tree's manifests and the ones this run audits (every one with --all)."""
    policy: DepsPolicy = context.policy.deps
    reader = ManifestReader(changeset, int(policy.limits.max_manifest_mb * _MB))
    return discover(changeset, reader, policy.manifests, policy.installers, context.policy.paths, context.policy.ignore, deadline)


def run(changeset: Changeset, context: Context) -> StageResult:
    deadline = time.monotonic() + context.policy.deps.timeout_seconds
    found = find(changeset, context, deadline)
    by_use = [f"{p} ({found.roots[p]})" for p in found.audit if not found.roots[p].startswith("named like")]
    if by_use:
        context.progress(f"deps: found by use: {'; '.join(by_use[:10])}" + (" ..." if len(by_use) > 10 else ""))
    if not found.audit:
        result = StageResult(stage=Stage.deps, stats={"artifacts": 0})
        if found.truncated:
            result.errors.append(StageError(stage=Stage.deps, message=f"requirement files named by includes and installers "
                                            f"were not all followed ({found.truncated})"))
        if changeset.mode == "all" and not found.truncated:
            finding = absent.no_dependencies(context.policy.deps, [])
            result.findings += [finding] if finding else []
        return result
    from mlsecops.stages.deps import audit_manifests

    return audit_manifests.run(found, changeset, context, deadline)
