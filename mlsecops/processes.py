"""Linux process controls shared by the models workers and the fuzz sandbox: prctl(2),
the dumpable flag, and killing a child's whole process group."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess

PR_SET_PDEATHSIG = 1
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4


def prctl(option: int, arg: int) -> int:
    """prctl(2) with one argument; -1 where it is not available."""
    try:
        return int(ctypes.CDLL(None, use_errno=True).prctl(option, ctypes.c_ulong(arg), 0, 0, 0))
    except (OSError, AttributeError):
        return -1


def set_dumpable(on: bool) -> bool:
    """Non-dumpable: another process of the same user cannot read our /proc environ or ptrace us."""
    return prctl(PR_SET_DUMPABLE, 1 if on else 0) == 0


def is_dumpable() -> bool:
    return prctl(PR_GET_DUMPABLE, 0) == 1


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's process group (it was started in its own session), reap it, close its pipes."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    for stream in (proc.stdin, proc.stdout):
        if stream:
            try:
                stream.close()
            except OSError:
                pass
