"""One direction: context -> changeset -> stages -> findings -> policy -> verdict.

A stage that raises is reported as a stage error (and fails closed per policy),
never as a traceback that would hide what the other stages found. The gate's own
findings (the policy change, from `policy/source.py`) are one more result, stage
`gate`, whatever stages ran: reporters show it like a stage, with its own SARIF run.
"""

from __future__ import annotations

import os
import time
import traceback

from mlsecops.changes import changeset as changes
from mlsecops.changes.artifact import Changeset
from mlsecops.context import Context
from mlsecops.findings import STAGE_ORDER, Stage, StageError, StageResult
from mlsecops.policy.judge import judge
from mlsecops.stages.registry import runner
from mlsecops.verdict import Verdict


def build_changeset(context: Context) -> Changeset:
    return changes.build(
        context.root,
        context.workdir,
        base=context.base,
        head=context.head,
        all_files=context.all_files,
        include=context.policy.paths,
        exclude=context.policy.ignore,
        files=context.changed_files,
        generated=[context.policy.fuzz.corpus_dir, context.policy.fuzz.reproducers_dir],
    )


def run_stages(changeset: Changeset, context: Context) -> list[StageResult]:
    results: list[StageResult] = []
    for stage in STAGE_ORDER:
        if stage not in context.stages:
            continue
        started = time.monotonic()
        context.progress(f"{stage.value}: starting")
        try:
            result = runner(stage)(changeset, context)
        except Exception as exc:  # noqa: BLE001 - one stage must not take the others down
            if os.environ.get("MLSECOPS_DEBUG"):
                traceback.print_exc()
            result = StageResult(
                stage=stage,
                errors=[StageError(stage=stage, message=f"the {stage.value} stage crashed: {type(exc).__name__}: {exc}")],
            )
        result.stats["seconds"] = round(time.monotonic() - started, 3)
        context.progress(
            f"{stage.value}: {len(result.findings)} finding(s), {len(result.errors)} error(s) in {result.stats['seconds']:.1f}s"
        )
        results.append(result)
    results.append(gate_result(context))
    return results


def gate_result(context: Context) -> StageResult:
    """The gate's own findings, always present so its SARIF run (`mlsecops/gate/`) is always
    uploaded and code scanning closes an alert once its cause is gone."""
    findings = [f.model_copy(update={"stage": Stage.gate}) for f in context.policy_findings]
    return StageResult(stage=Stage.gate, findings=findings,
                       stats={"policy_changes": sum(1 for f in findings if f.rule_id == "MLS001")})


def scan(context: Context) -> tuple[Verdict, Changeset]:
    """Run the whole gate; raises ChangesetError for an unusable PATH or revision."""
    changeset = build_changeset(context)
    results = run_stages(changeset, context)
    verdict = judge(results, context.policy, context.today, context.policy_source)
    verdict.notes = [n for r in results for n in r.notes]
    verdict.mode = changeset.mode
    verdict.base = changeset.base
    verdict.head = changeset.head
    verdict.uri_prefix = changeset.prefix
    return verdict, changeset
