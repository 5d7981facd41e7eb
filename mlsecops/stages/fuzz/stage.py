"""The fuzz stage: spend a fixed wall-clock budget fuzzing what the pull request changed.

Targets come from `targets.select`; the budget is split in two: a fuzzing
window (targets run in parallel lanes, one per core, each target an equal
slice), and a triage reserve (replay, dedup, minimize, gdb, base check). Every
sandbox run has a deadline inside the budget and the jail a hard kill behind
it, so the stage ends within the budget plus a few seconds whatever the
targets do. Then reproducers are written, the corpus is saved and pruned, and
findings and counters are returned. The stage never decides pass or fail.
"""

from __future__ import annotations

import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

from mlsecops.changes.artifact import Changeset
from mlsecops.context import Context
from mlsecops.findings import Stage, StageError, StageResult, fingerprint
from mlsecops.stages.fuzz import baseline, corpus, report, reproducers, sandbox, storage, targets
from mlsecops.stages.fuzz.investigate import Found, Where, investigate
from mlsecops.stages.fuzz.runner import TargetRun, run_target

MIN_SLICE = 2.0
HEAVY_SLICE = 3.5  # importing torch alone takes about 2 s
CLEANUP = 1.0


def triage_reserve(budget: float) -> float:
    """Time kept for triage. A crash is reported only once a replay confirms it, and replaying
    a hang costs one per-input limit (at least 2 s) plus a worker start: hence at least 4.5 s."""
    return min(max(4.5, budget * 0.25), 20.0)


def plan(items: list[targets.Target], window: float, lanes: int) -> tuple[list[list[targets.Target]], float, list[targets.Target]]:
    """Round-robin lanes, the slice each target gets, and the targets that do not fit."""
    lanes = max(1, min(lanes, len(items)))
    fit = max(lanes, lanes * int(window // MIN_SLICE)) if window >= MIN_SLICE else lanes
    kept, dropped = items[:fit], items[fit:]
    waves = max(1, math.ceil(len(kept) / lanes))
    return [kept[i::lanes] for i in range(lanes)], window / waves, dropped


def schedule(items: list[targets.Target], window: float, lanes: int) -> tuple[list[list[targets.Target]], float, list[targets.Target]]:
    """`plan`, but a slice too short to even import torch is not given to a torch target."""
    planned = plan(items, window, lanes)
    heavy = [t for t in items if "torch" in t.loaders]
    if planned[1] >= HEAVY_SLICE or not heavy:
        return planned
    light = [t for t in items if "torch" not in t.loaders]
    if not light:
        return planned
    lanes_, slice_s, dropped = plan(light, window, lanes)
    return lanes_, slice_s, dropped + heavy


def _sandbox_note(runs: list[TargetRun]) -> str:
    runs = [r for r in runs if r.runs]
    if not runs:
        return "not run"
    net = all(r.network_isolated for r in runs)
    abi = min(r.landlock_abi for r in runs)
    parts = ["own session, rlimits, scrubbed environment, wall-clock kill"]
    parts.append("network namespace" if net else "no network namespace")
    parts.append(f"Landlock ABI {abi}" if abi else "no Landlock")
    return ", ".join(parts)


def run(changeset: Changeset, context: Context) -> StageResult:
    result = StageResult(stage=Stage.fuzz, stats={"targets": 0, "executions": 0, "crashes": 0})
    policy = context.policy.fuzz
    budget = context.effective_fuzz_budget
    if budget <= 0:
        context.progress("fuzz: budget is 0 s, nothing fuzzed")
        return result
    if not sys.platform.startswith("linux"):
        result.errors.append(StageError(stage=Stage.fuzz, message="the fuzz stage's sandbox needs Linux (/proc, "
                                        "rlimits, namespaces, Landlock); run it in the container or on a Linux runner"))
        return result
    end = time.monotonic() + budget
    work = Path(context.workdir) / "fuzz"
    work.mkdir(parents=True, exist_ok=True)
    selection = targets.select(changeset, policy, work)
    for note in selection.notes:
        context.progress(f"fuzz: {note.path}: {note.message}")
    result.notes.extend(selection.notes)
    result.errors.extend(selection.errors)
    if not selection.targets:
        context.progress("fuzz: no changed model file or harness to fuzz")
        return result
    fuzz_end = end - triage_reserve(budget)
    lanes, slice_s, dropped = schedule(selection.targets, fuzz_end - time.monotonic(), context.jobs or os.cpu_count() or 1)
    for t in dropped:
        context.progress(f"fuzz: {t.key}: not fuzzed, the budget is too small for this many (or this slow) targets")
    kept = [t for lane in lanes for t in lane]
    context.progress(f"fuzz: {len(kept)} target(s), {slice_s:.1f}s each, {len(lanes)} at a time, budget {budget:.0f}s")
    with sandbox.StageGuard(), ThreadPoolExecutor(max_workers=len(lanes)) as pool:
        runs = _fuzz(pool, lanes, slice_s, fuzz_end, changeset, context, work)
        where = Where(root=changeset.root, workdir=work, policy=policy, deadline=end - CLEANUP,
                      base_tree=lru_cache(maxsize=1)(lambda: baseline.python_tree(changeset, work / "base-tree", end - CLEANUP)))
        found = _triage(pool, [t for t in kept if runs[t.key].crashes], len(lanes), runs, where, work)
    note = _sandbox_note(list(runs.values()))
    context.progress(f"fuzz: sandbox: {note}")
    _report(found, changeset, context, note, result)
    _errors(kept, runs, result)
    _save_corpus(kept, runs, changeset, context)
    result.stats = {"targets": len(kept), "executions": sum(r.executions for r in runs.values()),
                    "crashes": len(result.findings)}
    unconfirmed = sum(1 for f in found if not f.reproducible)
    if unconfirmed:
        result.stats["unconfirmed"] = unconfirmed
    if dropped:
        result.stats["skipped"] = len(dropped)
    return result


def _fuzz(pool: ThreadPoolExecutor, lanes: list[list[targets.Target]], slice_s: float, fuzz_end: float,
          changeset: Changeset, context: Context, work: Path) -> dict[str, TargetRun]:
    """Each lane runs its targets one after the other, each until its slice ends."""
    policy = context.policy.fuzz
    runs: dict[str, TargetRun] = {}

    def lane(items: list[targets.Target]) -> None:
        lane_start = time.monotonic()
        for k, t in enumerate(items):
            deadline = min(fuzz_end, lane_start + slice_s * (k + 1))
            try:
                r = run_target(t, work / "runs" / _slug(t.key), policy, deadline,
                               corpus.load(changeset.root, policy.corpus_dir, t), changeset.root)
            except Exception as exc:  # noqa: BLE001 - one target's failure is that target's error
                r = TargetRun(error=f"fuzzing failed: {type(exc).__name__}: {exc}")
            runs[t.key] = r
            first = f", first after {r.first_crash_after:.1f}s" if r.first_crash_after is not None else ""
            context.progress(f"fuzz: {t.key}: {r.executions} executions, {len(r.crashes)} crash input(s){first}")

    list(pool.map(lane, lanes))
    return runs


def _triage(pool: ThreadPoolExecutor, crashed: list[targets.Target], lanes: int, runs: dict[str, TargetRun],
            where: Where, work: Path) -> list[Found]:
    """Investigate the targets that crashed, in parallel lanes, sharing the time left fairly."""

    def lane(items: list[targets.Target]) -> list[Found]:
        out: list[Found] = []
        for k, t in enumerate(items):
            share_end = time.monotonic() + (where.deadline - time.monotonic()) / (len(items) - k)
            try:
                out += investigate(t, runs[t.key], where.model_copy(update={"deadline": share_end}),
                                   work / "triage" / _slug(t.key))
            except Exception as exc:  # noqa: BLE001 - keep the other targets' findings
                runs[t.key].error = f"triage failed: {type(exc).__name__}: {exc}"
        return out

    found: list[Found] = []
    for part in pool.map(lane, [crashed[i::lanes] for i in range(lanes)]):
        found.extend(part)
    return found


def _slug(key: str) -> str:
    return fingerprint("slug", key)[:16]


def _report(found: list[Found], changeset: Changeset, context: Context, note: str, result: StageResult) -> None:
    policy = context.policy.fuzz
    seen: set[str] = set()
    grouped: dict[tuple[str, str], list[tuple[Found, str | None, str | None]]] = {}
    unconfirmed: dict[tuple[str, str], list[Found]] = {}
    for f in sorted(found, key=lambda f: (f.target.path, f.triaged.signature)):
        fp = fingerprint(f.triaged.rule_id, f.target.path, f.triaged.signature)
        if fp in seen:
            continue
        seen.add(fp)
        if not f.reproducible:
            unconfirmed.setdefault((f.target.path, f.triaged.target), []).append(f)
            continue
        rel = command = None
        meta = {"rule": f.triaged.rule_id, "signature": f.triaged.signature, "kind": f.triaged.kind,
                "loader": f.triaged.target, "fuzz_seed": f.rng_seed, "minimized": f.minimized}
        try:
            rel, command = reproducers.save(changeset.root, policy.reproducers_dir, f.target, f.triaged.rule_id, fp, f.data, meta)
        except (storage.UnsafeFolder, OSError) as exc:
            result.errors.append(StageError(stage=Stage.fuzz, path=f.target.path,
                                            message=f"could not keep the reproducer: {exc}"))
        if f.target.kind != "harness" and f.triaged.kind == "python-exception":
            grouped.setdefault((f.target.path, f.triaged.target), []).append((f, rel, command))
        else:
            result.findings.append(report.finding(f, rel, command, note))
    for items in grouped.values():
        result.findings.append(report.grouped_exceptions(items, note))
    for same in unconfirmed.values():
        result.notes.append(report.unconfirmed(same))


def _errors(kept: list[targets.Target], runs: dict[str, TargetRun], result: StageResult) -> None:
    for t in kept:
        r = runs.get(t.key)
        if r is not None and r.error:
            result.errors.append(StageError(stage=Stage.fuzz, path=t.path, message=f"could not fuzz {t.kind} target: {report.clean(r.error, 500)}"))


def _save_corpus(kept: list[targets.Target], runs: dict[str, TargetRun], changeset: Changeset, context: Context) -> None:
    policy = context.policy.fuzz
    try:
        for t in kept:
            r = runs.get(t.key)
            if r is not None:
                corpus.save(changeset.root, policy.corpus_dir, t, r.corpus)
        corpus.prune(changeset.root, policy.corpus_dir, policy.corpus_max_mb)
    except (storage.UnsafeFolder, OSError) as exc:
        context.progress(f"fuzz: corpus not saved: {exc}")
