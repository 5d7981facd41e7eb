"""Report files written into the scanned checkout: never through a link the pull request committed.

The SARIF file and the comment file (the Action's, or the CLI's `--sarif`/`--json`/`--markdown`
run in CI) usually live in the checkout, so a pull request can commit a
symbolic link at either path. Followed, a link to `/dev/stdout` put the JSON report into the
step's log after workflow commands were resumed (a file name holding `##[...]` became a command),
and reading the SARIF back to scrub it opened the log pipe for reading and hung the job. So
before the scan every such path that is a link (or a stale report) is removed, reports are
written by atomic rename (a new regular file), and a file is read back only when it is a
regular file, opened without following links. Paths outside the checkout (`/dev/stdout`
named by the workflow itself) are the workflow's choice and are left alone.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from mlsecops.files import atomic_write


def _inside(workspace: Path, path: Path) -> bool:
    try:
        Path(os.path.abspath(path)).relative_to(os.path.abspath(workspace))
    except ValueError:
        return False
    return True


def clear(workspace: Path, paths: list[Path]) -> None:
    """Remove links and stale regular files at the report paths inside the workspace."""
    for path in paths:
        if not _inside(workspace, path):
            continue
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode) or stat.S_ISREG(st.st_mode):
            try:
                os.unlink(path)
            except OSError:
                pass  # unwritable: the write at the end reports it


def write_text(workspace: Path, path: Path, text: str) -> None:
    """Write a report file; inside the workspace, a link at `path` is replaced, never followed.
    Raises OSError."""
    if _inside(workspace, path) and os.path.islink(path):
        os.unlink(path)
    atomic_write(path, text)


def read_regular(path: Path, limit: int = 1 << 30) -> bytes | None:
    """The bytes of a regular file, or None for a link, a FIFO, a device or anything unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            return None
        return fh.read(limit)
