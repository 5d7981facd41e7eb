"""Find the policy for a run, and stop a pull request from loosening its own gate.

The policy is `--policy` (a file, or a shipped name: default, strict,
audit-only), else `.mlsecops.yml` at PATH, else the shipped default. In diff
mode, when the pull request edits, adds or deletes the policy file in the
repository, the run is judged with the base commit's version (the shipped
default if the base has none) and the change is reported as a finding, MLS001.
The head version is never loaded then, so a broken policy in a PR cannot stop
the gate either. Without the merge base (a shallow clone), the base commit's
version is used.
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
    if base:
        guarded = _guard_against_tamper(path, root_dir, base, head or "HEAD")
        if guarded is not None:
            return guarded
    if not path.exists():
        return _shipped("default")
    return ResolvedPolicy(policy=load_policy(path, _display(path, root_dir)), source=_display(path, root_dir))


def _display(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _guard_against_tamper(path: Path, root: Path, base: str, head: str) -> ResolvedPolicy | None:
    """The policy to use when the change edits, adds or deletes the policy file; None when it does not.

    "The change" is what `head` adds since its merge base with `base` (the file in the work tree
    when `head` is the checked-out commit, so uncommitted edits count). The policy then applied is
    the base commit's: on a pull request that is the target branch as it is now, which may be
    newer than the merge base. A CI checkout of the merge commit (HEAD is neither base nor head)
    is compared through `head`, so a policy change on the target branch is not taken for the PR's.
    """
    top = git.toplevel(root)
    if top is None:
        return None
    try:
        rel_top = path.absolute().resolve().relative_to(top.resolve()).as_posix()
    except ValueError:
        return None  # a policy outside the repository cannot be edited by the PR
    try:
        base_sha = git.rev_parse(top, base)
        try:
            head_sha: str | None = git.rev_parse(top, head)
        except git.GitError:
            head_sha = None  # not fetched (shallow): what is checked out stands for it
        try:
            fork = git.merge_base(top, base_sha, head_sha) if head_sha else base_sha
        except git.GitError:
            fork = base_sha  # a shallow history without the merge base: the base commit itself
        before = git.show_file(top, fork, rel_top)
        if head_sha and head_sha != git.rev_parse(top, "HEAD"):
            after = git.show_file(top, head_sha, rel_top)
        else:
            after = path.read_bytes() if path.exists() else None
        trusted = before if fork == base_sha else git.show_file(top, base_sha, rel_top)
    except (git.GitError, OSError):
        return None
    if before == after:
        return None
    display = _display(path, root)
    verb = "deletes" if after is None else "adds" if before is None else "edits"
    if trusted is None:
        chosen = _shipped("default")
        note = "the base commit has no policy file, so the shipped default applies"
    else:
        chosen = ResolvedPolicy(
            policy=load_policy_text(trusted.decode("utf-8", "replace"), f"{display}@{base_sha[:12]}"),
            source=f"{display} at base {base_sha[:12]}",
        )
        note = f"the base commit's version ({base_sha[:12]}) applies"
    chosen.findings.extend(change_findings(chosen.policy, display, note, verb))
    return chosen


def change_findings(policy: Policy, display: str, note: str, verb: str = "edits") -> list[Finding]:
    """MLS001 for an edited policy file, at the severity the applied policy gives it (none when `off`)."""
    severity = policy.policy_change
    if severity == "off":
        return []
    return [
        Finding(
            rule_id="MLS001",
            stage=Stage.models,
            severity=Severity(severity),
            path=display,
            line=1,
            message=f"This pull request {verb} the gate's policy file {display}; {note}.",
            fingerprint=fingerprint("MLS001", display),
            fix="Merge the policy change in its own reviewed pull request.",
        )
    ]
