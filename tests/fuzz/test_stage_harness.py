"""Acceptance: a PR adds an atheris harness with a planted bug; the stage finds it inside a 20 s
budget, reports one deduplicated finding with a severity and a minimized reproducer, and the
replay command crashes the same way."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

from tests.fuzz.fixtures import planted_repo, run_stage


def _replay(command: str, cwd) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "mlsecops.stages.fuzz.replay"]
    return subprocess.run([sys.executable, *argv[1:], "--json"], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_planted_bug_is_found_deduplicated_minimized_and_replays(tmp_path):
    repo = planted_repo(tmp_path / "repo")
    result, seconds = run_stage(repo, tmp_path / "work", budget=20)
    assert seconds <= 20 + 10
    assert not result.errors, result.errors
    assert result.stats["targets"] == 1
    assert result.stats["executions"] > 0
    assert len(result.findings) == 1, [f.message for f in result.findings]
    f = result.findings[0]
    assert (f.rule_id, f.severity.value, f.path, f.line) == ("MLS301", "medium", "fuzz/fuzz_parser.py", 8)
    assert "ValueError" in f.message and "mypkg/parser.py" in f.message
    assert f.properties["pre_existing"] is False
    assert f.properties["reproducible"] is True
    assert f.properties["occurrences"] >= 1
    data = (repo / str(f.properties["reproducer_path"])).read_bytes()
    assert data == b"MLS!", data  # ddmin leaves exactly the four bytes the bug needs
    proc = _replay(f.reproducer or "", repo)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    replayed = json.loads(proc.stdout)
    assert replayed["signature"] == f.properties["signature"]
    assert replayed["rule"] == "MLS301"
    meta = json.loads((repo / str(f.properties["reproducer_path"])).with_suffix(".json").read_text())
    assert meta["command"] == f.reproducer and meta["fuzz_seed"] == f.properties["fuzz_seed"]
    corpus = repo / ".mlsecops" / "fuzz-corpus"
    assert any(p.is_file() for p in corpus.rglob("*")), "libFuzzer's new units are kept for the cache"


def test_a_bug_that_the_base_branch_already_had_is_pre_existing(tmp_path):
    repo = planted_repo(tmp_path / "repo", bug_in_base=True)
    result, _ = run_stage(repo, tmp_path / "work", budget=20)
    assert len(result.findings) == 1, [f.message for f in result.findings]
    f = result.findings[0]
    assert f.properties["pre_existing"] is True
    assert f.severity.value == "info" and f.properties["severity_if_new"] == "medium"
    assert "pre-existing" in f.message


def test_an_unchanged_harness_does_not_run_in_diff_mode(tmp_path):
    repo = planted_repo(tmp_path / "repo", bug_in_base=True)
    from tests.conftest import git, write

    write(repo, {"README.md": "only the readme changes\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "docs")
    result, seconds = run_stage(repo, tmp_path / "work", budget=10)
    assert result.stats["targets"] == 0 and not result.findings
    assert seconds < 5


SEGV = '''import ctypes


def TestOneInput(data: bytes) -> None:
    if len(data) >= 2 and data[0] == 0x42:
        ctypes.memmove(16, data, 2)  # a write near NULL
'''


def test_a_native_fault_is_a_memory_safety_finding_classified_by_its_fault(tmp_path):
    from tests.fuzz.fixtures import harness_repo
    from mlsecops.stages.fuzz import faults

    repo = harness_repo(tmp_path / "repo", SEGV, "fuzz/fuzz_native.py")
    result, seconds = run_stage(repo, tmp_path / "work", budget=15)
    assert seconds <= 25
    assert [f.rule_id for f in result.findings] == ["MLS302"], [f.message for f in result.findings]
    f = result.findings[0]
    assert "SIGSEGV" in f.message
    if faults.available():
        assert f.properties["classified_by"] == "gdb"
        assert f.properties["fault_class"] == "DestAvNearNull" and f.severity.value == "high"
    else:
        assert f.severity.value == "high"
    proc = _replay(f.reproducer or "", repo)
    assert proc.returncode == 1 and json.loads(proc.stdout)["signature"] == f.properties["signature"]


def test_a_harness_that_cannot_be_imported_is_a_stage_error(tmp_path):
    from tests.fuzz.fixtures import harness_repo

    repo = harness_repo(tmp_path / "repo", "import not_installed_anywhere\n\ndef TestOneInput(d):\n    pass\n")
    result, _ = run_stage(repo, tmp_path / "work", budget=8)
    assert not result.findings
    assert len(result.errors) == 1 and "No module named 'not_installed_anywhere'" in result.errors[0].message


# Flaky on purpose: it fails on the 40th input a process sees, whatever the input is, so the
# fuzzing run records a "crash" that a replay in a fresh sandbox (its first input) never shows.
FLAKY = '''import sys
import atheris

_calls = [0]


def TestOneInput(data: bytes) -> None:
    _calls[0] += 1
    if _calls[0] == 40:
        raise RuntimeError("only on the 40th call of a process")


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
'''


def test_a_flaky_crash_is_a_note_not_a_finding(tmp_path):
    from mlsecops.stages.fuzz.report import UNCONFIRMED
    from tests.fuzz.fixtures import harness_repo

    repo = harness_repo(tmp_path / "repo", FLAKY)
    result, _ = run_stage(repo, tmp_path / "work", budget=12)
    assert not result.findings, [f.message for f in result.findings]
    notes = [n for n in result.notes if n.message.startswith(UNCONFIRMED)]
    assert len(notes) == 1, result.notes
    note = notes[0]
    assert note.path == "fuzz/fuzz_target.py" and "ran without error" in note.message
    assert any("replayed in a fresh sandbox" in e for e in note.evidence), note.evidence
    assert any("while fuzzing" in e for e in note.evidence), note.evidence
    assert result.stats["crashes"] == 0 and result.stats["unconfirmed"] == 1
    assert not (repo / ".mlsecops" / "reproducers").exists(), "no reproducer is kept for an unconfirmed crash"
