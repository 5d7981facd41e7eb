"""Opt-in resolution of unpinned requirements: wired into the audit, bounded, killed on timeout."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from mlsecops.stages.deps import resolver

from .conftest import Scan


def test_resolved_releases_are_audited_at_the_requirement_line(scan: Scan, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fake(reqs: list[str], workdir: Path, timeout: float, cmd: list[str] | None = None) -> list[tuple[str, str]]:
        calls.append(reqs)
        return [("Jinja2", "2.10"), ("MarkupSafe", "2.0.0"), ("pyyaml", "5.3")]

    monkeypatch.setattr(resolver, "resolve", fake)
    result = scan({"requirements.txt": "jinja2>=2\nrequests==2.25.0\n"}, advisory_db=db, resolve=True)
    assert calls == [["jinja2>=2", "requests==2.25.0"]]
    found = {(f.rule_id, f.vuln_id, f.path, f.line) for f in result.findings}
    assert ("MLS201", "PYSEC-2019-217", "requirements.txt", 1) in found
    assert ("MLS201", "PYSEC-2020-96", "requirements.txt", None) in found  # pulled in, not written anywhere
    unpinned = next(f for f in result.findings if f.rule_id == "MLS202")
    assert "resolved with pip" in unpinned.message
    assert next(f for f in result.findings if f.vuln_id == "PYSEC-2019-217").properties["origin"] == "resolved"


def test_resolution_failure_is_a_stage_error(scan: Scan, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(*args: object, **kwargs: object) -> list[tuple[str, str]]:
        raise resolver.ResolveError("pip could not resolve the requirements: no index")

    monkeypatch.setattr(resolver, "resolve", failing)
    result = scan({"requirements.txt": "jinja2>=2\n"}, advisory_db=db, resolve=True)
    (err,) = result.errors
    assert err.path == "requirements.txt" and "1 unpinned requirement(s) not audited" in err.message


def test_without_opt_in_nothing_is_resolved(scan: Scan, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resolver, "resolve", lambda *a, **k: pytest.fail("resolved without opt-in"))
    result = scan({"requirements.txt": "jinja2>=2\n"}, advisory_db=db)
    assert [f.rule_id for f in result.findings] == ["MLS202"]


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    child = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    with pytest.raises(resolver.ResolveError, match="did not finish"):
        resolver.resolve(["x"], tmp_path / "w", timeout=1.5, cmd=[sys.executable, "-c", child])
    assert time.monotonic() - started < 60  # well short of the child's own 60 s: it was killed, not waited for
    pid = int(pidfile.read_text())
    state = Path(f"/proc/{pid}/status")
    for _ in range(50):
        if not state.exists() or "State:\tZ" in state.read_text():
            break
        time.sleep(0.1)
    assert not state.exists() or "State:\tZ" in state.read_text()


def test_child_failure_message_is_kept(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", "import sys; print('ERROR: no matching distribution for x', file=sys.stderr); sys.exit(1)"]
    with pytest.raises(resolver.ResolveError, match="no matching distribution"):
        resolver.resolve(["x"], tmp_path, timeout=30, cmd=cmd)


def test_child_answer_is_parsed(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", "import json, sys; reqs = json.load(sys.stdin); json.dump([[r, '1.0'] for r in reqs], sys.stdout)"]
    assert resolver.resolve(["a", "b"], tmp_path, timeout=30, cmd=cmd) == [("a", "1.0"), ("b", "1.0")]
