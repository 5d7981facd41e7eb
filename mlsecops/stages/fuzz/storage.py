"""Safe folders under PATH for what the stage keeps: the corpus cache and the reproducers.

Both live inside the scanned checkout, which is untrusted: a pull request can
commit a symlink where we are about to write. So a folder is used only when it
resolves inside PATH with no symlink on the way, files are created with
O_EXCL|O_NOFOLLOW through a temp name, and only regular files are ever read
back (a committed symlink in the corpus would otherwise feed any file the
gate can read into the fuzzer, and from there into a reproducer).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class UnsafeFolder(Exception):
    pass


def safe_folder(root: Path, relative: str) -> Path:
    """`root/relative`, created if missing; refused if it escapes root or crosses a symlink."""
    rel = Path(relative)
    if rel.is_absolute() or ".." in rel.parts:
        raise UnsafeFolder(f"{relative!r} must be a path inside the scanned folder")
    current = root.resolve()
    for part in rel.parts:
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            current.mkdir(mode=0o755)
            continue
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            raise UnsafeFolder(f"{relative!r}: {current.name} is a symlink or not a folder")
    return current


def write_file(folder: Path, name: str, data: bytes) -> Path:
    """Write `folder/name` atomically, never following a symlink at the destination."""
    if "/" in name or name in ("", ".", ".."):
        raise UnsafeFolder(f"bad file name {name!r}")
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        dest = folder / name
        if dest.is_symlink():
            dest.unlink()
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def regular_files(folder: Path) -> list[Path]:
    """Regular files directly in `folder` (symlinks and anything else skipped)."""
    out = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return out
    for entry in entries:
        if entry.is_file(follow_symlinks=False) and not entry.name.startswith("."):
            out.append(Path(entry.path))
    return sorted(out)
