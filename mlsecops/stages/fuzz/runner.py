"""Fuzz one target for its time slice, in the sandbox, and collect what it found.

A slice may take several sandbox runs: a worker that dies from a signal, hangs
or blows its memory limit ends its run, the input it was on is read back from
the in-flight file and becomes a raw crash, and a new run continues with the
next RNG seed until the slice is used up. Python-level crashes are collected
from the files the worker wrote. Nothing here interprets a crash; `triage`
does. Corpus entries the runs found are handed back for `corpus` to keep.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from mlsecops.stages.fuzz import heartbeat, sandbox
from mlsecops.stages.fuzz.job import CrashMeta, Job, WorkerStats
from mlsecops.stages.fuzz.outcome import Outcome
from mlsecops.stages.fuzz.policy import FuzzPolicy
from mlsecops.stages.fuzz.spec import JailStatus, Limits
from mlsecops.stages.fuzz.targets import Target

MAX_RUNS = 12
MAX_HARNESS_CRASH_RUNS = 3
MIN_RUN = 1.5
RawKind = Literal["exception", "memory", "nonfinite", "signal", "hang", "oom", "exit", "libfuzzer"]


class RawCrash(BaseModel):
    kind: RawKind
    input: Path
    target: str = Field(description="the loader, or 'harness' / 'onnxruntime'")
    outcome: Outcome | None = None
    signal: int | None = None
    returncode: int | None = None
    stderr: str = ""
    seed_level: bool = Field(default=False, description="the unmodified head file itself")
    base_level: bool = Field(default=False, description="the unmodified base version itself")
    rng_seed: int = 0
    detail: str = ""


class TargetRun(BaseModel):
    executions: int = 0
    crashes: list[RawCrash] = Field(default_factory=list)
    corpus: list[Path] = Field(default_factory=list)
    error: str | None = None
    note: str | None = None
    network_isolated: bool = False
    landlock_abi: int = 0
    runs: int = 0
    first_crash_after: float | None = Field(default=None, description="seconds from the target's start")
    per_input: float = Field(default=10.0, description="the per-input time limit the runs used")


def limits(policy: FuzzPolicy, seconds: float) -> Limits:
    return Limits(memory_mb=policy.memory_mb + 1024, address_space_mb=policy.memory_mb * 2 + 4096,
                  cpu_seconds=int(seconds * 2 + 10))


def _copy_inputs(files: list[Path], dest: Path) -> list[str]:
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for i, src in enumerate(files):
        target = dest / f"{i:04d}"
        shutil.copyfile(src, target)
        out.append(str(target))
    return out


def exec_timeout(policy: FuzzPolicy, slice_seconds: float) -> float:
    """Per-input limit: the policy's, but short enough that a hang shows up inside a short slice."""
    return min(policy.exec_timeout_seconds, max(2.0, slice_seconds / 3))


def _job(target: Target, home: Path, policy: FuzzPolicy, rng_seed: int, end: float, corpus: list[Path],
         repo: tuple[Path, Path] | None, per_input: float) -> Job:
    """The work order for one sandbox run; `repo` is (repository root, its view) for a harness."""
    repo_view = repo[1] if repo else None
    seeds = [p for p in (target.source, target.base_source) if p is not None]
    out = str(home / "out")
    if target.kind == "harness":
        rel = target.path
        args = [f"-artifact_prefix={out}/", f"-max_total_time={max(1, int(end - time.time() - 1))}",
                f"-seed={rng_seed % (2**32 - 1) + 1}", f"-rss_limit_mb={policy.memory_mb}",
                f"-timeout={max(1, int(per_input))}", "-print_final_stats=1", "-handle_usr1=0",
                str(home / "corpus")]
        _copy_inputs(corpus, home / "corpus")
        seed_dir = (repo_view or home) / (str(Path(rel).with_suffix("")) + "_seed_corpus")
        if seed_dir.is_dir():
            args.append(str(seed_dir))
        dictionary = (repo_view or home) / str(Path(rel).with_suffix(".dict"))
        if dictionary.is_file():
            args.insert(0, f"-dict={dictionary}")
        return Job(mode="libfuzzer", kind="harness", out=out, repo=str(repo_view), harness=str((repo_view or home) / rel),
                   repo_real=str(repo[0]) if repo else None, instrument=target.packages,
                   libfuzzer_args=args, rng_seed=rng_seed, deadline=end, memory_mb=policy.memory_mb)
    copied = _copy_inputs(seeds, home / "seeds")
    corpus_in = home / "corpus-in"
    _copy_inputs(corpus, corpus_in)
    if target.kind == "inference":
        return Job(mode="infer", kind="inference", out=out, model=copied[0], loaders=["onnxruntime"],
                   rng_seed=rng_seed, deadline=end, memory_mb=policy.memory_mb, format=target.format,
                   exec_timeout=per_input)
    max_len = max([target.size, *(p.stat().st_size for p in seeds)]) * 2 + 4096
    return Job(mode="fuzz", kind="loader", out=out, format=target.format, loaders=target.loaders, seeds=copied,
               corpus=str(corpus_in), rng_seed=rng_seed, deadline=end, memory_mb=policy.memory_mb, max_len=max_len,
               exec_timeout=per_input)


def _python_crashes(out: Path, target: Target, rng_seed: int, n_seeds: int) -> list[RawCrash]:
    found = []
    for meta_path in sorted((out / "crashes").glob("*.json")):
        try:
            meta = CrashMeta.model_validate_json(meta_path.read_bytes())
        except (OSError, ValueError):
            continue
        kind: RawKind = meta.outcome.status if meta.outcome.status in ("exception", "memory", "nonfinite") else "exception"  # type: ignore[assignment]
        it = meta.iteration
        found.append(RawCrash(kind=kind, input=meta_path.with_suffix(".bin"), target=meta.outcome.target, outcome=meta.outcome,
                              rng_seed=rng_seed, seed_level=it == 0 and n_seeds > 0,
                              base_level=it == 1 and n_seeds > 1))
    return found


def _libfuzzer_artifacts(out: Path, rng_seed: int, stderr: str) -> list[RawCrash]:
    found = []
    for art in sorted(out.glob("*-*")):
        prefix = art.name.split("-", 1)[0]
        kind: RawKind = {"crash": "libfuzzer", "timeout": "hang", "oom": "oom"}.get(prefix, "libfuzzer")  # type: ignore[assignment]
        if prefix in ("crash", "timeout", "oom", "leak"):
            found.append(RawCrash(kind=kind, input=art, target="harness", stderr=stderr, rng_seed=rng_seed,
                                  detail=f"libFuzzer {prefix}"))
    return found


def _slots(target: Target) -> list[str]:
    """What runs each input, in heartbeat slot order: every loader, else the harness or the inference session."""
    if target.kind == "loader":
        return target.loaders
    return ["harness" if target.kind == "harness" else "onnxruntime"]


def _inflight_crash(home: Path, status: JailStatus, target: Target, stderr: str, rng_seed: int) -> RawCrash | None:
    got = heartbeat.last_input(home / "inflight.bin", 1 << 30)
    if got is None:
        return None
    beat, data = got
    if beat.state != heartbeat.BUSY:
        return None
    path = home / "inflight-crash.bin"
    path.write_bytes(data)
    names = _slots(target)
    name = names[beat.slot] if beat.slot < len(names) else names[0]
    if status.reason == "signaled":
        kind: RawKind = "signal"
    elif status.reason == "hang":
        kind = "hang"
    elif status.reason in ("memory", "processes"):
        kind = "oom"
    elif status.reason == "exited" and status.returncode:
        kind = "exit"
    else:
        return None
    n_seeds = len([p for p in (target.source, target.base_source) if p is not None])
    seed_level = target.kind == "loader" and beat.counter <= len(names) and n_seeds > 0
    return RawCrash(kind=kind, input=path, target=name, signal=status.signal, returncode=status.returncode,
                    stderr=stderr, rng_seed=rng_seed, seed_level=seed_level, detail=status.message)


def _unattributed(status: JailStatus, target: Target, stderr: str, rng_seed: int, home: Path) -> RawCrash | None:
    """A harness killed for memory or processes between inputs (or with the in-flight file gone)."""
    if target.kind != "harness" or status.reason not in ("memory", "processes", "hang"):
        return None
    path = home / "unknown-input.bin"
    path.write_bytes(b"")
    return RawCrash(kind="hang" if status.reason == "hang" else "oom", input=path, target="harness", stderr=stderr,
                    rng_seed=rng_seed, detail=status.message)


def run_target(target: Target, workroot: Path, policy: FuzzPolicy, deadline: float, corpus: list[Path],
               repo_root: Path) -> TargetRun:
    """Fuzz until `deadline` (time.monotonic()), restarting after crashes."""
    result = TargetRun()
    started = time.monotonic()
    per_input = exec_timeout(policy, deadline - started)
    result.per_input = per_input
    crash_runs = 0
    while result.runs < MAX_RUNS:
        remaining = deadline - time.monotonic()
        if remaining < (MIN_RUN if result.runs == 0 else 3.0):
            break
        home = workroot / f"run{result.runs}"
        home.mkdir(parents=True, exist_ok=True)
        rng_seed = target.rng_seed + result.runs
        view, granted = (sandbox.repo_view(repo_root, home) if target.kind == "harness" else (None, []))
        job = _job(target, home, policy, rng_seed, time.time() + remaining - 0.3, corpus,
                   (repo_root, view) if view else None, per_input)
        run_started = time.monotonic()
        (home / "job.json").write_text(job.model_dump_json())
        spec = sandbox.build_spec(sandbox.worker_argv(str(home / "job.json")), home, remaining + 1.0,
                                  limits(policy, remaining), idle_timeout=per_input + 1,
                                  extra_read=granted)
        status, stderr = sandbox.run(spec)
        result.runs += 1
        result.network_isolated = status.network_isolated
        result.landlock_abi = status.landlock_abi
        out = home / "out"
        stats = _stats(out)
        n_seeds = len(job.seeds)
        beat = _beat(home)
        if target.kind == "harness":
            result.executions += beat.counter if beat else 0
            found = _libfuzzer_artifacts(out, rng_seed, stderr)
        else:
            result.executions += max(stats.executions, _inputs_begun(beat, len(_slots(target))))
            found = _python_crashes(out, target, rng_seed, n_seeds)
        if stats.error:
            result.error = stats.error if target.kind != "inference" else None
            result.note = stats.error if target.kind == "inference" else None
            break
        native = None if found and target.kind == "harness" else _inflight_crash(home, status, target, stderr, rng_seed)
        if native is None and not found:
            native = _unattributed(status, target, stderr, rng_seed, home)
        if native is not None:
            found.append(native)
        elif status.reason == "spawn-failed" or (status.reason == "exited" and status.returncode and not found):
            result.error = f"the sandboxed worker failed ({status.message or f'exit {status.returncode}'}): {stderr[-300:].strip()}"
            break
        result.crashes.extend(found)
        if found and result.first_crash_after is None:
            inside = stats.first_crash_seconds if stats.first_crash_seconds is not None and not native else None
            base = run_started - started
            result.first_crash_after = round(base + inside if inside is not None else time.monotonic() - started, 2)
        crash_runs += bool(found)
        result.corpus.extend(sorted((out / "corpus").glob("*")) if (out / "corpus").is_dir() else [])
        if target.kind == "harness":
            result.corpus.extend(_new_files(home / "corpus"))
        if not found or (target.kind == "harness" and crash_runs >= MAX_HARNESS_CRASH_RUNS):
            break
        if target.kind == "harness" and any(c.kind == "hang" for c in found):
            # Not restarted: the next run most likely hangs again (a whole per-input limit each
            # time), and confirming this hang needs a replay as long; the time goes to triage.
            break
    return result


def _stats(out: Path) -> WorkerStats:
    try:
        return WorkerStats.model_validate_json((out / "stats.json").read_bytes())
    except (OSError, ValueError):
        return WorkerStats()


def _beat(home: Path) -> heartbeat.Beat | None:
    try:
        with (home / "inflight.bin").open("rb") as fh:
            return heartbeat.read_beat(fh.fileno())
    except OSError:
        return None


def _inputs_begun(beat: heartbeat.Beat | None, slots: int) -> int:
    """Inputs the worker started, the one in flight included. The worker's stats file is
    written every half second, so a run killed by a hang or a fatal signal would lose the
    executions since; the heartbeat counts every input (and every further loader on it)
    before running it."""
    if beat is None:
        return 0
    return -(-beat.counter // max(1, slots))


def _new_files(folder: Path) -> list[Path]:
    """Units libFuzzer added (it names them by SHA-1; the ones we copied in are numbered)."""
    if not folder.is_dir():
        return []
    return [p for p in sorted(folder.iterdir()) if p.is_file() and not p.name.isdigit()]
