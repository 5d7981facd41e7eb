"""Rule metadata: the stable ids findings carry and the help text reporters show.

Each stage keeps its own rules next to its code (`stages/<stage>/rules.py`); this
module holds the model, the gate's own rules (the ones no stage owns) and the
look-up that reporters use. A finding whose rule is unknown still gets a rule
built from the finding, so a reporter never drops a result.
"""

from __future__ import annotations

from importlib import import_module

from pydantic import BaseModel, ConfigDict

from mlsecops.findings import Finding, Severity

DOCS = "https://github.com/mlsecops/mlsecops/blob/main/docs/rules.md"


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    short: str
    full: str
    help: str
    severity: Severity
    help_uri: str = DOCS


GATE_RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            id="MLS001",
            name="policy-changed-in-pr",
            short="The pull request changes the gate's policy file",
            full="The pull request edits, adds or deletes the policy file. The gate judged the pull "
            "request with the policy in force on the base branch (the shipped default when it has "
            "none), so a PR cannot loosen its own gate, and compared the proposed policy with it field "
            "by field: the finding lists what the change would loosen and what it would tighten. A "
            "change that loosens anything (or may: an unknown effect counts as a loosening) has the "
            "policy's `policy_change` severity; one that only tightens is info. It is a finding of the "
            "gate stage, judged by `gate.fail_on` whichever stages ran.",
            help="Review the listed changes. A loosening lands through review by the policy file's "
            "code owners (CODEOWNERS); a tightening takes effect after merge. See docs/policy.md.",
            severity=Severity.high,
        ),
        Rule(
            id="MLS002",
            name="lfs-pointer-not-fetched",
            short="Git LFS pointer: the model was not fetched and could not be scanned",
            full="The file is a Git LFS pointer, not the model it stands for. Nothing about "
            "the real model was checked. Like a stage error, this is the gate not seeing something: "
            "it is a finding of the gate stage (severity `lfs_pointers`, judged by `gate.fail_on`), "
            "so it blocks even where the models stage is advisory.",
            help="Fetch LFS objects before the scan (`actions/checkout` with `lfs: true`, or "
            "`git lfs pull`), or waive the path in the policy.",
            severity=Severity.high,
        ),
    )
}

# MLS004 is a models-stage finding (judged by `models.fail_on`, configured by `models.blocked_formats`,
# `allowed_formats` and `blocked_format_severity`); its rule stays in this file only to keep the models
# refactor's rules module free of merge conflicts.
MODELS_POLICY_RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            id="MLS004",
            name="format-not-allowed",
            short="A model format the policy does not allow",
            full="The file's format (detected from its content, not its name) is blocked by "
            "the policy's `models.blocked_formats` or absent from `models.allowed_formats`.",
            help="Convert the model to an allowed format such as safetensors, or change the policy.",
            severity=Severity.high,
        ),
    )
}

_STAGE_RULE_MODULES = (
    "mlsecops.stages.models.rules",
    "mlsecops.stages.deps.rules",
    "mlsecops.stages.fuzz.rules",
    "mlsecops.stages.assess.rules",
)


def catalog() -> dict[str, Rule]:
    """Every static rule: the gate's own plus each installed stage's."""
    rules = {**GATE_RULES, **MODELS_POLICY_RULES}
    for name in _STAGE_RULE_MODULES:
        try:
            module = import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        rules.update(getattr(module, "RULES", {}))
    return rules


def rule_for(finding: Finding, rules: dict[str, Rule]) -> Rule:
    """The rule a finding points at; built from the finding when none is registered."""
    rule = rules.get(finding.rule_id)
    if rule is not None:
        return rule
    return Rule(
        id=finding.rule_id,
        name=finding.rule_id.lower(),
        short=finding.message.splitlines()[0][:200] if finding.message else finding.rule_id,
        full=finding.message or finding.rule_id,
        help=finding.fix or "See the finding's message.",
        severity=finding.severity,
        help_uri=finding.help_uri or DOCS,
    )
