"""Find the policy for a run, and stop a pull request from loosening its own gate.

The policy is `--policy` (a file, or a shipped name: default, strict,
audit-only), else `.mlsecops.yml` at PATH, else the shipped default. In diff
mode, when the pull request edits, adds or deletes the policy file in the
repository, the run is judged with the base commit's version (the shipped
default if the base has none) and the change is reported as a finding, MLS001,
of the `gate` stage: the proposed version is validated (never applied) and
compared field by field with the one in force (`diff.py`); what it would
loosen blocks by default, what it would only tighten does not. A proposed
version that does not load is reported, not raised: a broken policy in a PR
cannot stop the gate, and counts as a loosening. Without the merge base (a
shallow clone), the base commit's version is used.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from mlsecops.changes import git
from mlsecops.findings import Finding, Severity, Stage, fingerprint
from mlsecops.policy.diff import WHOLE_FILE, Change, PolicyDiff, diff
from mlsecops.policy.loader import MAX_POLICY_BYTES, PolicyError, PolicyProblem, load_policy, load_policy_text, parse_policy_text
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
        guarded = _guard_against_tamper(path, root_dir, base, head or "HEAD", explicit=bool(explicit))
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


def _guard_against_tamper(path: Path, root: Path, base: str, head: str, explicit: bool = False) -> ResolvedPolicy | None:
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
        note = ("the base commit has no policy file, so it was judged with the shipped default; "
                "the new policy takes effect after merge")
    else:
        chosen = ResolvedPolicy(
            policy=load_policy_text(trusted.decode("utf-8", "replace"), f"{display}@{base_sha[:12]}"),
            source=f"{display} at base {base_sha[:12]}",
        )
        note = f"it was judged with the base commit's version ({base_sha[:12]}); the change takes effect after merge"
    change = compare(chosen.policy, after, display, explicit)
    chosen.findings.extend(change_findings(chosen.policy, display, note, verb, change))
    return chosen


def compare(in_force: Policy, proposed: bytes | None, display: str, explicit: bool = False) -> PolicyDiff:
    """What the proposed file (None: deleted) would change against the policy in force."""
    if proposed is None:
        if explicit:
            return _unknown(f"the policy file {display} is gone after merge, so every run naming it would stop (exit 2)")
        return diff(in_force, _shipped("default").policy)  # no file: the shipped default applies
    if len(proposed) > MAX_POLICY_BYTES:
        return _unknown("the proposed policy file is larger than 1 MiB and would not load")
    try:
        text = proposed.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _unknown(f"the proposed policy file is not UTF-8 ({exc.reason} at byte {exc.start}) and would not load")
    try:
        policy, lines = parse_policy_text(text, display)
    except PolicyError as exc:
        return _unknown("the proposed policy does not load, so every run would stop (exit 2): " + str(exc)[:500])
    return diff(in_force, policy, lines)


def _unknown(why: str) -> PolicyDiff:
    return PolicyDiff(changes=[Change(field=WHOLE_FILE, direction="unknown", after=why)])


_SHOWN = 5


def change_findings(policy: Policy, display: str, note: str, verb: str = "edits",
                    change: PolicyDiff | None = None) -> list[Finding]:
    """MLS001 for a changed policy file, judged by the policy in force: at its `policy_change`
    severity when the change loosens the gate or may (`change` None: it could not be compared),
    at info when it only tightens or changes nothing enforced; none when `policy_change` is off."""
    if policy.policy_change == "off":
        return []
    if change is None:
        change = _unknown("the proposed version could not be read, so what it changes is not known")
    loosening, tightening = _in_file_order(change.loosening), _in_file_order(change.tightening)
    parts = []
    if loosening:
        how = "would" if any(c.direction == "loosens" for c in loosening) else "may"
        parts.append(f"This change to {display} {how} loosen the gate ({len(loosening)}): " + _summary(loosening) + ".")
    if tightening:
        lead = "It would tighten it" if loosening else f"This change to {display} would tighten the gate"
        parts.append(f"{lead} ({len(tightening)}): " + _summary(tightening) + ".")
    if not loosening and not tightening:
        parts.append(f"This change to {display} changes nothing the gate enforces.")
    parts.append(f"The pull request {verb} the policy file; {note}.")
    evidence = [f"loosens: {c.text()}" if c.direction == "loosens" else f"may loosen: {c.text()}" for c in loosening]
    evidence += [f"tightens: {c.text()}" for c in tightening]
    first = next((c.line for c in loosening + tightening if c.line), None)
    return [
        Finding(
            rule_id="MLS001",
            stage=Stage.gate,
            severity=Severity(policy.policy_change) if loosening else Severity.info,
            path=display,
            line=first or 1,
            message=" ".join(parts),
            evidence=evidence[:50],
            fingerprint=fingerprint("MLS001", display),
            fix=("Land a loosening through review: the policy file's code owners approve it (CODEOWNERS) "
                 "and it is merged on its own; see docs/policy.md." if loosening
                 else "Nothing to do: the change only tightens the gate and takes effect after merge."),
            properties={"loosens": len(loosening), "tightens": len(tightening)},
        )
    ]


def _in_file_order(changes: list[Change]) -> list[Change]:
    return sorted(changes, key=lambda c: (c.line is None, c.line or 0))


def _summary(changes: list[Change]) -> str:
    shown = "; ".join(c.text() for c in changes[:_SHOWN])
    return shown + (f"; and {len(changes) - _SHOWN} more" if len(changes) > _SHOWN else "")
