"""Writing outputs so that a half-written report never looks complete."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path


def atomic_write(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder, then rename over the target.

    A crash, a full disk or SIGTERM leaves either the old file or none, never a
    truncated report that a later step would upload as if it were complete.
    """
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        # /dev/null, a FIFO, /dev/stdout: never replace a special file with a regular one.
        _write_special(path, text, st)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # errors="replace": text that cannot be UTF-8 (a lone surrogate the reporters missed)
        # costs one character, never the report.
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _write_special(path: Path, text: str, st: os.stat_result) -> None:
    """Write into /dev/null, /dev/stdout or a FIFO in place. The report path may be a symlink
    a pull request committed into the workspace: it must not turn a report into a write to a
    block device, nor hang on a FIFO that nobody reads (that is an error, like a full disk)."""
    if stat.S_ISBLK(st.st_mode):
        raise OSError(errno.EPERM, "refusing to write a report into a block device", str(path))
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    os.set_blocking(fd, True)
    with os.fdopen(fd, "w", encoding="utf-8", errors="replace", newline="\n") as fh:
        fh.write(text)
