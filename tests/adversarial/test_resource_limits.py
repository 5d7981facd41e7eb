"""Resource attacks: bombs, floods, huge and special files. Each is answered by a finding
(or a skip, for files that are not files) within the policy's per-file limits, and the
malicious pickle beside it is still found: one hostile file cannot blind the scan.

The CLI runs as in CI (a child process, workers and all); its wall time and peak RSS
(over the CLI and every worker, from wait4) are checked against the limits. The attacks are
bounded by size, member, depth and memory limits, not by time: the per-file deadline of these
policies only has to let them finish, so it is stretched (as is the start-up allowance) by the
machine's measured slowdown (tests/load.py); memory limits are never stretched. The same
catalogue at full size, timed, is `benchmarks/adversarial.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.adversarial.catalogue import ATTACKS, Attack
from tests.adversarial.conftest import SENTINEL
from tests.adversarial.harness import policy_file, run_gate
from tests.load import slowdown

STARTUP_SECONDS = 20  # interpreter, imports and worker start-up on an idle CI machine, with room
PARENT_MB = 400       # the CLI process itself (pydantic, jinja2, the changeset)


def _params() -> list[object]:
    return [pytest.param(a, id=a.name, marks=[pytest.mark.slow] if a.slow else []) for a in ATTACKS]


@pytest.mark.parametrize("attack", _params())
def test_attack_is_answered_within_limits_and_the_scan_goes_on(attack: Attack, workspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = workspace({})
    if not attack.build(root, False):
        pytest.skip(f"{attack.name} cannot be built here (needs privileges or sparse files)")
    factor = slowdown()
    limits = {**attack.limits, "timeout_seconds": attack.limits["timeout_seconds"] * factor}
    policy = policy_file(tmp_path / "policy", **limits)
    run = run_gate(root, tmp_path / "out", policy=policy, timeout=limits["timeout_seconds"] + 60 * factor)
    assert not run.timed_out, f"{attack.name}: the gate hung"
    assert run.report is not None, run.stderr[-2000:]
    assert run.blocked(SENTINEL), f"{attack.name} blinded the scan: {run.findings} {run.errors}"
    assert not [e for e in run.errors if not e.get("path")], f"a stage crashed: {run.errors}"
    assert run.code == 1, (run.code, run.stderr[-1000:])
    if attack.expect.startswith("MLS"):
        assert attack.expect in run.rules_for(attack.target), (run.findings, run.errors)
        assert run.blocked(attack.target)
    elif attack.expect == "skipped":
        assert not run.rules_for(attack.target) and not run.errored(attack.target)
    assert run.seconds < limits["timeout_seconds"] + STARTUP_SECONDS * factor, f"{attack.name} took {run.seconds:.1f}s"
    assert run.max_rss_mb < max(limits["memory_mb"], PARENT_MB), f"{attack.name} peaked at {run.max_rss_mb:.0f} MiB"


def test_a_worker_over_its_deadline_is_stopped_and_the_rest_is_scanned(workspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A per-file deadline shorter than the file needs: an error (fail closed), the other file found."""
    from tests.adversarial import attacks as A

    root = workspace({"flood.pkl": A.opcode_flood(10_000_000)})
    # The flood needs ~3 s of CPU at best, so it overruns 1 s on any machine; the sentinel's scan
    # takes milliseconds once its worker is ready (start-up is not charged to a file).
    policy = policy_file(tmp_path / "policy", timeout_seconds=1, memory_mb=768)
    run = run_gate(root, tmp_path / "out", policy=policy, timeout=60 * slowdown())
    assert run.blocked(SENTINEL)
    assert any("longer than the 1s per-file limit" in e["message"] for e in run.errors if e["path"] == "flood.pkl"), run.errors


def test_a_worker_over_its_memory_limit_dies_alone(workspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """256 MiB is too little for a memo of 4M entries: that file is an error, the other one is found."""
    from tests.adversarial import attacks as A

    root = workspace({"memo.pkl": A.memo_flood(4_000_000)})
    factor = slowdown()
    policy = policy_file(tmp_path / "policy", timeout_seconds=60 * factor, memory_mb=256)
    run = run_gate(root, tmp_path / "out", policy=policy, timeout=120 * factor)
    assert run.blocked(SENTINEL)
    assert run.errored("memo.pkl") or run.blocked("memo.pkl"), (run.findings, run.errors)
    assert run.max_rss_mb < PARENT_MB


def test_a_large_data_only_pickle_fits_the_smallest_memory_limit(workspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Regression: the C-speed data-only proof ran one regex match over 4 MiB windows, which costs
    ~50x in `re`'s backtracking state (520 MiB for a 10 MB pickle); a benign 20 MB list of small
    ints then failed closed under `memory_mb: 256`, the smallest the policy allows."""
    import struct

    body = b"](" + b"".join(b"K" + bytes([i]) for i in range(256)) * 40_000 + b"e"  # 10M opcodes, 20 MB
    root = workspace({"ids.pkl": b"\x80\x04\x95" + struct.pack("<Q", len(body) + 1) + body + b"."})
    factor = slowdown()
    policy = policy_file(tmp_path / "policy", timeout_seconds=60 * factor, memory_mb=256)
    run = run_gate(root, tmp_path / "out", policy=policy, timeout=120 * factor)
    assert run.blocked(SENTINEL)
    assert not run.errors and not run.rules_for("ids.pkl"), (run.errors, run.findings)
    assert run.max_rss_mb < 256
