"""From raw crashes to findings-to-be: replay, deduplicate, minimize, classify, compare with base.

For one target: every raw crash is replayed in a fresh sandboxed session and
only a crash the replay reproduces is confirmed (`reproducible`); one that
replays cleanly, or could not be replayed in time, stays unconfirmed with the
evidence of both runs, and the stage reports it as a note, never as a crash.
Confirmed crashes are grouped by signature, and each group's input is
minimized with ddmin while it keeps the signature.
Fatal signals are replayed under gdb when it is installed (CASR class). Then
the base check: the minimized input on the base version of the harness (and
the code it imports), the base version of the model file itself for a crash of
the unmodified file, or the same change transplanted onto the base version for
a crash of a mutant. The same signature there means the crash is pre-existing.
Each step stops at the deadline; what is left undone is said in the result.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from mlsecops.stages.fuzz import faults, minimize, sandbox
from mlsecops.stages.fuzz.job import Job
from mlsecops.stages.fuzz.policy import FuzzPolicy
from mlsecops.stages.fuzz.runner import RawCrash, TargetRun
from mlsecops.stages.fuzz.session import Replay, Session, SessionSpec
from mlsecops.stages.fuzz.targets import Target
from mlsecops.stages.fuzz.triage import Triaged, from_death, from_outcome, libfuzzer_report, with_fault

SLOW_KINDS = ("hang", "oom")
DETAILED_EXCEPTIONS = 3  # per loader: the rest are reported but not minimized or compared with base


class Found(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    target: Target
    triaged: Triaged
    data: bytes
    original_size: int
    minimized: bool = False
    reproducible: bool | None = None
    pre_existing: bool | None = None
    base_note: str = ""
    count: int = 1
    rng_seed: int = 0
    seed_level: bool = False
    replay_note: str = Field(default="", description="what the confirming replay saw, when it did not reproduce")


class Where(BaseModel):
    """Where the stage works and what it may spend."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    root: Path
    workdir: Path
    policy: FuzzPolicy
    deadline: float
    base_tree: Callable[[], Path | None] = Field(exclude=True)

    def strip(self) -> list[str]:
        return [rf"^{re.escape(str(self.workdir))}/.*?/repo/", rf"^{re.escape(str(self.workdir))}/base-tree/",
                rf"^{re.escape(str(self.root))}/"]


def session_spec(target: Target, root: Path, model: Path | None = None) -> SessionSpec:
    if target.kind == "harness":
        return SessionSpec(kind="harness", repo_root=root, harness=target.path, packages=target.packages)
    if target.kind == "inference":
        return SessionSpec(kind="inference", model=model or target.source)
    return SessionSpec(kind="loader", loaders=target.loaders)


def _replay_name(target: Target, raw: RawCrash) -> str:
    if target.kind == "harness":
        return "harness"
    return "onnxruntime" if target.kind == "inference" else raw.target


def triage_replay(r: Replay, name: str, where: Where, harness: bool) -> Triaged | None:
    if r.outcome is not None:
        return from_outcome(r.outcome, where.policy, harness)
    if r.kind in ("signal", "hang", "oom", "exit"):
        return from_death(r.kind, name, r.stderr, where.policy, where.strip(), r.signal, r.returncode, r.message)
    return None


def _from_raw(raw: RawCrash, name: str, where: Where, harness: bool) -> Triaged | None:
    if raw.outcome is not None:
        return from_outcome(raw.outcome, where.policy, harness)
    if raw.kind == "libfuzzer":
        return libfuzzer_report(raw.stderr, where.policy, where.strip())
    kind = {"signal": "signal", "hang": "hang", "oom": "oom", "exit": "exit"}.get(raw.kind)
    if kind is None:
        return None
    return from_death(kind, name, raw.stderr, where.policy, where.strip(), raw.signal, raw.returncode, raw.detail)


def _group(target: Target, run: TargetRun, session: Session, where: Where) -> list[Found]:
    """One group per signature. A crash whose raw signature is already grouped is only counted;
    the others are replayed (when time allows: a native crash costs a worker restart)."""
    groups: dict[str, Found] = {}
    harness = target.kind == "harness"
    for raw in sorted(run.crashes, key=lambda r: (not r.seed_level, r.kind in SLOW_KINDS)):
        try:
            data = raw.input.read_bytes()
        except OSError:
            continue
        name = _replay_name(target, raw)
        early = _from_raw(raw, name, where, harness)
        if early is not None and early.signature in groups:
            groups[early.signature].count += 1
            continue
        triaged, reproducible, note = None, None, ""
        left = where.deadline - time.monotonic()
        slow_ok = not any(g.triaged.kind == raw.kind for g in groups.values()) and left > session.per_input + 1.5
        start_cost = 0.6 if getattr(session, "warm", False) else 2.0
        if left > start_cost and (raw.kind not in SLOW_KINDS or slow_ok):
            replay = session.run(data, name)
            if replay.kind == "error":
                note = f"the replay could not run: {replay.message or 'the sandbox failed'}"
            else:
                triaged = triage_replay(replay, name, where, harness)
                reproducible = triaged is not None
                if triaged and early and triaged.kind in SLOW_KINDS and early.kind in SLOW_KINDS:
                    # Exhaustion confirmed; whether the limit that stops it is time or memory
                    # depends on the machine's load, so the fuzzing run's reading stays.
                    triaged = early
                if triaged is None:
                    note = f"replayed in a fresh sandbox, the input {_clean_result(replay.kind)}"
        else:
            note = "not replayed: the budget's triage reserve ran out" if left <= start_cost else \
                "not replayed: one slow crash of this kind is replayed per target"
        if not reproducible:
            # Not confirmed: flaky, environmental (a worker killed at the deadline, a resource limit
            # hit by load), or no time to replay. Kept with the evidence, reported as a note only.
            triaged = early or _unread(raw, name, where)
            if triaged.severity == "off":
                continue
            key = "unconfirmed|" + triaged.signature
        else:
            assert triaged is not None
            if triaged.severity == "off":
                continue
            key = triaged.signature
        if key in groups:
            groups[key].count += 1
            continue
        groups[key] = Found(target=target, triaged=triaged, data=data, original_size=len(data),
                            reproducible=reproducible, rng_seed=raw.rng_seed, replay_note=note,
                            seed_level=raw.seed_level or raw.base_level,
                            pre_existing=True if raw.base_level else None)
    return list(groups.values())


def _unread(raw: RawCrash, name: str, where: Where) -> Triaged:
    """A raw crash the fuzzer's own output does not explain (e.g. libFuzzer's "fuzz target exited"):
    still something to tell, with the line libFuzzer printed as its detail."""
    t = from_death("exit", name, raw.stderr, where.policy, where.strip(), None, raw.returncode)
    summary = next((ln.strip() for ln in raw.stderr.splitlines() if ln.startswith("SUMMARY:")), "")
    return t.model_copy(update={"detail": summary or raw.detail or t.detail})


def _clean_result(kind: str) -> str:
    return {"ok": "ran without error", "rejected": "was rejected cleanly (no crash)",
            "exception": "raised only an error the loader documents (no crash)"}.get(kind, f"ended as {kind!r}")


def _same(session: Session, name: str, where: Where, harness: bool, sig: str) -> Callable[[bytes], bool]:
    def test(data: bytes) -> bool:
        got = triage_replay(session.run(data, name), name, where, harness)
        return got is not None and got.signature == sig

    return test


def _fault(found: Found, where: Where, home: Path, name: str, until: float) -> None:
    t = found.triaged
    if t.kind not in ("memory-fault", "abort") or t.signal is None or not faults.available():
        return
    home.mkdir(parents=True, exist_ok=True)
    sandbox.prepare_home(home)
    (home / "input.bin").write_bytes(found.data)
    granted: list[str] = []
    job = Job(mode="once", kind=found.target.kind, out=str(home / "out"), loaders=found.target.loaders,
              memory_mb=where.policy.memory_mb, input=str(home / "input.bin"), target=name)
    if found.target.kind == "harness":
        view, granted = sandbox.repo_view(where.root, home)
        job.repo, job.harness, job.repo_real = str(view), str(view / found.target.path), str(where.root)
    elif found.target.kind == "inference" and found.target.source is not None:
        (home / "model.onnx").write_bytes(found.target.source.read_bytes())
        job.model = str(home / "model.onnx")
    (home / "job.json").write_text(job.model_dump_json())
    fault = faults.analyze(home / "job.json", home, where.policy, until - time.monotonic(), t.signal, granted)
    found.triaged = with_fault(t, fault)


def _base_check(found: Found, where: Where, home: Path, until: float, per_input: float) -> None:
    target = found.target
    if found.pre_existing is not None:
        return
    name = "harness" if target.kind == "harness" else found.triaged.target
    if target.kind == "harness":
        tree = where.base_tree()
        if tree is None or not (tree / target.path).is_file():
            found.pre_existing, found.base_note = False, "the harness does not exist on the base branch"
            return
        spec, data = session_spec(target, tree), found.data
    else:
        if target.base_source is None:
            found.pre_existing, found.base_note = False, "the file is new in this pull request"
            return
        base = target.base_source.read_bytes()
        if target.kind == "inference":
            spec, data = session_spec(target, where.root, model=target.base_source), found.data
        elif found.seed_level:
            spec, data = session_spec(target, where.root), base
        else:
            moved = minimize.transplant(target.source.read_bytes() if target.source else b"", found.data, base)
            if moved is None:
                found.base_note = "the change does not map onto the base version"
                return
            spec, data = session_spec(target, where.root), moved
    session = Session(spec, home, where.policy, until, per_input)
    try:
        replay = session.run(data, name)
    finally:
        session.close()
    if replay.kind == "error":
        found.base_note = "not compared with the base version (out of time)"
        return
    got = triage_replay(replay, name, where, target.kind == "harness")
    found.pre_existing = got is not None and got.signature == found.triaged.signature
    found.base_note = "same crash on the base version" if found.pre_existing else "no such crash on the base version"


_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


def _detailed(target: Target, found: list[Found]) -> list[Found]:
    """The groups worth minimizing and comparing with base: all but the tail of a loader's Python exceptions."""
    if target.kind == "harness":
        return found
    out, per_loader = [], {}  # type: ignore[var-annotated]
    for f in found:
        if f.triaged.kind == "python-exception":
            per_loader[f.triaged.target] = per_loader.get(f.triaged.target, 0) + 1
            if per_loader[f.triaged.target] > DETAILED_EXCEPTIONS:
                continue
        out.append(f)
    return out


def investigate(target: Target, run: TargetRun, where: Where, home: Path) -> list[Found]:
    session = Session(session_spec(target, where.root), home / "replay", where.policy, where.deadline, run.per_input)
    try:
        found = _group(target, run, session, where)
        found.sort(key=lambda f: (_RANK.get(f.triaged.severity, 9), f.triaged.signature))
        detailed = _detailed(target, [f for f in found if f.reproducible])
        for i, f in enumerate(detailed):
            share = max(0.0, (where.deadline - time.monotonic()) / (len(detailed) - i))
            name = "harness" if target.kind == "harness" else f.triaged.target
            if f.triaged.kind in ("memory-fault", "abort"):  # the fault class decides severity: gdb first
                _fault(f, where, home / f"gdb{i}", name, time.monotonic() + min(12.0, share * 0.5))
            if f.reproducible and not f.seed_level and f.triaged.kind not in SLOW_KINDS and share > 1:
                seed = target.source.read_bytes() if target.kind == "loader" and target.source else None
                small = minimize.minimize(f.data, seed, _same(session, name, where, target.kind == "harness",
                                                               f.triaged.signature), time.monotonic() + share * 0.4)
                f.minimized, f.data = len(small) < len(f.data) or small != f.data, small
            if time.monotonic() < where.deadline - 1:
                _base_check(f, where, home / f"base{i}", min(where.deadline, time.monotonic() + max(share * 0.25, 2)),
                            run.per_input)
    finally:
        session.close()
    return found
