"""Git plumbing: the diff, blob ids and blob contents, without running repository code.

Every call passes options that stop a repository's own configuration from
running programs (fsmonitor, hooks, external diff and textconv drivers): the
repository being scanned is untrusted.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SAFE_CONFIG = (
    "-c", "core.fsmonitor=false",
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.quotepath=off",
    "-c", "diff.external=",
    "-c", "protocol.file.allow=never",
)


class GitError(Exception):
    pass


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_COUNT") or k.startswith("GIT_CONFIG_KEY_") or k.startswith("GIT_CONFIG_VALUE_")}
    env.update({"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_PAGER": "cat", "GIT_OPTIONAL_LOCKS": "0"})
    return env


def run(root: Path, *args: str, timeout: float = 120, check: bool = True) -> bytes:
    try:
        proc = subprocess.run(
            ["git", *SAFE_CONFIG, "-C", str(root), *args],
            capture_output=True,
            timeout=timeout,
            env=_env(),
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} timed out after {timeout:.0f}s") from None
    if check and proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {' '.join(args[:2])}: {msg[-1] if msg else 'failed'}")
    return proc.stdout


def toplevel(path: Path) -> Path | None:
    """The work tree's top level, or None when `path` is not inside a git work tree."""
    try:
        out = run(path, "rev-parse", "--show-toplevel", timeout=30)
    except GitError:
        return None
    return Path(out.decode("utf-8", "surrogateescape").strip())


def rev_parse(root: Path, rev: str) -> str:
    if rev.startswith("-"):
        raise GitError(f"not a revision: {rev!r}")
    try:
        return run(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()
    except GitError:
        raise GitError(f"unknown revision {rev!r} (is the history fetched? try fetch-depth: 0)") from None


def diff_changes(root: Path, base: str, head: str) -> tuple[list[tuple[str, str, str | None]], list[str]]:
    """Files added/modified/renamed/copied between merge-base(base, head) and head.

    Returns ([(status letter, path, old path)], [deleted paths]); paths are relative
    to the top level.
    """
    out = run(root, "diff", "--no-ext-diff", "--no-textconv", "--name-status", "-z", "-M", "-C",
              f"{base}...{head}", "--")
    parts = out.decode("utf-8", "surrogateescape").split("\0")
    changes: list[tuple[str, str, str | None]] = []
    deleted: list[str] = []
    i = 0
    while i < len(parts) and parts[i]:
        status = parts[i][0]
        if status in "RC":
            old, new = parts[i + 1], parts[i + 2]
            changes.append((status, new, old))
            i += 3
            continue
        path = parts[i + 1]
        i += 2
        if status == "D":
            deleted.append(path)
        elif status in "AMT":
            changes.append((status, path, None))
    return changes, deleted


def merge_base(root: Path, base: str, head: str) -> str:
    return run(root, "merge-base", base, head).decode().strip()


def ls_tree(root: Path, rev: str) -> dict[str, tuple[str, str]]:
    """path (relative to the top level) -> (mode, blob id) for every file in `rev`."""
    out = run(root, "ls-tree", "-r", "-z", "--full-tree", rev)
    entries: dict[str, tuple[str, str]] = {}
    for rec in out.decode("utf-8", "surrogateescape").split("\0"):
        if not rec:
            continue
        meta, path = rec.split("\t", 1)
        mode, kind, blob = meta.split(" ")
        if kind == "blob":
            entries[path] = (mode, blob)
    return entries


def clean_index_blobs(root: Path) -> dict[str, str]:
    """Blob ids of tracked files whose work-tree content matches the index (free cache keys)."""
    out = run(root, "ls-files", "-s", "-z")
    blobs: dict[str, str] = {}
    for rec in out.decode("utf-8", "surrogateescape").split("\0"):
        if not rec:
            continue
        meta, path = rec.split("\t", 1)
        mode, blob, _stage = meta.split(" ")
        if mode != "120000":
            blobs[path] = blob
    dirty = run(root, "ls-files", "-m", "-z").decode("utf-8", "surrogateescape").split("\0")
    for path in dirty:
        blobs.pop(path, None)
    return blobs


def tracked(root: Path) -> set[str]:
    """Every path git tracks (relative to the top level)."""
    out = run(root, "ls-files", "-z")
    return {p for p in out.decode("utf-8", "surrogateescape").split("\0") if p}


def cat_blob_to(root: Path, blob: str, dest: Path, timeout: float = 600) -> None:
    """Stream a blob into `dest` without holding it in memory."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("wb") as fh:
        try:
            proc = subprocess.run(
                ["git", *SAFE_CONFIG, "-C", str(root), "cat-file", "blob", blob],
                stdout=fh, stderr=subprocess.PIPE, timeout=timeout, env=_env(), stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise GitError(f"git cat-file {blob} timed out") from None
    if proc.returncode != 0:
        raise GitError(f"git cat-file {blob}: {proc.stderr.decode('utf-8', 'replace').strip()}")


def show_file(root: Path, rev: str, path: str, limit: int = 1024 * 1024) -> bytes | None:
    """A small file's content at `rev`, or None when it does not exist there."""
    tree = run(root, "ls-tree", "-z", "--full-tree", rev, "--", path).decode("utf-8", "surrogateescape")
    if not tree.strip("\0"):
        return None
    meta = tree.split("\t", 1)[0].split(" ")
    if meta[1] != "blob":
        return None
    size = int(run(root, "cat-file", "-s", meta[2]).decode().strip())
    if size > limit:
        raise GitError(f"{path} at {rev} is larger than {limit} bytes")
    return run(root, "cat-file", "blob", meta[2])


def is_shallow(root: Path) -> bool:
    return run(root, "rev-parse", "--is-shallow-repository").decode().strip() == "true"
