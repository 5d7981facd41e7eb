"""Prove each sample is real: load it with the real loader in a sandbox and watch for its side effect.

The sandbox is a child process with the properties of the fuzz stage's jail
(mlsecops/stages/fuzz): a fresh temp folder as cwd, HOME and TMPDIR, the
environment rebuilt from PATH and locale only (`sandbox.scrubbed_env`), rlimits
on address space, CPU, file size and core dumps, a wall-clock timeout after
which its whole process tree is killed, and a network namespace of its own with
only loopback (the listener that records the "network" effect lives inside it).
The jail itself is not used because its Landlock domain denies TCP connections,
which would hide the network effect this verifier must see.

A sample counts as verified only when its declared effect happened:
process -> `pwned.proc` was written by a child process (and a spawn was audited);
network -> the in-namespace listener logged a connection;
file    -> a file or folder named `pwned*` appeared in the temp folder.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mlsecops.stages.fuzz import proctree
from mlsecops.stages.fuzz.sandbox import scrubbed_env

from benchmarks.redteam.loaders import LOADERS
from benchmarks.redteam.sample import PORT, Sample

CHILD = Path(__file__).with_name("sandbox_child.py")
SPAWN_EVENTS = {"os.system", "subprocess.Popen", "os.posix_spawn", "os.exec", "os.fork"}


@dataclass
class Verdict:
    name: str
    effect: str
    reached: bool
    seen: list[str]
    loader_error: str | None
    seconds: float
    detail: str = ""


def _limits() -> None:
    os.setsid()
    gib = 1 << 30
    resource.setrlimit(resource.RLIMIT_AS, (16 * gib, 16 * gib))  # torch maps a lot of address space
    resource.setrlimit(resource.RLIMIT_CPU, (60, 65))
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 << 20, 256 << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _effects(tmp: Path, before: set[str]) -> list[str]:
    seen = []
    audit = (tmp / "audit.log").read_text().splitlines() if (tmp / "audit.log").exists() else []
    events = {json.loads(line)[0] for line in audit if line.strip()}
    if (tmp / "pwned.proc").exists() and events & SPAWN_EVENTS:
        seen.append("process")
    if (tmp / "net.log").exists() and (tmp / "net.log").read_text().strip():
        seen.append("network")
    if any(p.name.startswith("pwned") and p.name != "pwned.proc" and p.name not in before for p in tmp.iterdir()):
        seen.append("file")
    return seen


def verify(sample: Sample, timeout: float = 90, keep: Path | None = None) -> Verdict:
    """Load `sample` with its loader in a fresh sandbox; did its effect happen?"""
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="redteam-"))
    try:
        files = sample.files()
        for rel, data in files.items():
            target = tmp / "sample" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        before = {p.name for p in tmp.iterdir()}
        spec = {"code": LOADERS[sample.loader], "path": str(tmp / "sample" / sample.entry_file(files)), "port": PORT}
        (tmp / "spec.json").write_text(json.dumps(spec))
        env = scrubbed_env(tmp)
        env.pop("PYTHONPATH", None)
        proc = subprocess.Popen([sys.executable, "-I", str(CHILD), str(tmp / "spec.json")], cwd=tmp, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(tmp / "stderr.txt", "wb"),
                                preexec_fn=_limits, close_fds=True)
        try:
            proc.wait(timeout)
            detail = ""
        except subprocess.TimeoutExpired:
            detail = f"timed out after {timeout:.0f}s"
        proctree.kill_tree(proc.pid, include_root=True)
        proc.wait()
        notes = json.loads((tmp / "sandbox.json").read_text()) if (tmp / "sandbox.json").exists() else {}
        if not notes.get("netns"):
            detail = (detail + "; " if detail else "") + "no private network namespace: not run"
        loader = json.loads((tmp / "loader.json").read_text()) if (tmp / "loader.json").exists() else {}
        seen = _effects(tmp, before)
        if not loader and not detail:
            detail = f"loader process ended with {proc.returncode}: " + (tmp / "stderr.txt").read_text(errors="replace")[-400:]
        if keep is not None:
            shutil.copytree(tmp, keep / sample.name, dirs_exist_ok=True)
        return Verdict(sample.name, sample.effect, sample.effect in seen, seen, loader.get("error"),
                       round(time.monotonic() - started, 2), detail)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
