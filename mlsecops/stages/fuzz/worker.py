"""The sandboxed worker: runs inputs against one target and records what happened. Sandbox only.

`python -m mlsecops.stages.fuzz.worker JOB.json`, started by the jail. Modes:
`fuzz` mutates the seeds and corpus of a model file and feeds every mutant to
the format's safe loaders; `infer` runs an ONNX model on generated inputs;
`libfuzzer` hands a repository harness to atheris; `serve` runs inputs sent
on stdin one by one (triage, minimization, the base-version check); `once` runs
a single input (replays, and under gdb). Every input is written to the
in-flight file before it runs, so a fatal signal or a hang loses nothing. The
memory limit is set after the loaders are imported: the limit is headroom
above what the libraries themselves need.
"""

from __future__ import annotations

import faulthandler
import hashlib
import json
import os
import random
import re
import resource
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from mlsecops.stages.fuzz import heartbeat, mutators
from mlsecops.stages.fuzz.job import PROTOCOL, CrashMeta, Job, Request, WorkerStats
from mlsecops.stages.fuzz.outcome import Outcome, from_exception

MAX_CORPUS_ADD = 256
MAX_CRASHES = 32
MAX_POOL = 512
MIN_HANG = 2.0
HANG_FACTOR = 20


def cap_memory(memory_mb: int) -> None:
    """Soft RLIMIT_AS at current size plus `memory_mb`: big allocations fail with MemoryError."""
    vm_kb = 0
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                vm_kb = int(line.split()[1])
    limit = (vm_kb // 1024 + memory_mb) * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


class Runner:
    """Runs one input on one target (a loader, the harness, or the inference session)."""

    def __init__(self, job: Job, home: Path) -> None:
        self.job = job
        self.scratch = home / "scratch.bin"
        self.repos = [p for p in (job.repo, job.repo_real) if p]
        self.module: Any = None
        self.session: Any = None
        if job.kind == "harness":
            from mlsecops.stages.fuzz import harness_driver

            self.module = harness_driver.load(job, instrument=job.mode == "libfuzzer")
        elif job.kind == "inference":
            import onnxruntime as ort

            from mlsecops.stages.fuzz.loaders import session_options

            self.session = ort.InferenceSession(Path(job.model or "").read_bytes(), sess_options=session_options(),
                                                providers=["CPUExecutionProvider"])
        else:
            import importlib

            from mlsecops.stages.fuzz.loaders import LOADERS

            for name in job.loaders:
                importlib.import_module(LOADERS[name].module)

    def run(self, target: str, data: bytes) -> Outcome:
        started = time.perf_counter()
        try:
            outcome = self._run(target, data)
        except BaseException as exc:  # noqa: BLE001 - everything a target raises is evidence
            if isinstance(exc, KeyboardInterrupt):
                raise
            rejects: tuple[str, ...] = ()
            if self.job.kind != "harness":
                from mlsecops.stages.fuzz.loaders import LOADERS

                rejects = LOADERS["onnxruntime" if self.job.kind == "inference" else target].rejects
            outcome = from_exception(exc, target, self.repos, self.job.kind == "harness", rejects)
        outcome.seconds = round(time.perf_counter() - started, 6)
        return outcome

    def _run(self, target: str, data: bytes) -> Outcome:
        if self.job.kind == "harness":
            self.module.TestOneInput(data)
        elif self.job.kind == "inference":
            from mlsecops.stages.fuzz import inference

            feeds, ordinary = inference.from_npz(data)
            outputs = self.session.run(None, feeds)
            bad = inference.nonfinite_outputs(self.session, outputs) if ordinary else []
            if bad:
                return Outcome(status="nonfinite", target=target, message="output(s): " + ", ".join(bad))
        else:
            from mlsecops.stages.fuzz.loaders import LOADERS

            LOADERS[target].run(data, self.scratch)
        return Outcome(status="ok", target=target)


class Recorder:
    """Keeps new crashes and new behaviours (corpus) on disk, and the counters."""

    def __init__(self, out: Path) -> None:
        self.out = out
        (out / "crashes").mkdir(parents=True, exist_ok=True)
        (out / "corpus").mkdir(parents=True, exist_ok=True)
        self.stats = WorkerStats()
        self.features: set[tuple[str, ...]] = set()
        self.crashes: set[tuple[str, ...]] = set()
        self.last_flush = 0.0
        self.started = time.monotonic()

    def note(self, outcome: Outcome, data: bytes, parent: int, iteration: int) -> bool:
        """Record the outcome; True when it showed a behaviour not seen before (a corpus entry)."""
        self.stats.rejected += outcome.status == "rejected"
        self.stats.ok += outcome.status == "ok"
        inner = outcome.frames[-1] if outcome.frames else None
        feature = (outcome.target, outcome.status, outcome.exc_type or "", inner.file if inner else "",
                   inner.func if inner else "", re.sub(r"\d+", "#", outcome.message[:60]))
        new = feature not in self.features
        if new:
            self.features.add(feature)
            if self.stats.corpus_added < MAX_CORPUS_ADD and parent != heartbeat.NO_PARENT:
                (self.out / "corpus" / hashlib.sha1(data).hexdigest()).write_bytes(data)
                self.stats.corpus_added += 1
        if outcome.status in ("exception", "memory", "nonfinite"):
            sig = (outcome.target, outcome.status, outcome.exc_type or "", *[f"{f.file}:{f.func}" for f in outcome.frames[-3:]])
            if sig not in self.crashes and len(self.crashes) < MAX_CRASHES:
                self.crashes.add(sig)
                key = hashlib.sha1("\x1f".join(sig).encode()).hexdigest()[:16]
                (self.out / "crashes" / f"{key}.bin").write_bytes(data)
                meta = CrashMeta(outcome=outcome, parent=parent, iteration=iteration)
                (self.out / "crashes" / f"{key}.json").write_text(meta.model_dump_json())
                self.stats.crashes += 1
                if self.stats.first_crash_seconds is None:
                    self.stats.first_crash_seconds = round(time.monotonic() - self.started, 3)
        return new and outcome.status in ("ok", "rejected")

    def flush(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last_flush > 0.5:
            self.last_flush = now
            tmp = self.out / "stats.json.tmp"
            tmp.write_text(self.stats.model_dump_json())
            os.replace(tmp, self.out / "stats.json")


def _read_inputs(paths: list[str], folder: str | None, limit: int) -> list[bytes]:
    files = [Path(p) for p in paths]
    if folder and Path(folder).is_dir():
        files += sorted(p for p in Path(folder).iterdir() if p.is_file())
    return [p.read_bytes()[:limit] for p in files if p.is_file()]


def fuzz(job: Job, home: Path) -> None:
    """Seeds unmutated first (a file that itself crashes a loader is found at once), then mutants."""
    recorder = Recorder(Path(job.out))
    runner = Runner(job, home)
    cap_memory(job.memory_mb)
    beat = heartbeat.Writer(home / "inflight.bin")
    rng = random.Random(job.rng_seed)
    seeds = _read_inputs(job.seeds, None, job.max_len)
    pool = seeds + _read_inputs([], job.corpus, job.max_len)
    deadline = job.deadline
    initial = len(pool)
    iteration = 0
    while time.time() < deadline and pool:
        if iteration < initial:
            parent, data = iteration, pool[iteration]
        else:
            from_seed = seeds and (rng.random() < 0.5 or len(pool) == len(seeds))
            parent = rng.randrange(len(seeds)) if from_seed else rng.randrange(len(pool))
            data = mutators.mutate(rng, job.format, pool[parent], pool)[: job.max_len]
        beat.begin(data, 0, parent if iteration >= len(seeds) else heartbeat.NO_PARENT)
        for slot, name in enumerate(job.loaders):
            if slot:
                beat.slot(slot)
            outcome = runner.run(name, data)
            if iteration < len(seeds):
                recorder.stats.seed_seconds = max(recorder.stats.seed_seconds, outcome.seconds)
            derived = parent if iteration >= len(seeds) else heartbeat.NO_PARENT
            if recorder.note(outcome, data, derived, iteration) and iteration >= initial and len(pool) < MAX_POOL:
                pool.append(data)
        beat.idle()  # nothing in flight while the next mutant is made: a failure there is the worker's, not a loader's
        iteration += 1
        if iteration == len(seeds):
            beat.set_timeout(min(job.exec_timeout, max(MIN_HANG, HANG_FACTOR * recorder.stats.seed_seconds)))
        recorder.stats.executions = iteration
        recorder.flush()
    beat.idle()
    recorder.flush(force=True)


def infer(job: Job, home: Path) -> None:
    from mlsecops.stages.fuzz import inference

    recorder = Recorder(Path(job.out))
    try:
        runner = Runner(job, home)
    except Exception as exc:  # noqa: BLE001 - the model may not load; that is the loader fuzzer's business
        recorder.stats.error = f"the runtime refused the model: {type(exc).__name__}: {str(exc)[:200]}"
        recorder.flush(force=True)
        return
    cap_memory(job.memory_mb)
    beat = heartbeat.Writer(home / "inflight.bin")
    rng = random.Random(job.rng_seed)
    deadline = job.deadline
    while time.time() < deadline:
        made = inference.feeds(runner.session, rng)
        if made is None:
            recorder.stats.error = "the model has inputs of a type the fuzzer does not generate (sequence, map, bfloat16)"
            break
        feeds, ordinary = made
        data = inference.to_npz(feeds, ordinary)
        beat.begin(data)
        outcome = runner.run("onnxruntime", data)
        beat.idle()  # as in fuzz(): making the next feeds is the worker's work, not the runtime's
        recorder.note(outcome, data, heartbeat.NO_PARENT, recorder.stats.executions)
        recorder.stats.executions += 1
        if recorder.stats.executions <= 3:
            recorder.stats.seed_seconds = max(recorder.stats.seed_seconds, outcome.seconds)
            beat.set_timeout(min(job.exec_timeout, max(MIN_HANG, HANG_FACTOR * recorder.stats.seed_seconds)))
        recorder.flush()
    beat.idle()
    recorder.flush(force=True)


def _protocol_stream() -> Any:
    """Our replies get the real stdout; anything the target prints (fd 1 included) goes to stderr."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    return proto


def serve(job: Job, home: Path) -> None:
    proto = _protocol_stream()
    runner = Runner(job, home)
    if job.kind != "harness":
        cap_memory(job.memory_mb)
    beat = heartbeat.Writer(home / "inflight.bin")
    proto.write(PROTOCOL + json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        req = Request.model_validate_json(line)
        data = Path(req.input).read_bytes()
        beat.begin(data, 0, heartbeat.NO_PARENT)
        outcome = runner.run(req.target, data)
        beat.idle()
        proto.write(PROTOCOL + outcome.model_dump_json() + "\n")


def once(job: Job, home: Path) -> None:
    proto = _protocol_stream()
    runner = Runner(job, home)
    if job.kind != "harness":
        cap_memory(job.memory_mb)
    data = Path(job.input or "").read_bytes()
    heartbeat.Writer(home / "inflight.bin").begin(data)
    outcome = runner.run(job.target or "", data)
    proto.write(PROTOCOL + outcome.model_dump_json() + "\n")


def main(argv: list[str]) -> int:
    faulthandler.enable(all_threads=True)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # the jail asks for a stack before killing a hang
    warnings.simplefilter("ignore")
    job = Job.model_validate_json(Path(argv[0]).read_bytes())
    home = Path.cwd()
    if job.mode == "libfuzzer":
        from mlsecops.stages.fuzz import harness_driver

        harness_driver.fuzz(job, home)
    else:
        {"fuzz": fuzz, "infer": infer, "serve": serve, "once": once}[job.mode](job, home)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
