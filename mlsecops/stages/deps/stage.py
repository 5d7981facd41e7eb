"""The deps stage: audit the pinned dependencies of every changed manifest with pip-audit.

Most pull requests to an ML repository touch no manifest; they must not pay for
importing pip-audit and pip (a quarter of a second), so this entry only selects
the changed manifests and hands them to `audit_manifests.py` when there are any.
"""

from __future__ import annotations

import time

from mlsecops.changes.artifact import Changeset
from mlsecops.context import Context
from mlsecops.findings import Stage, StageResult
from mlsecops.globs import match_any
from mlsecops.stages.deps.policy import DepsPolicy


def manifests(changeset: Changeset, policy: DepsPolicy) -> list[str]:
    """The changed (or, with --all, every) manifest, in a stable order."""
    return sorted({a.path for a in changeset.artifacts if match_any(a.path, policy.manifests)})


def run(changeset: Changeset, context: Context) -> StageResult:
    deadline = time.monotonic() + context.policy.deps.timeout_seconds
    paths = manifests(changeset, context.policy.deps)
    if not paths:
        return StageResult(stage=Stage.deps, stats={"artifacts": 0})
    from mlsecops.stages.deps import audit_manifests

    return audit_manifests.run(paths, changeset, context, deadline)
