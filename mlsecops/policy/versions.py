"""Read one version of the policy file (a commit's, or the work tree's) the way a run would see it,
following symbolic links only inside the repository.

A pull request controls its own tree: it can turn `.mlsecops.yml` into a link to a file it adds,
or to a policy outside the repository (the shipped `audit-only.yml` of the installed gate). So a
version is read by walking the path one component at a time, in git's tree at a commit or with
`lstat`/`readlink` in the work tree, following a link only while its target stays inside the
repository (at most `MAX_LINKS` links). A link that leaves it, a loop, a folder or a file larger
than the policy limit cannot be read: that is `Unreadable`, never the content behind the link.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from mlsecops.changes import git
from mlsecops.policy.loader import MAX_POLICY_BYTES

MAX_LINKS = 8

Entry = tuple[str, str]
"""(kind, link target): kind is 'dir', 'file', 'link' or 'other'; the target only for a link."""


class Unreadable(Exception):
    """The version cannot be read as a policy; `str()` says why, as a phrase ('is a link ...')."""


def _walk(rel: str, entry: Callable[[str], Entry | None]) -> str | None:
    """The repository path `rel` leads to, or None when nothing is there."""
    todo = [p for p in rel.split("/")]
    done: list[str] = []
    links = 0
    while todo:
        name = todo.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            if not done:
                raise Unreadable("is a symbolic link that leads outside the repository")
            done.pop()
            continue
        here = "/".join([*done, name])
        found = entry(here)
        if found is None:
            return None
        kind, target = found
        if kind == "link":
            links += 1
            if links > MAX_LINKS:
                raise Unreadable(f"goes through more than {MAX_LINKS} symbolic links")
            if target.startswith("/"):
                raise Unreadable(f"is a symbolic link to an absolute path ({target[:200]}), outside the repository")
            todo = target.split("/") + todo
            continue
        if kind != "dir" and todo:
            return None  # a file in the middle of the path: nothing is there
        done.append(name)
    return "/".join(done)


def _final(rel: str, entry: Callable[[str], Entry | None]) -> Entry | None:
    """The entry `rel` leads to when it is a file; None when nothing is there. Raises Unreadable."""
    final = _walk(rel, entry)
    found = entry(final) if final is not None else None
    if found is not None and found[0] != "file":
        raise Unreadable("is not a regular file")
    return found


def at_commit(top: Path, rev: str, rel: str) -> bytes | None:
    """The file's content at commit `rev` (None: no such file). Raises Unreadable, git.GitError."""

    def entry(path: str) -> Entry | None:
        out = git.run(top, "ls-tree", "-z", "--full-tree", rev, "--", path).decode("utf-8", "surrogateescape")
        rec = out.split("\0", 1)[0]
        if not rec or "\t" not in rec:
            return None
        mode, kind, blob = rec.split("\t", 1)[0].split(" ")
        if mode == "120000":
            return "link", git.run(top, "cat-file", "blob", blob).decode("utf-8", "surrogateescape")
        return ("dir", "") if kind == "tree" else ("file", blob) if kind == "blob" else ("other", "")

    found = _final(rel, entry)
    if found is None:
        return None
    size = int(git.run(top, "cat-file", "-s", found[1]).decode().strip())
    if size > MAX_POLICY_BYTES:
        raise Unreadable("is larger than 1 MiB")
    return git.run(top, "cat-file", "blob", found[1])


def in_worktree(top: Path, rel: str) -> bytes | None:
    """The file's content in the work tree under `top` (None: no such file). Raises Unreadable."""

    def entry(path: str) -> Entry | None:
        try:
            st = os.lstat(top / path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise Unreadable(f"cannot be read ({exc.strerror or exc})") from None
        if stat.S_ISLNK(st.st_mode):
            return "link", os.readlink(top / path)
        return ("dir", "") if stat.S_ISDIR(st.st_mode) else ("file", "") if stat.S_ISREG(st.st_mode) else ("other", "")

    final = _walk(rel, entry)
    if final is None or _final(final, entry) is None:
        return None
    try:
        fd = os.open(top / final, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise Unreadable(f"cannot be read ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(MAX_POLICY_BYTES + 1)
    if len(data) > MAX_POLICY_BYTES:
        raise Unreadable("is larger than 1 MiB")
    return data
