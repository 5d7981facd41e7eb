"""Open a file for scanning only if it is still a regular file.

The changeset was built from `lstat`, but a path can change between that look
and the open: a file replaced by a FIFO would block the scan forever, a
symlink swapped in would send the reader outside the workspace, a device node
could have side effects on open. So the open itself never follows a final
symlink (O_NOFOLLOW), never blocks (O_NONBLOCK: a FIFO opens at once and is
then refused), and the type is checked on the open descriptor (fstat), not on
the path.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) \
    | getattr(os, "O_CLOEXEC", 0)


class NotRegularFile(OSError):
    """The path is (now) a FIFO, a device, a socket or a directory: it is never read."""


def open_regular(path: str | Path) -> tuple[BinaryIO, os.stat_result]:
    """(binary file object, fstat of it); raise OSError when the path is not a regular file."""
    try:
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegularFile(errno.ELOOP, "is a symlink (not followed)", str(path)) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(errno.EINVAL, "is no longer a regular file (not opened for reading)", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), st
    except BaseException:
        os.close(fd)
        raise
