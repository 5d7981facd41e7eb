"""The finding for a whole-tree scan that found no declared dependency (MLS204).

Kept apart from `report.py` so that `stage.py` can say "nothing found" without
importing pip-audit: a repository with no manifest must not pay for it.
"""

from __future__ import annotations

from mlsecops.findings import Finding, Severity, Stage, fingerprint
from mlsecops.stages.deps.policy import DepsPolicy

_SHOWN = 8


def no_dependencies(policy: DepsPolicy, empty: list[str]) -> Finding | None:
    """MLS204, or None when the policy turns it off. `empty` are the manifests found that declare nothing."""
    if policy.no_manifest == "off":
        return None
    if empty:
        shown = ", ".join(empty[:_SHOWN]) + (f" and {len(empty) - _SHOWN} more" if len(empty) > _SHOWN else "")
        message = (f"No dependency was found: the manifests in the tree ({shown}) declare none. If the project has "
                   "dependencies, they are declared where the gate does not look, and none was audited.")
        path = empty[0]
    else:
        message = ("No dependency manifest was found in the scanned tree (requirements or constraints files, "
                   "pyproject.toml, setup.py, setup.cfg, Pipfile, conda environment files, lock files, or a "
                   "requirements file that an installer such as a Dockerfile uses), so no dependency was audited.")
        path = "."
    return Finding(
        rule_id="MLS204",
        stage=Stage.deps,
        severity=Severity(policy.no_manifest),
        path=path,
        message=message,
        evidence=[f"looked at: {p}" for p in empty[:_SHOWN]] or ["deps.manifests and deps.installers matched no file"],
        fingerprint=fingerprint("MLS204", "."),
        fix="commit the project's requirements or lock file, or name it in the policy's deps.manifests",
        properties={"manifests": len(empty)},
    )
