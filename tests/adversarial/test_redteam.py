"""The red-team corpus's fast subset (benchmarks/redteam, `fast=True`): real, and blocked.

Each sample is generated in code, loaded with its real loader in the sandbox
(benchmarks/redteam/verify.py: its own temp folder, network namespace and
rlimits) to prove its side effect happens, then scanned by the gate the way CI
runs it; the default policy must block it. The whole corpus, with the peers,
is benchmarks/detection.py. Samples the gate is known to let through today are
listed in KNOWN_MISSES (non-strict xfail, with the code that lets them through):
when a fix lands they show as XPASS, and the entry goes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.redteam import all_samples
from benchmarks.redteam.corpus import write_corpus
from benchmarks.redteam.verify import verify
from tests.adversarial.harness import run_gate

FAST = [s for s in all_samples() if s.fast]
BY_NAME = {s.name: s for s in FAST}

# name -> why the gate lets it through (see the red-team section of benchmarks/RESULTS.md)
KNOWN_MISSES: dict[str, str] = {
}


def _known(name: str) -> list[pytest.MarkDecorator]:
    return [pytest.mark.xfail(reason=KNOWN_MISSES[name], strict=False)] if name in KNOWN_MISSES else []


def test_the_fast_subset_covers_every_family() -> None:
    families = {s.family for s in all_samples()}
    assert families == {s.family for s in FAST}, sorted(families - {s.family for s in FAST})


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_sample_reaches_its_side_effect(name: str) -> None:
    """The proof that the sample is an attack and not a guess: the real loader, in the sandbox."""
    verdict = verify(BY_NAME[name])
    if "network namespace" in verdict.detail:
        pytest.skip("no private network namespace on this machine: the sandbox does not run samples")
    if verdict.loader_error and "ModuleNotFoundError" in verdict.loader_error:
        pytest.skip(f"loader not installed: {verdict.loader_error}")
    assert verdict.reached, (verdict.seen, verdict.loader_error, verdict.detail)


@pytest.fixture(scope="module")
def gate_run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("redteam")
    index = write_corpus(FAST, tmp / "ws")
    (tmp / "ws" / "labels.tsv").unlink()
    return index, run_gate(tmp / "ws", tmp / "out", timeout=300)


@pytest.mark.parametrize("name", [pytest.param(n, marks=_known(n)) for n in sorted(BY_NAME)])
def test_sample_is_blocked_by_the_default_policy(gate_run, name: str) -> None:  # type: ignore[no-untyped-def]
    index, run = gate_run
    assert run.report is not None, run.stderr[-2000:]
    paths = index[name]
    blocked = any(run.blocked(p) or run.errored(p) for p in paths)
    seen = sorted({f"{f['rule_id']}:{f['severity']}" for f in run.findings if f["path"] in paths})
    assert blocked, f"{name} ({BY_NAME[name].why}) passes the gate; findings: {seen}"


def test_corpus_files_never_land_in_the_repository() -> None:
    """Generated binaries stay out of git: nothing under benchmarks/redteam but source."""
    root = Path(__file__).resolve().parents[2] / "benchmarks" / "redteam"
    odd = [p for p in root.rglob("*") if p.is_file() and p.suffix not in (".py", ".md") and "__pycache__" not in p.parts]
    assert not odd, odd
