"""Triage: frames from faulthandler dumps, stable signatures, CASR-style classes and severities."""

from __future__ import annotations

import signal

from mlsecops.stages.fuzz import faults, triage
from mlsecops.stages.fuzz.outcome import FrameInfo, Outcome
from mlsecops.stages.fuzz.policy import FuzzPolicy

DUMP = """Fatal Python error: Segmentation fault

Current thread 0x00007f0f (most recent call first):
  File "/venv/lib/python3.11/site-packages/onnx/checker.py", line 179 in check_model
  File "/tmp/w/lib/mlsecops/stages/fuzz/loaders.py", line 70 in _onnx
  File "/tmp/w/runs/abc/run0/repo/pkg/mod.py", line 12 in parse
  File "<frozen runpy>", line 88 in _run_code

Thread 0x00007f10 (most recent call first):
  File "/usr/lib/python3.11/threading.py", line 320 in wait
"""


def test_dumped_frames_are_normalized_and_ours_are_dropped():
    frames = triage.dumped_frames(DUMP, [r"^/tmp/w/.*?/repo/"])
    assert [f"{f.file}:{f.func}" for f in frames] == ["pkg/mod.py:parse", "onnx/checker.py:check_model"]


def test_signature_ignores_line_numbers_and_policy_sets_python_severity():
    a = Outcome(status="exception", target="numpy", exc_type="IndexError",
                frames=[FrameInfo(file="numpy/lib/format.py", line=10, func="read_array")])
    b = a.model_copy(update={"frames": [FrameInfo(file="numpy/lib/format.py", line=99, func="read_array")]})
    policy = FuzzPolicy(python_exception_severity="high")
    ta, tb = triage.from_outcome(a, policy, harness=False), triage.from_outcome(b, policy, harness=False)
    assert ta is not None and tb is not None and ta.signature == tb.signature
    assert ta.severity == "high" and ta.rule_id == "MLS301"
    assert triage.from_outcome(Outcome(status="rejected", target="numpy"), policy, False) is None


def test_signals_map_to_casr_like_classes_without_a_debugger():
    policy = FuzzPolicy()
    segv = triage.from_death("signal", "onnx", DUMP, policy, [], signal.SIGSEGV)
    assert (segv.kind, segv.rule_id, segv.severity) == ("memory-fault", "MLS302", "high")
    abort = triage.from_death("signal", "torch", "terminate called after throwing", policy, [], signal.SIGABRT)
    assert (abort.kind, abort.rule_id, abort.severity) == ("abort", "MLS303", "medium")
    heap = triage.from_death("signal", "h5py", "free(): invalid pointer\n", policy, [], signal.SIGABRT)
    assert (heap.kind, heap.severity) == ("memory-fault", "high")
    smash = triage.from_death("signal", "h5py", "*** stack smashing detected ***: terminated", policy, [], signal.SIGABRT)
    assert smash.severity == "critical"
    hang = triage.from_death("hang", "h5py", "", policy, [])
    assert (hang.rule_id, hang.severity) == ("MLS304", "medium")


GDB = """Program received signal SIGSEGV, Segmentation fault.
0x00007ffff7978f35 in ?? ()
$1 = 11
$2 = (void *) {addr}
$3 = {pc}
$4 = 0x7fffffffe000
=> {pc}:\t{insn}
"""


def test_gdb_output_gives_the_fault_class():
    write_null = faults.parse_gdb(GDB.format(addr="0x10", pc="0x7ffff7978f35", insn="mov    %ecx,(%rdi)"), 11)
    assert write_null is not None and (write_null.casr, write_null.severity, write_null.access) == ("DestAvNearNull", "high", "write")
    write_far = faults.parse_gdb(GDB.format(addr="0x55550000", pc="0x7ffff7978f35", insn="mov    %ecx,(%rdi)"), 11)
    assert write_far is not None and write_far.severity == "critical"
    read = faults.parse_gdb(GDB.format(addr="0x10", pc="0x7ffff7978f35", insn="mov    (%rdi),%ecx"), 11)
    assert read is not None and (read.casr, read.severity) == ("SourceAvNearNull", "medium")
    pc = faults.parse_gdb(GDB.format(addr="0x4141414141", pc="0x4141414141", insn="mov (%rax),%rax"), 11)
    assert pc is not None and (pc.casr, pc.severity) == ("SegFaultOnPc", "critical")
    call = faults.parse_gdb(GDB.format(addr="0x20", pc="0x7ffff7978f35", insn="call   *0x18(%rax)"), 11)
    assert call is not None and call.casr == "BranchAv"


def _unreplayed_group(tmp_path, replay_kind: str | None, seconds_left: float = 60):  # type: ignore[no-untyped-def]
    import time as _time

    from mlsecops.stages.fuzz import investigate
    from mlsecops.stages.fuzz.policy import FuzzPolicy
    from mlsecops.stages.fuzz.runner import RawCrash, TargetRun
    from mlsecops.stages.fuzz.session import Replay
    from mlsecops.stages.fuzz.targets import Target

    crash_input = tmp_path / "in.bin"
    crash_input.write_bytes(b"x")
    raw = RawCrash(kind="exit", input=crash_input, target="safetensors", returncode=1, stderr="", rng_seed=1)
    calls: list[bytes] = []

    class Replayer:
        per_input = 0.1

        def run(self, data: bytes, name: str) -> Replay:
            calls.append(data)
            return Replay(kind=replay_kind) if replay_kind else Replay(kind="error", message="out of time")

    target = Target(kind="loader", key="m.safetensors#loader", path="m.safetensors", source=crash_input, loaders=["safetensors"], rng_seed=1)
    where = investigate.Where(root=tmp_path, workdir=tmp_path, policy=FuzzPolicy(), deadline=_time.monotonic() + seconds_left,
                              base_tree=lambda: None)
    found = investigate._group(target, TargetRun(crashes=[raw]), Replayer(), where)  # type: ignore[arg-type]
    return found, calls


def test_a_crash_that_does_not_replay_is_unconfirmed_with_both_runs_evidence(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A worker death the replay cannot reproduce (load, a deadline kill) must not read as a library crash."""
    from mlsecops.stages.fuzz import report

    [found], calls = _unreplayed_group(tmp_path, "ok")
    assert calls == [b"x"]
    assert found.reproducible is False
    assert "ran without error" in found.replay_note
    note = report.unconfirmed([found])
    assert note.message.startswith(report.UNCONFIRMED) and "ran without error" in note.message
    assert any("exit" in e for e in note.evidence) and any("ran without error" in e for e in note.evidence)


def test_a_crash_that_could_not_be_replayed_is_not_confirmed_either(tmp_path) -> None:  # type: ignore[no-untyped-def]
    [found], _ = _unreplayed_group(tmp_path, None)
    assert found.reproducible is None and "could not run" in found.replay_note
    [late], calls = _unreplayed_group(tmp_path, "ok", seconds_left=1)  # no time left to replay at all
    assert not calls and late.reproducible is None and "not replayed" in late.replay_note


def test_a_crash_the_replay_reproduces_is_confirmed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    [found], _ = _unreplayed_group(tmp_path, "exit")
    assert found.reproducible is True and not found.replay_note
