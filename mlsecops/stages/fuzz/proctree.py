"""Find and kill every descendant of a process, fork bombs included, using /proc only.

A process group is not enough: untrusted code can call setsid() and leave it.
What it cannot leave is the parent chain, as long as an ancestor is a child
subreaper (PR_SET_CHILD_SUBREAPER): orphans are re-parented to that ancestor
instead of to init. So killing a sandbox means: walk /proc for everything whose
chain leads to the sandbox root, stop it all (a stopped process cannot fork),
walk again until nothing new appears, then SIGKILL the lot.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time

from mlsecops.processes import prctl

PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37


def _parents() -> dict[int, int]:
    """pid -> ppid for every live process visible in /proc (zombies are already dead)."""
    out: dict[int, int] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                raw = fh.read(512)
        except OSError:
            continue
        # The command name may contain spaces and parentheses: split after the last ')'.
        rest = raw[raw.rfind(b")") + 2 :].split()
        if len(rest) >= 2 and rest[0] not in (b"Z", b"X"):
            out[int(name)] = int(rest[1])
    return out


def descendants(root: int) -> list[int]:
    """Every live process below `root` (not `root` itself), parents before children."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parents().items():
        children.setdefault(ppid, []).append(pid)
    found: list[int] = []
    todo = [root]
    seen = {root}
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in seen:
                seen.add(child)
                found.append(child)
                todo.append(child)
    return found


def children(pid: int) -> list[int]:
    return [p for p, pp in _parents().items() if pp == pid]


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill_tree(root: int, include_root: bool = True, limit: float = 3.0) -> int:
    """Stop, then kill, everything below `root` (and `root`). Returns how many were killed."""
    deadline = time.monotonic() + limit
    stopped: set[int] = set()
    while time.monotonic() < deadline:
        fresh = [p for p in descendants(root) if p not in stopped]
        if not fresh:
            break
        for pid in fresh:
            _signal(pid, signal.SIGSTOP)
            stopped.add(pid)
    victims = list(stopped) + ([root] if include_root else [])
    for pid in victims:
        _signal(pid, signal.SIGKILL)
    _reap(victims)
    # Anything forked between the last walk and the kills is a child of a killed process.
    while time.monotonic() < deadline:
        rest = descendants(root)
        if not rest:
            break
        for pid in rest:
            _signal(pid, signal.SIGKILL)
        _reap(rest)
        time.sleep(0.01)
    return len(victims)


def _reap(pids: list[int]) -> None:
    """Collect those of `pids` that are our own children (others are reaped by their parent)."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


def reap_children(timeout: float = 1.0) -> None:
    """Collect exit statuses of our own children (the jail, a subreaper, has many)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() > deadline:
                return
            time.sleep(0.005)


def set_subreaper(on: bool) -> bool:
    return prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0) == 0


def is_subreaper() -> bool:
    value = ctypes.c_int(0)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(value), 0, 0, 0)
    except OSError:
        return False
    return bool(value.value)
