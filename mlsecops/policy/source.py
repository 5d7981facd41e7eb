"""Find the policy for a run, and stop a pull request from loosening its own gate.

The policy is `--policy` (a file, or a shipped name: default, strict,
audit-only), else `.mlsecops.yml` at PATH, else the shipped default. In diff
mode, when the pull request edits the in-repository policy file, the run is
judged with the base commit's version and the edit is reported as a finding.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from mlsecops.changes import git
from mlsecops.findings import Finding, Severity, Stage, fingerprint
from mlsecops.policy.loader import PolicyError, PolicyProblem, load_policy, load_policy_text
from mlsecops.policy.model import Policy

REPO_POLICY = ".mlsecops.yml"
SHIPPED = ("default", "strict", "audit-only")


class ResolvedPolicy(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    policy: Policy
    source: str
    findings: list[Finding] = []


def shipped_path(name: str) -> Path:
    return Path(str(files("mlsecops") / "policies" / f"{name}.yml"))


def _shipped(name: str) -> ResolvedPolicy:
    return ResolvedPolicy(policy=load_policy(shipped_path(name), f"policies/{name}.yml"), source=f"policies/{name}.yml (shipped)")


def resolve(root: Path, explicit: str | None, base: str | None, head: str | None) -> ResolvedPolicy:
    """Raise PolicyError for a policy that cannot be used."""
    root_dir = root if root.is_dir() else root.parent
    if explicit:
        path = Path(explicit)
        if not path.exists() and explicit in SHIPPED:
            return _shipped(explicit)
        if not path.exists():
            raise PolicyError(explicit, [PolicyProblem(line=None, field="", message="no such policy file (shipped names: " + ", ".join(SHIPPED) + ")")])
    else:
        path = root_dir / REPO_POLICY
        if not path.exists():
            return _shipped("default")
    resolved = ResolvedPolicy(policy=load_policy(path, _display(path, root_dir)), source=_display(path, root_dir))
    if base:
        return _guard_against_tamper(resolved, path, root_dir, base, head or "HEAD")
    return resolved


def _display(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _guard_against_tamper(head_policy: ResolvedPolicy, path: Path, root: Path, base: str, head: str) -> ResolvedPolicy:
    top = git.toplevel(root)
    if top is None:
        return head_policy
    try:
        rel_top = path.resolve().relative_to(top.resolve()).as_posix()
    except ValueError:
        return head_policy  # a policy outside the repository cannot be edited by the PR
    try:
        base_sha = git.merge_base(top, git.rev_parse(top, base), git.rev_parse(top, head))
        before = git.show_file(top, base_sha, rel_top)
        after = path.read_bytes()
    except (git.GitError, OSError):
        return head_policy
    if before == after:
        return head_policy
    display = _display(path, root)
    if before is None:
        chosen = _shipped("default")
        note = "the base commit has no policy file, so the shipped default applies"
    else:
        chosen = ResolvedPolicy(
            policy=load_policy_text(before.decode("utf-8", "replace"), f"{display}@{base_sha[:12]}"),
            source=f"{display} at base {base_sha[:12]}",
        )
        note = f"the base commit's version ({base_sha[:12]}) applies"
    severity = chosen.policy.policy_change
    if severity != "off":
        chosen.findings.append(
            Finding(
                rule_id="MLS001",
                stage=Stage.models,
                severity=Severity(severity),
                path=display,
                line=1,
                message=f"This pull request edits the gate's policy file {display}; {note}.",
                fingerprint=fingerprint("MLS001", display),
                fix="Merge the policy change in its own reviewed pull request.",
            )
        )
    return chosen
