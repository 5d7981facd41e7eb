"""Faults around the scan: a read-only workspace, a full disk for the reports, SIGTERM and
SIGKILL mid-run. A report at the target path is always complete and from this run:
written atomically, and a previous run's report is removed before scanning, so a run
that is killed leaves none. Exit codes stay non-zero whenever the verdict is not known.
"""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlsecops import files
from tests.adversarial import attacks as A
from tests.adversarial.conftest import SENTINEL
from tests.adversarial.harness import (
    alive, gate_args, run_gate, start_gate, wait_for_workers, wait_gate,
)
from tests.conftest import make_repo


def _read_only(path: Path) -> Iterator[Path]:
    """`path` made read-only: a read-only bind mount as root, permissions otherwise."""
    if os.geteuid() == 0:
        view = path.parent / f"{path.name}-ro"
        view.mkdir()
        ok = subprocess.run(["mount", "--bind", str(path), str(view)], capture_output=True).returncode == 0
        ok = ok and subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], capture_output=True).returncode == 0
        if not ok:
            subprocess.run(["umount", str(view)], capture_output=True)
            pytest.skip("cannot mount read-only here")
        try:
            yield view
        finally:
            subprocess.run(["umount", str(view)], capture_output=True)
        return
    for p in sorted(path.rglob("*"), reverse=True) + [path]:
        p.chmod(p.stat().st_mode & ~0o222)
    try:
        yield path
    finally:
        for p in [path, *path.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)


@pytest.fixture
def readonly_repo(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    repo = tmp_path / "repo"
    base, _ = make_repo(repo, {"README.md": "x\n"}, {"models/evil.pkl": A.EVIL, "models/ok.txt": "fine\n"})
    yield from ((view, base) for view in _read_only(repo))


def test_a_read_only_workspace_is_scanned_in_diff_and_walk_mode(readonly_repo: tuple[Path, str], tmp_path: Path) -> None:
    root, base = readonly_repo
    with pytest.raises(OSError) as exc:
        (root / "probe").write_text("x")
    assert exc.value.errno in (errno.EROFS, errno.EACCES)
    diff = run_gate(root, tmp_path / "diff", "--base", base, timeout=120)
    assert diff.code == 1 and diff.blocked("models/evil.pkl"), (diff.stderr[-1000:], diff.errors)
    walk = run_gate(root, tmp_path / "walk", timeout=120)
    assert walk.code == 1 and walk.blocked("models/evil.pkl")


def test_reports_into_a_read_only_workspace_exit_2_without_traceback(readonly_repo: tuple[Path, str], tmp_path: Path) -> None:
    root, _ = readonly_repo
    proc = subprocess.run([*gate_args(root, tmp_path)[:-4], "--sarif", str(root / "out.sarif")],
                          capture_output=True, text=True, timeout=120, env={**os.environ})
    assert proc.returncode == 2, proc.stderr
    assert "cannot write" in proc.stderr and "Traceback" not in proc.stderr


def _evil_workspace(tmp_path: Path, files_: dict[str, bytes] | None = None) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / SENTINEL).write_bytes(A.EVIL)
    for name, data in (files_ or {}).items():
        (root / name).write_bytes(data)
    return root


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (2048, resource.RLIM_INFINITY))


def test_a_full_disk_for_reports_is_an_error_and_leaves_no_partial_report(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes every report write fail past 2 KiB (EFBIG), as a full disk would."""
    root = _evil_workspace(tmp_path)
    out = tmp_path / "out"
    run = run_gate(root, out, markdown=True, preexec=_limit_file_size, timeout=120)
    assert run.code == 2, (run.code, run.stderr[-2000:])
    assert "cannot write" in run.stderr and "Traceback" not in run.stderr
    for name in ("report.sarif", "report.json", "comment.md"):
        target = out / name
        assert not target.exists() or target.stat().st_size <= 2048 and _complete(target), name
    assert not list(out.glob(".*.tmp")), list(out.glob(".*"))


def _complete(path: Path) -> bool:
    import json

    if path.suffix == ".md":
        return path.read_text().rstrip().endswith("</sub>")
    json.loads(path.read_text())
    return True


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_reports_on_a_full_tmpfs(tiny_disk: Path, tmp_path: Path) -> None:
    root = _evil_workspace(tmp_path)
    args = gate_args(root, tmp_path)[:-4] + ["--json", str(tiny_disk / "r.json"), "--sarif", str(tiny_disk / "r.sarif")]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, env={**os.environ})
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "No space left" in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["filler"]


def test_sigterm_mid_scan_leaves_no_report_and_no_worker(tmp_path: Path) -> None:
    root = _evil_workspace(tmp_path, {"slow.pkl": A.opcode_flood(10_000_000)})
    out = tmp_path / "out"
    out.mkdir()
    for name in ("report.sarif", "report.json"):
        (out / name).write_text('{"stale": "a previous run"}')
    proc = start_gate(gate_args(root, out), out)
    workers = wait_for_workers(proc.pid, scanning="slow.pkl")
    assert workers, (out / "stderr.txt").read_text()
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGTERM)
    status, _, timed_out = wait_gate(proc, 60)
    assert not timed_out, "SIGTERM did not stop the gate"
    assert os.waitstatus_to_exitcode(status) not in (0, 1), os.waitstatus_to_exitcode(status)
    assert not (out / "report.sarif").exists() and not (out / "report.json").exists()
    assert not list(out.glob(".*.tmp"))
    deadline = time.monotonic() + 30  # returns as soon as they are gone; generous for a loaded machine
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(p) for p in workers), "workers outlived the gate"


def test_sigkill_of_the_gate_takes_its_workers_down(tmp_path: Path) -> None:
    """No handler runs on SIGKILL: the workers' parent-death signal does the cleaning."""
    root = _evil_workspace(tmp_path, {"slow.pkl": A.opcode_flood(10_000_000)})
    out = tmp_path / "out"
    proc = start_gate(gate_args(root, out), out)
    workers = wait_for_workers(proc.pid, scanning="slow.pkl")
    assert workers
    os.kill(proc.pid, signal.SIGKILL)
    wait_gate(proc, 30)
    deadline = time.monotonic() + 30  # returns as soon as they are gone; generous for a loaded machine
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(p) for p in workers), "orphaned workers kept running"


def test_atomic_write_interrupted_leaves_the_target_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM's SystemExit (or a full disk) in the middle of a write: old file or none, no temp file."""
    target = tmp_path / "r.sarif"
    target.write_text("previous complete report")

    def interrupted(fd: int) -> None:
        raise SystemExit(143)

    monkeypatch.setattr(files.os, "fsync", interrupted)
    with pytest.raises(SystemExit):
        files.atomic_write(target, "new report " * 1000)
    assert target.read_text() == "previous complete report"
    assert [p.name for p in tmp_path.iterdir()] == ["r.sarif"]


def test_a_stale_report_is_removed_even_when_the_run_stops_early(tmp_path: Path) -> None:
    """A bad policy stops the run before scanning; the old report must not survive it."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.sarif").write_text("{}")
    bad = tmp_path / "bad.yml"
    bad.write_text("version: 1\nmodels: {fail_on: sometimes}\n")
    root = _evil_workspace(tmp_path)
    run = run_gate(root, out, policy=bad, timeout=60)
    assert run.code == 2
    assert not (out / "report.sarif").exists()


def test_a_report_path_linked_to_a_block_device_is_refused(tmp_path: Path) -> None:
    """A pull request can commit `mlsecops.sarif` as a symlink; the report must never be
    written through it into a disk (the gate may run as root in its container)."""
    device = tmp_path / "disk"
    try:
        os.mknod(device, 0o600 | 0o060000, os.makedev(7, 250))  # a loop device node nobody uses
    except OSError:
        pytest.skip("cannot create a block device node here")
    link = tmp_path / "mlsecops.sarif"
    link.symlink_to(device)
    with pytest.raises(OSError):
        files.atomic_write(link, "{}")
    assert device.is_block_device()


def test_a_report_path_that_is_a_fifo_nobody_reads_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "out.sarif"
    os.mkfifo(fifo)
    with pytest.raises(OSError):
        files.atomic_write(fifo, "{}")


def test_stale_report_links_are_removed_but_dev_stdout_is_kept(tmp_path: Path) -> None:
    from mlsecops.cli import clear_stale_outputs

    fake = tmp_path / "fake.sarif"
    fake.write_text("{}")
    link = tmp_path / "mlsecops.sarif"
    link.symlink_to(fake)
    dangling = tmp_path / "r.json"
    dangling.symlink_to(tmp_path / "nowhere")
    devnull = tmp_path / "null.sarif"
    devnull.symlink_to(os.devnull)
    clear_stale_outputs([str(link), str(dangling), str(devnull)])
    assert not link.is_symlink() and not dangling.is_symlink() and fake.exists()
    assert devnull.is_symlink()


def test_a_report_path_the_scanned_repository_links_to_stdout_is_replaced(tmp_path: Path) -> None:
    """`mlsecops scan . --sarif mlsecops.sarif` in CI, on a PR that commits `mlsecops.sarif ->
    /dev/stdout`: on main the SARIF (file names and all, `##[` included) went into the job's log,
    where the runner reads legacy workflow commands anywhere in a line. The link is replaced by
    the report; `--sarif /dev/stdout` given on the command line still writes to stdout."""
    from tests.conftest import run_cli

    root = _evil_workspace(tmp_path)
    (root / "mlsecops.sarif").symlink_to("/dev/stdout")
    proc = run_cli("scan", ".", "--stages", "models", "--no-cache", "-q", "--sarif", "mlsecops.sarif", cwd=root)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert '"runs"' not in proc.stdout
    assert (root / "mlsecops.sarif").is_file() and not (root / "mlsecops.sarif").is_symlink()
    direct = run_cli("scan", ".", "--stages", "models", "--no-cache", "-q", "--sarif", "/dev/stdout", cwd=root)
    assert '"runs"' in direct.stdout
