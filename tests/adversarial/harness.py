"""Run the gate the way CI does (the CLI in a child process) and measure what it cost.

`run_gate` starts `python -m mlsecops scan` under a small launcher that
reports the peak RSS over the CLI and every worker it reaped (getrusage of
its children), kills the whole process group at a deadline, and returns the
exit code, the outputs and the measurements. `policy_file` writes a policy
with the limits an attack is meant to run into. `LoaderOracle` is the
oracle: what the real unpicklers (C, pure-Python, joblib's) would import and
call from some bytes, found by running them in one long-lived sandboxed child
whose `find_class` records the name and returns a stub, so nothing is imported
and nothing the pickle names is run (`loader_imports` is the one-shot form).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CANARY = "ghs_mlsecopsCanaryToken0123456789abcdefXYZ"
CANARY_ENV = {
    "GITHUB_TOKEN": CANARY,
    "INPUT_GITHUB-TOKEN": CANARY,
    "ACTIONS_RUNTIME_TOKEN": CANARY,
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": CANARY,
}


@dataclass
class GateRun:
    code: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_mb: float
    out: Path
    report: dict[str, Any] | None = None
    timed_out: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def findings(self) -> list[dict[str, Any]]:
        return (self.report or {}).get("findings", [])

    @property
    def errors(self) -> list[dict[str, Any]]:
        return (self.report or {}).get("errors", [])

    def rules_for(self, path: str) -> set[str]:
        return {f["rule_id"] for f in self.findings if f["path"] == path}

    def blocked(self, path: str) -> bool:
        return any(f["path"] == path and f["status"] == "blocking" for f in self.findings)

    def errored(self, path: str) -> bool:
        return any(e.get("path") == path for e in self.errors)


def policy_file(folder: Path, fail_on_scanner_error: bool = True, **limits: Any) -> Path:
    """A policy with models limits (`timeout_seconds`, `memory_mb`, `max_expanded_mb`...)."""
    data: dict[str, Any] = {"version": 1, "fail_on_scanner_error": fail_on_scanner_error}
    if limits:
        data["models"] = {"limits": limits}
    path = folder / "policy.yml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def gate_args(target: Path, out: Path, *extra: str, policy: Path | None = None, markdown: bool = False,
              stages: str = "models", jobs: int = 2) -> list[str]:
    """The command line of `mlsecops scan target` with the JSON and SARIF reports in `out`."""
    args = [sys.executable, "-m", "mlsecops", "scan", str(target), "--stages", stages, "--no-cache", "-q",
            "--jobs", str(jobs), "--json", str(out / "report.json"), "--sarif", str(out / "report.sarif")]
    if markdown:
        args += ["--markdown", str(out / "comment.md")]
    if policy is not None:
        args += ["--policy", str(policy)]
    return args + list(extra)


def gate_env(env: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}


def start_gate(args: list[str], out: Path, env: dict[str, str] | None = None, cwd: Path | None = None,
               preexec: Callable[[], None] | None = None) -> subprocess.Popen[bytes]:
    """Start the gate in its own session, stdout and stderr to files in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "stdout.txt").open("wb") as so, (out / "stderr.txt").open("wb") as se:
        return subprocess.Popen(args, stdout=so, stderr=se, stdin=subprocess.DEVNULL, env=gate_env(env),
                                cwd=cwd or ROOT, start_new_session=True, preexec_fn=preexec)


# A small launcher between us and the CLI: a child's peak RSS starts at its parent's when it is
# forked (exec records the old image's high-water mark), so measuring the CLI as our own child
# would count this test process. The launcher is small; it reports its children's peak.
_LAUNCHER = r"""
import json, os, resource, subprocess, sys
proc = subprocess.run(sys.argv[2:])
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(sys.argv[1], "w") as fh:
    json.dump({"maxrss_kb": peak}, fh)
sys.exit(proc.returncode if proc.returncode >= 0 else 128 - proc.returncode)
"""


def run_measured(args: list[str], out: Path, env: dict[str, str] | None = None, timeout: float = 300,
                 cwd: Path | None = None) -> tuple[int, float, float]:
    """(exit code, seconds, peak RSS in MiB over `args` and its reaped children), under the launcher."""
    usage_file = out / "rusage.json"
    out.mkdir(parents=True, exist_ok=True)
    usage_file.unlink(missing_ok=True)
    started = time.monotonic()
    proc = start_gate([sys.executable, "-c", _LAUNCHER, str(usage_file), *args], out, env=env, cwd=cwd)
    status, _, _ = wait_gate(proc, timeout)
    peak_kb = json.loads(usage_file.read_text())["maxrss_kb"] if usage_file.exists() else 0
    return os.waitstatus_to_exitcode(status), time.monotonic() - started, peak_kb / 1024


def run_gate(target: Path, out: Path, *extra: str, policy: Path | None = None, env: dict[str, str] | None = None,
             timeout: float = 180, markdown: bool = False, stages: str = "models", jobs: int = 2,
             cwd: Path | None = None, preexec: Callable[[], None] | None = None) -> GateRun:
    """`mlsecops scan target` with the JSON and SARIF reports in `out`; peak RSS over the CLI and its workers."""
    args = gate_args(target, out, *extra, policy=policy, markdown=markdown, stages=stages, jobs=jobs)
    usage_file = out / "rusage.json"
    out.mkdir(parents=True, exist_ok=True)
    usage_file.unlink(missing_ok=True)
    started = time.monotonic()
    proc = start_gate([sys.executable, "-c", _LAUNCHER, str(usage_file), *args], out, env=env, cwd=cwd, preexec=preexec)
    status, _, timed_out = wait_gate(proc, timeout)
    seconds = time.monotonic() - started
    code = os.waitstatus_to_exitcode(status)
    peak_kb = json.loads(usage_file.read_text())["maxrss_kb"] if usage_file.exists() else 0
    report_path = out / "report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    return GateRun(code=code, stdout=(out / "stdout.txt").read_text(errors="replace"),
                   stderr=(out / "stderr.txt").read_text(errors="replace"),
                   seconds=seconds, max_rss_mb=peak_kb / 1024, out=out, report=report, timed_out=timed_out)


def wait_gate(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, resource.struct_rusage, bool]:
    """(wait status, rusage of the child and its reaped descendants, timed out); SIGKILL at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return status, usage, False
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            return status, usage, True
        time.sleep(0.02)


ORACLE_SCRIPT = Path(__file__).with_name("unpickler_oracle.py")


@dataclass
class ReaderRun:
    """What one real unpickler did with a stream (read as a loop of load() calls)."""

    imports: set[tuple[str, str]]
    calls: set[str]
    error: str | None
    pickles: int


@dataclass
class OracleAnswer:
    readers: dict[str, ReaderRun]

    @property
    def imports(self) -> set[tuple[str, str]]:
        return set().union(*(r.imports for r in self.readers.values()))

    @property
    def calls(self) -> set[str]:
        return set().union(*(r.calls for r in self.readers.values()))

    @property
    def any_complete(self) -> bool:
        return any(r.error is None for r in self.readers.values())


class LoaderOracle:
    """CPython's unpicklers, in one long-lived sandboxed child, on many inputs.

    The child (unpickler_oracle.py) runs under an address-space and CPU limit with an
    empty environment; its `find_class` records the name and returns a stub, so
    nothing is imported and nothing a pickle names is run."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        self.proc = subprocess.Popen([sys.executable, "-I", str(ORACLE_SCRIPT)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={})
        return self.proc

    def __call__(self, data: bytes) -> OracleAnswer:
        proc = self.proc if self.proc is not None and self.proc.poll() is None else self._start()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(len(data).to_bytes(4, "little") + data)
            proc.stdin.flush()
            line = proc.stdout.readline()
        except BrokenPipeError:
            line = b""
        if not line:  # the child died on this input (a crash in a real unpickler is an answer too)
            self.close()
            crashed = ReaderRun(set(), set(), "oracle child died", 0)
            return OracleAnswer({"crash": crashed})
        answer = json.loads(line)
        return OracleAnswer({name: ReaderRun({(m, n) for m, n in r["imports"]}, set(r["calls"]), r["error"], r["pickles"])
                             for name, r in answer.items()})

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def loader_imports(data: bytes) -> list[tuple[str, str]]:
    """What CPython's unpicklers would import from `data` (names only; nothing is imported)."""
    oracle = LoaderOracle()
    try:
        return sorted(oracle(data).imports)
    finally:
        oracle.close()


def descendants(pid: int) -> list[int]:
    """Live processes under `pid` (from /proc), deepest last."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(stat[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def worker_pids(gate_pid: int) -> list[int]:
    """The models stage's worker processes under the gate."""
    out = []
    for pid in descendants(gate_pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if b"mlsecops.stages.models.worker" in fh.read():
                    out.append(pid)
        except OSError:
            continue
    return out


def holds_open(pid: int, name: str) -> bool:
    """True while process `pid` has a file called `name` open (a worker scanning it)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.path.basename(os.readlink(f"/proc/{pid}/fd/{fd}")) == name:
                return True
        except OSError:
            continue
    return False


def wait_for_workers(gate_pid: int, timeout: float = 180, scanning: str | None = None) -> list[int]:
    """The gate's models workers, once there are any; with `scanning`, once one of them has
    that file open (the gate starts a worker before it reads the policy, so a worker alone
    does not mean the scan has begun; a worker gets a file only once it has warmed up). The
    timeout is generous on purpose: it returns as soon as it sees them, and a loaded machine
    can take tens of seconds to get there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = worker_pids(gate_pid)
        if pids and (scanning is None or any(holds_open(p, scanning) for p in pids)):
            return pids
        time.sleep(0.05)
    return []


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False
