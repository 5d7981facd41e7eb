"""The assess stage: each model the policy declares, run on the repository's data, head against base.

An entry is assessed when its model or its data changed (every entry with
`--all` or without `--base`). The model's format is recognised by content in
the gate; a pickle is refused before anything could load it (MLS405). The
head model (full scope: metrics, per-group table, robustness) and the base
commit's model (metrics and per-group table, for `max_drop`) run in one
sandboxed worker on the same data, unless the cache already has their results.
The whole stage shares one wall-clock budget (`assess.budget_seconds`); an
entry that does not fit is a stage error, never a silent pass. The stage never
decides pass or fail: `bounds` turns results into findings.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

from mlsecops import install
from mlsecops.changes.artifact import Changeset
from mlsecops.context import Context
from mlsecops.findings import Finding, Stage, StageError, StageResult
from mlsecops.stages.assess import bounds, cache, formats, sandboxed, sources
from mlsecops.stages.assess.job import Job, ModelInput, ModelResult, Role, Scope
from mlsecops.stages.assess.policy import AssessPolicy, ModelEntry
from mlsecops.stages.assess.rules import SAFE_FORMATS
from mlsecops.stages.fuzz import sandbox

def _install_hint() -> str:
    return f"{install.for_version(extra='assess').pip} (the container image includes it)"

NEEDS = {"onnx": ["onnxruntime"], "skops": ["skops"], "xgboost-json": ["xgboost"], "xgboost-ubj": ["xgboost"],
         "lightgbm-text": ["lightgbm"]}
BASE_NEEDS = ["pandas", "sklearn", "fairlearn", "fastparquet"]
MIN_SECONDS = 3.0


def missing_modules(names: list[str]) -> list[str]:
    return [n for n in names if importlib.util.find_spec(n) is None]


def run(changeset: Changeset, context: Context) -> StageResult:
    policy = context.policy.assess
    result = StageResult(stage=Stage.assess, stats={"models": 0})
    report: list[dict[str, Any]] = []
    result.details = {"models": report}  # type: ignore[dict-item]
    if not policy.models:
        context.progress("assess: the policy declares no assess.models, nothing to assess")
        return result
    if not sys.platform.startswith("linux"):
        result.errors.append(StageError(stage=Stage.assess, message="MLS405 the assess stage runs models in the fuzz "
                                        "stage's sandbox, which needs Linux; run it in the container or on a Linux runner"))
        return result
    end = time.monotonic() + policy.budget_seconds
    store = cache.AssessCache(context.cache_dir)
    work = Path(context.workdir) / "assess"
    assessed = metrics = rows = skipped = 0
    with sandbox.StageGuard():
        for i, entry in enumerate(policy.models):
            if changeset.mode == "diff" and not (sources.changed(changeset, entry.path)
                                                  or sources.changed(changeset, entry.data)):
                skipped += 1
                report.append({"path": entry.path, "data": entry.data, "status": "unchanged",
                               "notes": ["neither the model nor its data changed: not assessed"]})
                continue
            one = _assess(entry, changeset, context, policy, store, work / f"{i:03d}", end)
            result.findings += one.findings
            result.errors += one.errors
            report.append(one.report)
            if one.report.get("status") == "assessed":
                assessed += 1
                metrics += len(entry.metrics)
                rows += int(one.report.get("rows") or 0)
    result.stats = {"models": assessed, "metrics": metrics, "rows": rows, "cached": store.hits}
    if skipped:
        result.stats["unchanged"] = skipped
    return result


class _One:
    def __init__(self, entry: ModelEntry) -> None:
        self.verdicts = bounds.Verdicts(entry)
        self.report: dict[str, Any] = {"path": entry.path, "data": entry.data, "status": "not assessed", "notes": []}

    @property
    def findings(self) -> list[Finding]:
        return self.verdicts.findings

    @property
    def errors(self) -> list[StageError]:
        return self.verdicts.errors

    def fail(self, message: str) -> _One:
        self.verdicts.error(message)
        self.report["notes"].append(f"MLS405 {message}")
        return self


def _assess(entry: ModelEntry, changeset: Changeset, context: Context, policy: AssessPolicy,
            store: cache.AssessCache, home: Path, end: float) -> _One:
    one = _One(entry)
    notes: list[str] = one.report["notes"]
    try:
        head = sources.head(changeset, entry.path, home, policy.max_model_mb)
        data = sources.head(changeset, entry.data, home, policy.max_data_mb)
    except (sources.SourceError, OSError) as exc:
        return one.fail(f"{exc}")
    try:
        fmt = formats.model_format(head.file, entry.path.rsplit("/", 1)[-1])
        data_fmt = formats.data_format(data.file)
    except formats.Refused as exc:
        return one.fail(f"{entry.path} {exc}. {SAFE_FORMATS}")
    except OSError as exc:
        return one.fail(f"{entry.path} cannot be read: {exc}")
    one.report["format"] = fmt
    base_src, base_note = sources.base(changeset, entry.path, home, policy.max_model_mb)
    base_fmt = None
    if base_src is not None:
        try:
            base_fmt = formats.model_format(base_src.file, entry.path.rsplit("/", 1)[-1])
        except (formats.Refused, OSError) as exc:
            base_src, base_note = None, f"the base version {exc}"
    needs = BASE_NEEDS + NEEDS[fmt] + (NEEDS[base_fmt] if base_fmt else [])
    if entry.robustness.black_box is not None:
        needs.append("art")
    lacking = missing_modules(list(dict.fromkeys(needs)))
    if lacking:
        return one.fail(f"the assess stage needs {', '.join(lacking)}, which is not installed: {_install_hint()}")
    wanted: list[tuple[Role, sources.Source, str, Scope]] = [("head", head, fmt, "full")]
    if base_src is not None and base_fmt is not None:
        wanted.append(("base", base_src, base_fmt, "metrics"))
    results: dict[Role, ModelResult] = {}
    keys: dict[Role, str] = {}
    for role, src, f, scope in wanted:
        keys[role] = cache.key(src.content_id, f, data.content_id, entry, scope, policy.trusted_types)
        hit = store.get(keys[role], role)
        if hit is not None:
            results[role] = hit
    todo = [w for w in wanted if w[0] not in results]
    if todo:
        left = end - time.monotonic()
        if left < MIN_SECONDS:
            return one.fail(f"not assessed: the stage's budget (assess.budget_seconds = {policy.budget_seconds:.0f}) "
                            "is used up")
        context.progress(f"assess: {entry.path} on {entry.data}: running {', '.join(w[0] for w in todo)} model(s) "
                         f"in the sandbox (up to {left:.0f}s)")
        ran = _sandboxed(entry, policy, todo, data, data_fmt, home, left)
        if ran.results is not None and ran.results.error:
            return one.fail(f"{entry.data}: {ran.results.error}")
        got = {r.role: r for r in (ran.results.results if ran.results else [])}
        for role, *_ in todo:
            r = got.get(role)
            complete = ran.clean or (r is not None and _finished_before(ran.inflight, role))
            if r is not None and complete:
                results[role] = r
                store.put(keys[role], r)
            elif r is not None and ran.inflight.startswith(f"{role}:edge_values:"):
                results[role] = r
                bounds.edge_crash(one.verdicts, ran.inflight.rsplit(":", 1)[-1], ran.how())
            else:
                step = ran.inflight.split(":", 1)[-1] if ran.inflight.startswith(f"{role}:") else ran.inflight or "start-up"
                msg = f"the evaluation of the {role} model did not finish ({ran.how()} during {step})"
                results[role] = ModelResult(role=role, error=msg)
    h = results["head"]
    if h.error:
        return one.fail(f"{entry.path}: {h.error}")
    b = results.get("base")
    if b is not None and b.error:
        base_note = f"the base model could not be assessed: {b.error}"
        b = None
    one.report.update(_model_report(entry, h, b, base_note))
    one.report["metrics"] = bounds.judge_metrics(one.verdicts, h, b, base_note)
    one.report["robustness"] = bounds.judge_robustness(one.verdicts, h)
    if base_note:
        notes.append(base_note + ("; max_drop bounds not checked" if any(
            m.max_drop is not None for m in entry.metrics.values()) else ""))
    notes.extend(h.notes[:5])
    return one


def _finished_before(inflight: str, role: Role) -> bool:
    """The worker moved past `role` (it was running the next model, or was done) before it stopped."""
    return inflight == "done" or (inflight.startswith("base:") and role == "head")


def _sandboxed(entry: ModelEntry, policy: AssessPolicy, todo: list[tuple[Role, sources.Source, str, Scope]],
               data: sources.Source, data_fmt: formats.DataFormat, home: Path, left: float) -> sandboxed.Outcome:
    box = home / "sandbox"
    inputs = []
    for role, src, f, scope in todo:
        suffix = {"xgboost-json": ".json", "xgboost-ubj": ".ubj", "onnx": ".onnx", "skops": ".skops"}.get(f, ".txt")
        copy = sources.copy_into(src.file, box / f"model-{role}{suffix}")
        inputs.append(ModelInput(role=role, file=str(copy), format=f, scope=scope))  # type: ignore[arg-type]
    data_copy = sources.copy_into(data.file, box / f"data.{data_fmt}")
    job = Job(data=str(data_copy), data_format=data_fmt, entry=entry, models=inputs, out=str(box / "results.json"),
              inflight=str(box / "inflight.txt"), max_rows=policy.max_rows, entry_trusted=policy.trusted_types)
    return sandboxed.run(job, box, max(1.0, left - 1.0), policy.memory_mb)


def _model_report(entry: ModelEntry, h: ModelResult, b: ModelResult | None, base_note: str) -> dict[str, Any]:
    groups: dict[str, Any] = {}
    if h.groups:
        groups = {"columns": h.group_columns, "head": [g.model_dump() for g in h.groups],
                  "base": [g.model_dump() for g in b.groups] if b is not None else [],
                  "truncated": h.groups_truncated}
    return {"status": "assessed", "task": h.task, "rows": h.rows, "classes": h.classes[:20],
            "base": "assessed" if b is not None else (base_note or "none"), "groups": groups,
            "seconds": round(h.seconds + (b.seconds if b is not None else 0.0), 3)}
