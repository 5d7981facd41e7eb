"""The sandbox: no token, no network, no .git, no writes outside its folder, and the gate's wall
time holds whatever a harness does (hang with SIGALRM blocked, fork bomb with setsid escapes,
memory hog), with no process left behind."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pytest

from mlsecops.stages.fuzz import landlock, proctree, sandbox
from mlsecops.stages.fuzz.spec import Limits
from tests.conftest import make_repo
from tests.fuzz.fixtures import FORK_BOMB, HANG, MEMORY_HOG, harness_repo, run_stage
from tests.load import slowdown

FAKE_TOKEN = "ghs_FAKEtoken0123456789abcdefghijklmnopqr"
FAKE_INPUT = "gho_FAKEinput0123456789abcdefghijklmnopqr"

PROBE = '''import os, socket

GATE = {gate}
PORT = {port}
REPO = {repo!r}
if os.getpid() == GATE:  # this module must never execute inside the gate's own process
    open({marker!r}, "w").close()


def _try(label, fn):
    try:
        return f"{{label}}: allowed: {{fn()!r}}"[:300]
    except BaseException as exc:
        return f"{{label}}: denied: {{type(exc).__name__}}"


def _connect():
    s = socket.create_connection(("127.0.0.1", PORT), timeout=2)
    s.sendall(b"leak")
    return "connected"


def _write_repo():
    with open(os.path.join(REPO, "pwned.txt"), "w") as fh:
        fh.write("x")
    return "written"


def TestOneInput(data: bytes) -> None:
    lines = ["env: " + repr(sorted(os.environ.items()))]
    lines.append(_try("gate environ", lambda: open(f"/proc/{{GATE}}/environ", "rb").read()))
    lines.append(_try("parent environ", lambda: open(f"/proc/{{os.getppid()}}/environ", "rb").read()))
    lines.append(_try("git config", lambda: open(os.path.join(REPO, ".git", "config")).read()))
    lines.append(_try("write repo", _write_repo))
    lines.append(_try("connect", _connect))
    with open(os.path.join(os.environ["HOME"], "probe.txt"), "w") as fh:
        fh.write("\\n".join(lines))
    raise RuntimeError("probe: " + " | ".join(lines))
'''


def _strays(under: Path) -> list[int]:
    """Live processes whose working directory is inside `under` (the sandbox folders)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{name}/cwd")
            with open(f"/proc/{name}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if cwd.startswith(str(under)) and state not in (b"Z", b"X"):
            found.append(int(name))
    return found


def test_the_sandbox_sees_no_token_no_network_no_git_and_cannot_write_the_repo(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("INPUT_GITHUB-TOKEN", FAKE_INPUT)
    monkeypatch.setenv("ACTIONS_RUNTIME_TOKEN", FAKE_TOKEN)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.1)
    port = listener.getsockname()[1]
    repo = tmp_path / "repo"
    make_repo(repo, {"README.md": "x\n"}, {})
    (repo / ".git" / "config").write_text((repo / ".git" / "config").read_text()
                                          + f'[http]\n\textraheader = AUTHORIZATION: basic {FAKE_TOKEN}\n')
    marker = tmp_path / "ran-in-the-gate"
    source = PROBE.format(gate=os.getpid(), port=port, repo=str(repo.resolve()), marker=str(marker))
    from tests.conftest import git, write

    write(repo, {"fuzz/fuzz_probe.py": source})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "probe")
    result, _ = run_stage(repo, tmp_path / "work", budget=10 * slowdown())  # the probe must get to run once
    probes = list((tmp_path / "work").rglob("probe.txt"))
    assert probes, "the probe harness ran"
    assert not marker.exists(), "repository code ran in the gate process"
    seen = probes[0].read_text()
    report = result.model_dump_json()
    assert FAKE_TOKEN not in report and FAKE_INPUT not in report
    assert FAKE_INPUT not in seen
    if landlock.abi():
        assert FAKE_TOKEN not in seen  # not from the environment, /proc, nor .git/config
    env = dict(eval(seen.splitlines()[0].removeprefix("env: ")))  # noqa: S307 - our own repr of a list of pairs
    assert not {k for k in env if "TOKEN" in k or k.startswith(("INPUT_", "GITHUB_", "ACTIONS_"))}
    assert set(env) <= set(sandbox.scrubbed_env(Path("/x"))) | {"LC_CTYPE"}
    assert not (repo / "pwned.txt").exists() or landlock.abi() == 0
    if landlock.abi():
        assert "gate environ: denied" in seen and "git config: denied" in seen and "write repo: denied" in seen
    assert "connect: denied" in seen
    try:
        conn, _ = listener.accept()
        conn.close()
        pytest.fail("the sandbox reached a socket of the gate")
    except TimeoutError:
        pass
    finally:
        listener.close()


@pytest.mark.parametrize("name,source,kind", [
    ("fuzz/fuzz_hang.py", HANG, "MLS304"),
    ("fuzz/fuzz_forkbomb.py", FORK_BOMB, "MLS305"),
    ("fuzz/fuzz_memhog.py", MEMORY_HOG, "MLS305"),
])
def test_misbehaving_harnesses_cannot_stretch_the_budget_or_leave_processes(tmp_path, name, source, kind):
    repo = harness_repo(tmp_path / "repo", source, name)
    # 10 s on an idle machine: a start, the misbehaviour and its detection while fuzzing, then a
    # second start and detection to confirm it. A loaded machine gets proportionally more (each
    # start is a Python with atheris), or the stage (rightly) ends with an unconfirmed note.
    factor = slowdown()
    budget = 10 * factor
    result, seconds = run_stage(repo, tmp_path / "work", budget=budget)
    assert seconds <= budget + 10 * factor, (seconds, budget)  # the harness did not stretch the budget
    assert not _strays(tmp_path), "a sandboxed process outlived the stage"
    assert [f.rule_id for f in result.findings] == [kind], [f.message for f in result.findings]
    assert result.findings[0].severity.value == "medium"


def test_the_jail_kills_a_tree_that_escaped_into_new_sessions(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    code = ("import os, time\n"
            "for _ in range(5):\n"
            "    if os.fork() == 0:\n"
            "        os.setsid()\n"
            "        if os.fork() == 0:\n"
            "            time.sleep(1000)\n"
            "        os._exit(0)\n"
            "time.sleep(1000)\n")
    spec = sandbox.build_spec([sys.executable, "-c", code], home, 2.0,
                              Limits(memory_mb=2048, address_space_mb=4096, cpu_seconds=20))
    factor = slowdown()
    started = time.monotonic()
    status, _ = sandbox.run(spec)
    # The jail's 2 s, the gate's grace behind it, and killing a dozen processes (slower when loaded).
    assert time.monotonic() - started < 2.0 + sandbox.GRACE + 2 * factor
    assert status.reason == "deadline"
    assert status.strays_killed >= 5
    assert not _strays(tmp_path)
    assert not proctree.descendants(os.getpid())
