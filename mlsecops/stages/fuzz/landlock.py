"""Landlock: an unprivileged, kernel-enforced allowlist for what a sandboxed process may touch.

Applied just before a sandbox worker execs (no root, no user namespace needed;
Linux 5.13+): reads only below the listed paths (the Python install, the
repository without its `.git`, system libraries), writes only in the worker's
own temp folder; on ABI 4+ no TCP connect or bind; on ABI 6+ no signals to, and
no abstract Unix sockets of, processes outside the sandbox (the gate, the jail).
A domain is inherited by every child and cannot be lifted. Where the kernel or
a seccomp profile (Docker's default) refuses it, `restrict` returns 0 and the
caller records that the sandbox ran without it.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct

_SYSCALLS = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446), "arm64": (444, 445, 446)}
PR_SET_NO_NEW_PRIVS = 38
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1

FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13
FS_TRUNCATE = 1 << 14
FS_IOCTL_DEV = 1 << 15
NET_BIND_TCP = 1 << 0
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1

_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
READ = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
WRITE = READ | FS_WRITE_FILE | FS_REMOVE_DIR | FS_REMOVE_FILE | FS_MAKE_DIR | FS_MAKE_REG | FS_MAKE_SYM | FS_MAKE_FIFO \
    | FS_MAKE_SOCK | FS_REFER | FS_TRUNCATE


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def abi() -> int:
    """The kernel's Landlock ABI version, 0 when unavailable (or blocked by seccomp)."""
    nums = _SYSCALLS.get(platform.machine())
    libc = _libc()
    if nums is None or libc is None:
        return 0
    version = libc.syscall(nums[0], None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    return max(0, int(version))


def _handled_fs(version: int) -> int:
    mask = (1 << 13) - 1
    if version >= 2:
        mask |= FS_REFER
    if version >= 3:
        mask |= FS_TRUNCATE
    if version >= 5:
        mask |= FS_IOCTL_DEV
    return mask


def restrict(read: list[str], write: list[str], deny_tcp: bool = True) -> int:
    """Confine this process (and its future children). Returns the ABI used, 0 if not applied.

    Paths that do not exist are skipped. Call it in the child right before exec.
    """
    version = abi()
    nums = _SYSCALLS.get(platform.machine())
    libc = _libc()
    if version <= 0 or nums is None or libc is None:
        return 0
    handled = _handled_fs(version)
    if version >= 6:
        attr = struct.pack("<QQQ", handled, NET_BIND_TCP | NET_CONNECT_TCP if deny_tcp else 0,
                           SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL)
    elif version >= 4:
        attr = struct.pack("<QQ", handled, NET_BIND_TCP | NET_CONNECT_TCP if deny_tcp else 0)
    else:
        attr = struct.pack("<Q", handled)
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = libc.syscall(nums[0], buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        return 0
    try:
        for paths, rights in ((read, READ), (write, WRITE)):
            for path in paths:
                _add(libc, nums[1], ruleset, path, rights & handled)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return 0
        if libc.syscall(nums[2], ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            return 0
    finally:
        os.close(ruleset)
    return version


def _add(libc: ctypes.CDLL, nr: int, ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            rights &= _FILE_RIGHTS
        attr = struct.pack("<Qi", rights, fd)
        buf = ctypes.create_string_buffer(attr, len(attr))
        libc.syscall(nr, ctypes.c_int(ruleset), ctypes.c_int(RULE_PATH_BENEATH), buf, ctypes.c_uint32(0))
    finally:
        os.close(fd)
