"""The jail: a supervisor process that confines one sandboxed worker and cleans up after it.

Run as `python -P -m mlsecops.stages.fuzz.jail SPEC.json` by the gate, in a new
session and with a scrubbed environment. It makes itself a child subreaper (so
nothing the worker forks can escape the tree, not even with setsid), moves into
a new network namespace when the kernel allows (as root, or via an unprivileged
user namespace), then starts the worker with rlimits, its own session and a
Landlock domain. It watches the wall clock, the in-flight heartbeat (a busy
input that stops advancing is a hang) and the resident memory of the whole
tree; on any of those, or when the worker ends, it kills every descendant and
writes a `JailStatus`. Only the standard library and our own small modules run
here: nothing from the scanned repository.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

from mlsecops.stages.fuzz import heartbeat, landlock, proctree
from mlsecops.stages.fuzz.spec import JailSpec, JailStatus, Limits

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
_PAGE = os.sysconf("SC_PAGE_SIZE")


def isolate_network() -> bool:
    """A fresh network namespace: no interfaces at all, so no connection can be made."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    if libc.unshare(CLONE_NEWNET) == 0:
        return True
    uid, gid = os.geteuid(), os.getegid()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        return False
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        try:
            Path(f"/proc/self/{name}").write_text(text)
        except OSError:
            pass
    return True


def _user_tasks(uid: int) -> int:
    count = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{name}/task"))
            except OSError:
                continue
    return count


def _rlimits(limits: Limits) -> None:
    mb = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limits.address_space_mb * mb, limits.address_space_mb * mb))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb, limits.file_mb * mb))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _child_setup(spec: JailSpec, nproc: int | None, marker: Path) -> None:
    """Runs in the forked worker before exec: session, limits, Landlock."""
    os.setsid()
    _rlimits(spec.limits)
    if nproc is not None:
        try:
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        except (ValueError, OSError):
            pass
    read = [*spec.read_paths, f"/proc/{os.getpid()}"]
    used = landlock.restrict(read, spec.write_paths, deny_tcp=True)
    try:
        marker.write_text(str(used))
    except OSError:
        pass


def tree_usage(root: int) -> tuple[float, int]:
    """Resident memory (MiB) and number of processes of the tree below and including `root`."""
    total = 0
    pids = [root, *proctree.descendants(root)]
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", "rb") as fh:
                total += int(fh.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total * _PAGE / (1024 * 1024), len(pids)


def supervise(spec: JailSpec) -> JailStatus:
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))
    proctree.set_subreaper(True)
    isolated = isolate_network() if spec.isolate_network else False
    nproc = None if os.geteuid() == 0 else _user_tasks(os.geteuid()) + spec.limits.extra_processes
    marker = Path(spec.cwd) / ".landlock"
    started = time.monotonic()
    stderr = open(spec.stderr_path, "ab")  # noqa: SIM115 - lives as long as the worker
    stdout = open(spec.stdout_path, "ab") if spec.stdout_path else None  # noqa: SIM115
    try:
        proc = subprocess.Popen(
            spec.argv, cwd=spec.cwd, env=spec.env, stdout=stdout, stderr=stderr, close_fds=True,
            preexec_fn=lambda: _child_setup(spec, nproc, marker),  # noqa: PLW1509 - the jail is single-threaded
        )
    except OSError as exc:
        return JailStatus(reason="spawn-failed", network_isolated=isolated, message=str(exc))
    status = _watch(spec, proc, started, stop)
    if status.reason in ("hang", "memory") and proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGUSR1)  # faulthandler in the worker prints where it is stuck
        except ProcessLookupError:
            pass
        time.sleep(0.3)
    status.strays_killed = len([p for p in proctree.descendants(os.getpid()) if p != proc.pid])
    proctree.kill_tree(os.getpid(), include_root=False)
    if proc.returncode is None:
        proc.wait()
    proctree.reap_children(0.5)
    code = proc.returncode
    if status.reason == "exited":
        status.reason = "signaled" if code < 0 else "exited"
    status.returncode = code if code >= 0 else None
    status.signal = -code if code < 0 else None
    status.seconds = round(time.monotonic() - started, 3)
    status.network_isolated = isolated
    try:
        status.landlock_abi = int(marker.read_text() or 0)
    except (OSError, ValueError):
        status.landlock_abi = 0
    return status


def _watch(spec: JailSpec, proc: subprocess.Popen[bytes], started: float, stop: dict[str, bool]) -> JailStatus:
    hb_fd: int | None = None
    last_counter, last_change, last_rss, peak = -1, started, 0.0, 0.0
    try:
        while True:
            if proc.poll() is not None:
                return JailStatus(reason="exited", peak_rss_mb=peak)
            now = time.monotonic()
            if stop["flag"] or now - started > spec.timeout:
                why = "stopped by the gate" if stop["flag"] else f"wall-clock limit of {spec.timeout:.1f}s"
                return JailStatus(reason="deadline", peak_rss_mb=peak, message=why)
            if spec.heartbeat and spec.idle_timeout:
                if hb_fd is None:
                    try:
                        hb_fd = os.open(spec.heartbeat, os.O_RDONLY)
                    except OSError:
                        hb_fd = None
                beat = heartbeat.read_beat(hb_fd) if hb_fd is not None else None
                if beat is None or beat.state != heartbeat.BUSY or beat.counter != last_counter:
                    last_counter = beat.counter if beat else -1
                    last_change = now
                else:
                    limit = min(spec.idle_timeout, beat.timeout_ms / 1000) if beat.timeout_ms else spec.idle_timeout
                    if now - last_change > limit:
                        return JailStatus(reason="hang", peak_rss_mb=peak,
                                          message=f"one input ran longer than {limit:.1f}s")
            if now - last_rss >= 0.1:
                last_rss = now
                rss, count = tree_usage(proc.pid)
                peak = max(peak, rss)
                if rss > spec.limits.memory_mb:
                    return JailStatus(reason="memory", peak_rss_mb=peak,
                                      message=f"resident memory {rss:.0f} MiB over the {spec.limits.memory_mb} MiB limit")
                if count > spec.limits.max_processes:
                    return JailStatus(reason="processes", peak_rss_mb=peak,
                                      message=f"{count} processes, over the limit of {spec.limits.max_processes} (a fork bomb)")
            time.sleep(0.02)
    finally:
        if hb_fd is not None:
            os.close(hb_fd)


def main(argv: list[str]) -> int:
    spec = JailSpec.model_validate_json(Path(argv[0]).read_bytes())
    try:
        status = supervise(spec)
    except Exception as exc:  # noqa: BLE001 - the gate must always get a status
        proctree.kill_tree(os.getpid(), include_root=False)
        status = JailStatus(reason="spawn-failed", message=f"jail error: {type(exc).__name__}: {exc}")
    tmp = Path(spec.status_path + ".tmp")
    tmp.write_text(status.model_dump_json())
    os.replace(tmp, spec.status_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
