"""Make a shallow checkout deep enough for `git diff base...head`, or say it cannot.

actions/checkout fetches one commit by default. The three-dot diff needs both
commits and their merge base, so when any is missing the Action fetches the two
commits by id from `origin` with a growing `--depth` (a few tries, each with a
timeout). The fetch uses the checkout's own remote and credentials and never
runs repository code (git runs with the safe options of `changes.git`). When it
still cannot diff, the caller falls back to the list of changed files from the
REST API.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlsecops.changes import git

DEPTHS = (50, 500, 5000)
FETCH_TIMEOUT = 120.0


def has_commit(top: Path, rev: str) -> bool:
    try:
        git.rev_parse(top, rev)
    except git.GitError:
        return False
    return True


def can_diff(top: Path, base: str, head: str) -> bool:
    """Both commits are here and so is a merge base of the two."""
    if not (has_commit(top, base) and has_commit(top, head)):
        return False
    try:
        return bool(git.merge_base(top, git.rev_parse(top, base), git.rev_parse(top, head)))
    except git.GitError:
        return False


def _has_origin(top: Path) -> bool:
    try:
        return "origin" in git.run(top, "remote", timeout=30).decode("utf-8", "replace").split()
    except git.GitError:
        return False


def ensure(top: Path, base: str, head: str, log: Callable[[str], None], first_depth: int | None = None) -> bool:
    """True when `base...head` can be diffed, fetching from origin if needed."""
    if can_diff(top, base, head):
        return True
    if not _has_origin(top):
        log("the history needed for the diff is missing and the repository has no 'origin' remote to fetch it from")
        return False
    wanted = [rev for rev in (base, head) if _looks_like_sha(rev)]
    if not wanted:
        log(f"cannot fetch {base!r}/{head!r} by name from a shallow clone; use commit ids or fetch-depth: 0")
        return False
    depths = ([first_depth] if first_depth else []) + [d for d in DEPTHS if not first_depth or d > first_depth]
    for depth in depths:
        log(f"the checkout is too shallow for {base[:12]}...{head[:12]}: fetching {len(wanted)} commit(s) with --depth={depth}")
        try:
            git.run(top, "fetch", "--no-tags", "--no-recurse-submodules", "--quiet", f"--depth={depth}",
                    "origin", *wanted, timeout=FETCH_TIMEOUT)
        except git.GitError as exc:
            log(f"git fetch failed: {exc}")
            return False
        if can_diff(top, base, head):
            log(f"fetched enough history (depth {depth}) for the diff")
            return True
    log(f"no merge base of {base[:12]} and {head[:12]} within depth {depths[-1]}")
    return False


def _looks_like_sha(rev: str) -> bool:
    return 7 <= len(rev) <= 64 and all(c in "0123456789abcdefABCDEF" for c in rev)
