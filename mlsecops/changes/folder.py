"""Walk a folder: every regular file, never following a symlink, never opening a FIFO."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from mlsecops.changes.artifact import Skipped

SKIP_DIRS = {".git", ".hg", ".svn"}


def walk(root: Path) -> Iterator[tuple[str, os.stat_result] | Skipped]:
    """Yield (relative posix path, lstat) for regular files, or a Skipped record.

    Symlinks are never followed (a link may point outside the workspace); special
    files (FIFOs, devices, sockets) are never opened (a FIFO would block the scan).
    """

    def onerror(exc: OSError) -> None:
        rel = os.path.relpath(exc.filename, root) if exc.filename else "."
        errors.append(Skipped(path=Path(rel).as_posix(), reason=f"unreadable directory: {exc.strerror}"))

    errors: list[Skipped] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=False):
        yield from errors
        errors.clear()
        rel_dir = Path(dirpath).relative_to(root)
        keep = []
        for d in sorted(dirnames):
            if d in SKIP_DIRS:
                continue
            full = Path(dirpath, d)
            if full.is_symlink():
                yield Skipped(path=(rel_dir / d).as_posix(), reason="symlink (not followed)")
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            rel = (rel_dir / name).as_posix()
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError as exc:
                yield Skipped(path=rel, reason=f"vanished or unreadable: {exc.strerror}")
                continue
            kind = classify_mode(st.st_mode)
            if kind is not None:
                yield Skipped(path=rel, reason=kind)
                continue
            yield rel, st
    yield from errors


def classify_mode(mode: int) -> str | None:
    """None for a regular file, else why it is skipped."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "symlink (not followed)"
    if stat.S_ISFIFO(mode):
        return "FIFO (not opened)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device file (not opened)"
    if stat.S_ISSOCK(mode):
        return "socket (not opened)"
    return "not a regular file"


def regular_file(path: Path, rel: str, skipped: list[Skipped], missing: str) -> os.stat_result | None:
    """lstat a work-tree file named by a diff or a file list; record why it is skipped when it is
    missing or not a regular file (a symlink, a FIFO...), and return None then."""
    try:
        st = os.lstat(path)
    except OSError:
        skipped.append(Skipped(path=rel, reason=missing))
        return None
    why = classify_mode(st.st_mode)
    if why:
        skipped.append(Skipped(path=rel, reason=why))
        return None
    return st
