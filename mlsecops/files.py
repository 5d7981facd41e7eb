"""Writing outputs so that a half-written report never looks complete."""

from __future__ import annotations

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
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
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
