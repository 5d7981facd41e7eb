"""The gate as a GitHub Action (entrypoint.py), against a hostile pull request and a
failing GitHub API: file names cannot forge workflow commands, no token leaves through
logs, files or the comment, API timeouts/5xx/403/404/rate limits never change the exit
code the verdict gives, and SIGTERM mid-run ends non-zero with no output claiming a result.

Runs the entrypoint exactly as the runner does, with `tests/action/action_support.py`'s
runner environment and fake REST API.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlsecops.reporters.escape import _CONTROL
from tests.action.action_support import (
    ENTRYPOINT, REPO_ROOT, TOKEN, ApiServer, FakeGitHub, Repo, git, make_repo, parse_command, pr_event, run_step,
)
from tests.adversarial import attacks as A
from tests.adversarial.harness import CANARY, wait_for_workers
from tests.adversarial.test_escapes import HOSTILE_NAMES
from tests.load import slowdown

OUR_COMMANDS = {"add-mask", "stop-commands", "error", "warning", "notice", "group", "endgroup"}
FAST_INPUTS = {"stages": "models"}
SECRET_ENV = {"ACTIONS_RUNTIME_TOKEN": CANARY, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": CANARY}


def _hostile_repo(root: Path) -> Repo:
    repo = make_repo(root)
    git(repo.path, "checkout", "-q", "feature")
    for raw in HOSTILE_NAMES:
        (Path(os.fsdecode(repo.path)) / "models" / os.fsdecode(raw)).write_bytes(A.EVIL)
    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-q", "-m", "hostile names")
    return Repo(path=repo.path, base=repo.base, head=git(repo.path, "rev-parse", "HEAD"), clean_head=repo.clean_head)


def _everything_but_the_mask(stdout: str, rest: str) -> str:
    return "\n".join(ln for ln in stdout.splitlines() if not ln.startswith("::add-mask::")) + rest


@pytest.fixture(scope="module")
def hostile_step(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("action-names")
    repo = _hostile_repo(tmp / "repo")
    with ApiServer(FakeGitHub()) as api:
        step = run_step(tmp, repo.path, "pull_request", pr_event(repo), api_url=api.url, inputs=FAST_INPUTS,
                        extra_env=SECRET_ENV, timeout=240)
        return step, api


def test_hostile_names_cannot_forge_workflow_commands(hostile_step) -> None:  # type: ignore[no-untyped-def]
    step, _ = hostile_step
    assert step.code == 1, step.stderr[-2000:]
    stop_token = None
    for line in step.stdout.splitlines() + step.stderr.splitlines():
        parsed = parse_command(line)
        if parsed is None:
            # The runner reads a legacy `##[command]` anywhere in a line that is not a `::` command.
            assert "##[" not in line, line
            continue
        name, props, data = parsed
        if name == "stop-commands":
            stop_token = data
            continue
        if stop_token and name == stop_token:
            stop_token = None
            continue
        assert stop_token is None, f"a command while commands are stopped: {line}"
        assert name in OUR_COMMANDS, line
        if name in ("error", "warning", "notice"):
            assert props.get("title", "").startswith("mlsecops"), line
            if "file" in props:
                assert props["file"].startswith("models/") and "\n" not in props["file"]


def test_annotations_name_the_real_files(hostile_step) -> None:  # type: ignore[no-untyped-def]
    step, _ = hostile_step
    files = {parse_command(ln)[1].get("file") for ln in step.stdout.splitlines() if parse_command(ln)}  # type: ignore[index]
    files.discard(None)
    # Control characters cannot travel in a workflow command: names that hold some lose them.
    real = {_CONTROL.sub("", f"models/{os.fsdecode(raw)}") for raw in HOSTILE_NAMES}
    assert files and all(f in real or "\ufffd" in f for f in files), files - real


def test_no_token_in_logs_files_outputs_or_the_comment(hostile_step) -> None:  # type: ignore[no-untyped-def]
    step, api = hostile_step
    rest = step.stderr + step.summary + json.dumps(step.outputs) + json.dumps(api.requests)
    for p in step.workdir.rglob("*"):
        if p.is_file() and ".git" not in p.parts:
            rest += p.read_text("utf-8", "replace")
    text = _everything_but_the_mask(step.stdout, rest)
    assert TOKEN not in text.replace(f"Bearer {TOKEN}", "") and CANARY not in text
    bodies = [r["json"]["body"] for r in api.requests if r["json"]]
    assert bodies and all(TOKEN not in b and CANARY not in b for b in bodies)
    assert all("<img" not in b and "@octocat" not in b for b in bodies)


@pytest.mark.parametrize("fault", ["post-500", "post-403", "post-404", "rate-limit", "get-502-then-ok"])
def test_api_faults_never_change_the_exit_code(fault: str, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    state = FakeGitHub()
    if fault.startswith("post-"):
        state.fail_post = int(fault.split("-")[1])
    elif fault == "rate-limit":
        state.rate_limit_once = True
    else:
        state.fail_once = [502]
    with ApiServer(state) as api:
        step = run_step(tmp_path, repo.path, "pull_request", pr_event(repo), api_url=api.url, inputs=FAST_INPUTS,
                        extra_env={**SECRET_ENV, "MLSECOPS_API_TIMEOUT": "20"}, timeout=240)
    assert step.code == 1, (fault, step.stdout[-1500:])
    assert step.outputs.get("verdict") == "fail"
    assert TOKEN not in _everything_but_the_mask(step.stdout, step.stderr + step.summary)
    assert "Traceback" not in step.stderr
    if fault.startswith("post-"):
        assert "could not post the PR comment" in step.stdout + step.summary


@pytest.fixture
def black_hole() -> Iterator[str]:
    """An API that accepts connections and never answers (a timeout, not a refusal)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()
    for conn in held:
        conn.close()


@pytest.mark.slow
def test_an_api_that_never_answers_costs_bounded_time(black_hole: str, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    factor = slowdown()
    started = time.monotonic()
    step = run_step(tmp_path, repo.path, "pull_request", pr_event(repo), api_url=black_hole, inputs=FAST_INPUTS,
                    extra_env={"MLSECOPS_API_TIMEOUT": "5"}, timeout=240 * factor)
    elapsed = time.monotonic() - started
    assert step.code == 1 and step.outputs.get("verdict") == "fail"
    # The budget is MLSECOPS_API_TIMEOUT plus at most one read timeout (30 s) already in flight;
    # the rest of the step (30 s with room on an idle machine) is slower on a loaded one.
    assert elapsed < 5 + 30 + 30 * factor, elapsed


def _start_step(tmp: Path, repo: Repo) -> tuple[subprocess.Popen[bytes], Path]:
    event = tmp / "event.json"
    event.write_text(json.dumps(pr_event(repo)))
    outputs = tmp / "outputs"
    outputs.write_text("")
    (tmp / "summary").write_text("")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp), "GITHUB_ACTIONS": "true",
           "GITHUB_WORKSPACE": str(repo.path), "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event),
           "GITHUB_REPOSITORY": "octo/demo", "GITHUB_API_URL": "http://127.0.0.1:9", "GITHUB_OUTPUT": str(outputs),
           "GITHUB_STEP_SUMMARY": str(tmp / "summary"), "INPUT_STAGES": "models", "INPUT_GITHUB-TOKEN": TOKEN,
           "PYTHONPATH": str(REPO_ROOT), "XDG_CACHE_HOME": str(tmp / "cache")}
    proc = subprocess.Popen([sys.executable, str(ENTRYPOINT)], cwd=repo.path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    return proc, outputs


def _slow_repo(root: Path) -> Repo:
    repo = make_repo(root)
    git(repo.path, "checkout", "-q", "feature")
    # Slow enough (tens of seconds of walking) that the kill always lands mid-scan, even on a loaded machine.
    (repo.path / "models" / "slow.pkl").write_bytes(A.opcode_flood(40_000_000))
    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-q", "-m", "slow")
    return Repo(path=repo.path, base=repo.base, head=git(repo.path, "rev-parse", "HEAD"), clean_head=repo.clean_head)


def test_sigterm_mid_run_ends_non_zero_with_no_result_claimed(tmp_path: Path) -> None:
    repo = _slow_repo(tmp_path / "repo")
    proc, outputs = _start_step(tmp_path, repo)
    assert wait_for_workers(proc.pid, scanning="slow.pkl"), "the scan never started"
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode not in (0, 1), proc.returncode
    assert "verdict=" not in outputs.read_text()
    lines = stdout.decode().splitlines()
    stops = [ln.split("::")[2] for ln in lines if ln.startswith("::stop-commands::")]
    assert all(f"::{token}::" in lines for token in stops), "workflow commands left stopped"
    assert not (repo.path / "mlsecops.sarif").exists()


@pytest.mark.parametrize("when", ["worker-started", "mid-scan"])
def test_a_sarif_committed_by_the_pull_request_is_not_left_looking_like_the_result(tmp_path: Path, when: str) -> None:
    """The SARIF target is in the workspace, which the PR controls: a killed run must not leave
    the PR's own `mlsecops.sarif` for a later `upload-sarif` step, even when it is killed as soon
    as its first worker starts (before the history is fetched)."""
    repo = _slow_repo(tmp_path / "repo")
    (repo.path / "mlsecops.sarif").write_text('{"version": "2.1.0", "runs": []}')
    proc, _ = _start_step(tmp_path, repo)
    assert wait_for_workers(proc.pid, scanning="slow.pkl" if when == "mid-scan" else None)
    os.kill(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=60)
    assert not (repo.path / "mlsecops.sarif").exists()


def test_report_paths_the_pr_linked_to_stdout_are_replaced_not_followed(tmp_path: Path) -> None:
    """A PR commits `mlsecops-comment/report.json -> /dev/stdout` (the fork-safe scan's comment-file)
    and `mlsecops.sarif -> /dev/stdout`. On main the JSON report went through the link into the
    step's log after commands were resumed, so a file name holding `##[set-output ...]` or
    `##[error]...` was read by the runner as a workflow command."""
    repo = _hostile_repo(tmp_path / "repo")
    git(repo.path, "checkout", "-q", "feature")
    (repo.path / "mlsecops-comment").mkdir()
    os.symlink("/dev/stdout", repo.path / "mlsecops-comment" / "report.json")
    os.symlink("/dev/stdout", repo.path / "mlsecops.sarif")
    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-q", "-m", "links")
    head = git(repo.path, "rev-parse", "HEAD")
    pushed = Repo(path=repo.path, base=repo.base, head=head, clean_head=repo.clean_head)
    step = run_step(tmp_path, repo.path, "pull_request", pr_event(pushed),
                    inputs={**FAST_INPUTS, "comment": "false", "comment-file": "mlsecops-comment/report.json"}, timeout=180)
    assert step.code == 1, step.stdout[-2000:]
    assert '"findings"' not in step.stdout and '"runs"' not in step.stdout
    assert not [ln for ln in step.stdout.splitlines() if "##[" in ln and parse_command(ln) is None]
    for rel in ("mlsecops-comment/report.json", "mlsecops.sarif"):
        path = repo.path / rel
        assert path.is_file() and not path.is_symlink(), rel
    assert json.loads((repo.path / "mlsecops-comment" / "report.json").read_text())["verdict"] == "fail"
