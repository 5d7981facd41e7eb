"""The assess stage: each model the policy declares, run on the repository's data, head against base.

An entry is assessed when its model or its data changed (every entry with
`--all` or without `--base`). The model's format is recognised by content in
the gate; a pickle, or an ONNX model that reads external files, is refused
before anything could load it (MLS405). The head model (full scope: metrics,
per-group table, robustness) and the base commit's model (metrics and per-group
table, for `max_drop`) run in one sandboxed worker on the same data, unless the
cache already has their results. When the pull request changed the data too,
both run again on the base commit's version of it and every bound must hold
there as well: the data a change brings cannot vouch for the model it brings.
The whole stage shares one wall-clock budget (`assess.budget_seconds`); an
entry that does not fit is a stage error, never a silent pass. The stage never
decides pass or fail: `bounds` turns results into findings.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlsecops import install
from mlsecops.changes import git
from mlsecops.changes.artifact import Changeset
from mlsecops.context import Context
from mlsecops.findings import Finding, Stage, StageError, StageResult
from mlsecops.stages.assess import bounds, cache, formats, sandboxed, sources
from mlsecops.stages.assess.formats import ModelFormat
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
            report.extend(one.more)
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
        self.more: list[dict[str, Any]] = []  # the same models on the base commit's version of the data
        self.on_base_data: bounds.Verdicts | None = None

    @property
    def findings(self) -> list[Finding]:
        return self.verdicts.findings + (self.on_base_data.findings if self.on_base_data else [])

    @property
    def errors(self) -> list[StageError]:
        return self.verdicts.errors + (self.on_base_data.errors if self.on_base_data else [])

    def fail(self, message: str) -> _One:
        self.verdicts.error(message)
        self.report["notes"].append(f"MLS405 {message}")
        return self


@dataclass
class _Models:
    """The head model and, when the base commit has a safe version of it, the base model."""

    head: sources.Source
    fmt: ModelFormat
    base: sources.Source | None
    base_fmt: ModelFormat | None
    base_note: str


def _assess(entry: ModelEntry, changeset: Changeset, context: Context, policy: AssessPolicy,
            store: cache.AssessCache, home: Path, end: float) -> _One:
    one = _One(entry)
    notes: list[str] = one.report["notes"]
    files = home / "files"
    try:
        head = sources.head(changeset, entry.path, files / "head-model", policy.max_model_mb)
        data = sources.head(changeset, entry.data, files / "head-data", policy.max_data_mb)
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
    base_src, base_note = sources.base(changeset, entry.path, files / "base-model", policy.max_model_mb)
    base_fmt = None
    if base_src is not None:
        try:
            base_fmt = formats.model_format(base_src.file, entry.path.rsplit("/", 1)[-1])
        except (formats.Refused, OSError) as exc:
            base_src, base_note = None, f"the base version {exc}"
    try:
        base_data = sources.base_version(changeset, entry.data, files / "base-data", policy.max_data_mb)
        base_data_fmt = formats.data_format(base_data.file) if base_data is not None else None
    except (sources.SourceError, git.GitError, OSError) as exc:
        return one.fail(f"the base commit's version of {entry.data} cannot be read, so what this change does to it "
                        f"cannot be judged: {exc}")
    data_is_new = base_data is None and sources.base_commit(changeset)[0] is not None
    if base_data is not None and base_data.content_id == data.content_id:
        base_data = None  # the data did not change: one evaluation
    needs = BASE_NEEDS + NEEDS[fmt] + (NEEDS[base_fmt] if base_fmt else [])
    if entry.robustness.black_box is not None:
        needs.append("art")
    lacking = missing_modules(list(dict.fromkeys(needs)))
    if lacking:
        return one.fail(f"the assess stage needs {', '.join(lacking)}, which is not installed: {_install_hint()}")
    models = _Models(head=head, fmt=fmt, base=base_src if base_fmt else None, base_fmt=base_fmt, base_note=base_note)
    run_one = _Run(entry, policy, store, context, end)
    if not run_one.evaluate(one.verdicts, one.report, models, data, data_fmt, "full", home / "sandbox"):
        return one
    if base_data is None:
        if data_is_new:
            notes.insert(0, f"{entry.data} is new in this change: there is no earlier version to check the bounds on")
        return one
    one.on_base_data = bounds.Verdicts(entry, f"{entry.data} at the base commit", "|base-data")
    more: dict[str, Any] = {"path": entry.path, "data": f"{entry.data} (base commit's version)",
                            "status": "not assessed", "notes": []}
    one.more.append(more)
    assert base_data_fmt is not None
    run_one.evaluate(one.on_base_data, more, models, base_data, base_data_fmt, "metrics", home / "sandbox-base-data")
    notes.insert(0, f"{entry.data} changed in this change ({more.get('rows', '?')} rows at the base commit, "
                 f"{one.report.get('rows', '?')} now): every bound is also checked on the base commit's version")
    return one


class _Run:
    """Evaluations of one entry's models: from the cache, else in the sandbox, within the stage's budget."""

    def __init__(self, entry: ModelEntry, policy: AssessPolicy, store: cache.AssessCache, context: Context,
                 end: float) -> None:
        self.entry, self.policy, self.store, self.context, self.end = entry, policy, store, context, end

    def _key(self, src: sources.Source, fmt: str, data: sources.Source, scope: Scope) -> str:
        return cache.key(src.content_id, fmt, data.content_id, self.entry, scope, self.policy.trusted_types,
                         self.policy.max_rows)

    def _cached(self, src: sources.Source, fmt: str, data: sources.Source, scope: Scope, role: Role) -> ModelResult | None:
        hit = self.store.get(self._key(src, fmt, data, scope), role)
        if hit is None and scope == "metrics":
            hit = self.store.get(self._key(src, fmt, data, "full"), role)  # a full result holds the metrics too
        return hit

    def evaluate(self, v: bounds.Verdicts, report: dict[str, Any], models: _Models, data: sources.Source,
                 data_fmt: formats.DataFormat, head_scope: Scope, box: Path) -> bool:
        """Run (or fetch) the models on one version of the data and judge them into `v` and `report`."""
        entry = self.entry
        notes: list[str] = report["notes"]

        def fail(message: str) -> bool:
            v.error(message)
            notes.append(f"MLS405 {message}")
            return False

        same = models.base is not None and models.base.content_id == models.head.content_id
        wanted: list[tuple[Role, sources.Source, str, Scope]] = [("head", models.head, models.fmt, head_scope)]
        if models.base is not None and models.base_fmt is not None and not same:
            wanted.append(("base", models.base, models.base_fmt, "metrics"))
        results: dict[Role, ModelResult] = {}
        for role, src, f, scope in wanted:
            hit = self._cached(src, f, data, scope, role)
            if hit is not None:
                results[role] = hit
        todo = [w for w in wanted if w[0] not in results]
        crashes: list[tuple[str, str]] = []
        if todo:
            left = self.end - time.monotonic()
            if left < MIN_SECONDS:
                return fail(f"not assessed on {v.data}: the stage's budget (assess.budget_seconds = "
                            f"{self.policy.budget_seconds:.0f}) is used up")
            self.context.progress(f"assess: {entry.path} on {v.data}: running {', '.join(w[0] for w in todo)} model(s) "
                                  f"in the sandbox (up to {left:.0f}s)")
            ran = _sandboxed(entry, self.policy, todo, data, data_fmt, box, left)
            if ran.results is not None and ran.results.error:
                return fail(f"{v.data}: {ran.results.error}")
            got = {r.role: r for r in (ran.results.results if ran.results else [])}
            for role, src, f, scope in todo:
                r = got.get(role)
                complete = ran.clean or (r is not None and _finished_before(ran.inflight, role))
                if r is not None and complete:
                    results[role] = r
                    self.store.put(self._key(src, f, data, scope), r)
                elif r is not None and ran.inflight.startswith(f"{role}:edge_values:"):
                    results[role] = r
                    crashes.append((ran.inflight.rsplit(":", 1)[-1], ran.how()))
                else:
                    step = ran.inflight.split(":", 1)[-1] if ran.inflight.startswith(f"{role}:") else ran.inflight or "start-up"
                    msg = f"the evaluation of the {role} model did not finish ({ran.how()} during {step})"
                    results[role] = ModelResult(role=role, error=msg)
        h = results["head"]
        if h.error:
            return fail(f"{entry.path} on {v.data}: {h.error}" if v.tag else f"{entry.path}: {h.error}")
        for kind, how in crashes:
            bounds.edge_crash(v, kind, how)
        b = h.model_copy(update={"role": "base"}) if same else results.get("base")
        base_note, base_failed = models.base_note, ""
        if b is not None and b.error:
            base_failed = f"the base model could not be assessed: {b.error}"
            b = None
        report["status"] = "assessed"
        report.update(_model_report(h, b, base_failed or base_note))
        report["metrics"] = bounds.judge_metrics(v, h, b, base_note, base_failed)
        report["robustness"] = bounds.judge_robustness(v, h)
        if base_failed or base_note:
            notes.append((base_failed or base_note) + ("; max_drop bounds not checked" if any(
                m.max_drop is not None for m in entry.metrics.values()) else ""))
        notes.extend(h.notes[:5])
        return True


def _finished_before(inflight: str, role: Role) -> bool:
    """The worker moved past `role` (it was running the next model, or was done) before it stopped."""
    return inflight == "done" or (inflight.startswith("base:") and role == "head")


_SUFFIX = {"xgboost-json": ".json", "xgboost-ubj": ".ubj", "onnx": ".onnx", "skops": ".skops", "lightgbm-text": ".txt"}


def _sandboxed(entry: ModelEntry, policy: AssessPolicy, todo: list[tuple[Role, sources.Source, str, Scope]],
               data: sources.Source, data_fmt: formats.DataFormat, box: Path, left: float) -> sandboxed.Outcome:
    """One job: each model alone in its own folder (nothing beside it for a runtime to open), the data in another."""
    inputs = []
    for role, src, f, scope in todo:
        copy = sources.copy_into(src.file, box / role / f"model{_SUFFIX[f]}")
        inputs.append(ModelInput(role=role, file=str(copy), format=f, scope=scope))  # type: ignore[arg-type]
    data_copy = sources.copy_into(data.file, box / "data" / f"data.{data_fmt}")
    job = Job(data=str(data_copy), data_format=data_fmt, entry=entry, models=inputs, out=str(box / "results.json"),
              inflight=str(box / "inflight.txt"), max_rows=policy.max_rows, entry_trusted=policy.trusted_types)
    return sandboxed.run(job, box, max(1.0, left - 1.0), policy.memory_mb)


def _model_report(h: ModelResult, b: ModelResult | None, base_note: str) -> dict[str, Any]:
    groups: dict[str, Any] = {}
    if h.groups:
        groups = {"columns": h.group_columns, "head": [g.model_dump() for g in h.groups],
                  "base": [g.model_dump() for g in b.groups] if b is not None else [],
                  "truncated": h.groups_truncated}
    return {"task": h.task, "rows": h.rows, "classes": h.classes[:20],
            "base": "assessed" if b is not None else (base_note or "none"), "groups": groups,
            "seconds": round(h.seconds + (b.seconds if b is not None else 0.0), 3)}
