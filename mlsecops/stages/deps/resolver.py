"""Opt-in (`deps.resolve: true`): learn the versions pip would install for unpinned requirements.

This is pip-audit's own resolution (`RequirementSource` without `--disable-pip`:
a throw-away virtual environment and `pip install --dry-run --report`), so it
needs the package index and can run the build code of source distributions; that
is why it is off by default. It runs in a child process in its own session, so
the whole process group (pip and any build backend) is killed when
`deps.timeout_seconds` runs out. The child gets the requirement lines on stdin and
prints the resolved (name, version) pairs as JSON; the manifest's own file is
never handed to pip, so its options (`--index-url`, includes) are not followed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

_CHILD = r"""
import json, sys, tempfile, pathlib
from pip_audit._dependency_source import RequirementSource
reqs = json.load(sys.stdin)
with tempfile.TemporaryDirectory() as tmp:
    path = pathlib.Path(tmp) / "requirements.txt"
    path.write_text("\n".join(reqs) + "\n", encoding="utf-8")
    deps = list(RequirementSource([path]).collect())
json.dump([[d.name, str(d.version)] for d in deps if not d.is_skipped()], sys.stdout)
"""


class ResolveError(Exception):
    """pip could not resolve the requirements (no index, a conflict, a timeout)."""


def command() -> list[str]:
    """The child process: this interpreter, with pip-audit importable."""
    return [sys.executable, "-c", _CHILD]


_PIP_ENV = ("PATH", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
            "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


def child_env(workdir: Path) -> dict[str, str]:
    """pip may build sdists from the pull request's requirements: their build code gets no
    token and no CI secrets, only what pip needs to reach its index (PIP_* settings included)."""
    env = {k: v for k, v in os.environ.items() if k in _PIP_ENV or (k.startswith("PIP_") and "TOKEN" not in k)}
    env["HOME"] = str(workdir)
    env["PYTHONNOUSERSITE"] = "1"
    return env


def resolve(requirements: list[str], workdir: Path, timeout: float, cmd: list[str] | None = None) -> list[tuple[str, str]]:
    """(name, version) of everything pip would install for `requirements`."""
    if not requirements:
        return []
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        cmd or command(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=workdir,
        env=child_env(workdir),
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(json.dumps(requirements).encode(), timeout=max(1.0, timeout))
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise ResolveError(f"pip did not finish resolving within {timeout:.0f}s (deps.timeout_seconds)") from None
    finally:
        _kill_group(proc)
    if proc.returncode != 0:
        last = [ln for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
        raise ResolveError(f"pip could not resolve the requirements: {last[-1][:300] if last else f'exit code {proc.returncode}'}")
    try:
        pairs = json.loads(out)
        return [(str(n), str(v)) for n, v in pairs]
    except (ValueError, TypeError) as exc:
        raise ResolveError(f"unreadable answer from the resolver: {exc}") from None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child's whole session (pip, build backends) if anything is left of it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
