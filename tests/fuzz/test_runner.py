"""The runner's accounting of a sandbox run that the jail killed (no sandbox needed: the run is simulated)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mlsecops.stages.fuzz import heartbeat, runner, sandbox
from mlsecops.stages.fuzz.job import WorkerStats
from mlsecops.stages.fuzz.policy import FuzzPolicy
from mlsecops.stages.fuzz.spec import JailSpec, JailStatus
from mlsecops.stages.fuzz.targets import Target


@pytest.mark.parametrize("loaders", [["onnx"], ["onnx", "onnxruntime"]])
def test_a_run_killed_by_a_hang_counts_every_input_it_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              loaders: list[str]) -> None:
    """The worker writes its stats file every half second, so a run killed mid-input would lose
    the executions since the last write; the heartbeat counts every input before running it."""
    started_inputs = 500
    src = tmp_path / "m.onnx"
    src.write_bytes(b"\x08\x07" + bytes(30))
    target = Target(kind="loader", path="m.onnx", key="loader:m.onnx", format="onnx", loaders=loaders,
                    source=src, size=32, rng_seed=1)

    def killed_mid_input(spec: JailSpec) -> tuple[JailStatus, str]:
        home = tmp_path / "work" / "run0"
        beat = heartbeat.Writer(home / "inflight.bin")
        for i in range(started_inputs):
            beat.begin(b"input-%d" % i)
            if i < started_inputs - 1:  # the last input hangs in the first loader
                for slot in range(1, len(loaders)):
                    beat.slot(slot)
        (home / "out").mkdir(exist_ok=True)
        (home / "out" / "stats.json").write_text(WorkerStats(executions=1, ok=1).model_dump_json())  # a stale write
        return JailStatus(reason="hang", message="one input ran longer than 2.0s"), ""

    monkeypatch.setattr(sandbox, "run", killed_mid_input)
    # 2.9 s: room for one run (a run needs 1.5 s left to start) and not for a second (3 s after a
    # crash), whatever the machine's speed: the faked run takes no time.
    run = runner.run_target(target, tmp_path / "work", FuzzPolicy(), time.monotonic() + 2.9, [], tmp_path)
    assert run.runs == 1
    assert run.executions == started_inputs
    assert [c.kind for c in run.crashes] == ["hang"]
    assert run.crashes[0].target == "onnx"
    assert run.crashes[0].input.read_bytes() == b"input-%d" % (started_inputs - 1)
