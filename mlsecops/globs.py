"""Path globs as users write them in policies: gitignore's syntax and meaning, matched by pathspec.

One well-kept matcher (pathspec's `GitIgnoreSpec`, which follows git's own wildmatch) instead
of a hand-written one, so `*`, `**`, `[...]`, anchoring and `!` mean what they mean in a
`.gitignore` (docs/policy.md has the table). Patterns are checked when the policy loads
(`problem`): one that cannot compile, or that gitignore would silently drop (a `#` comment, an
unclosed `[`), is an error there, never a crash or a no-op in the middle of a scan.
"""

from __future__ import annotations

from functools import lru_cache

import pathspec
from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

_PROBE = "a/b.c"


def problem(pattern: str, negation: bool = True) -> str | None:
    """Why `pattern` is not a usable glob, or None. `negation=False` for a single glob (a waiver's
    path), where a leading `!` could only ever match nothing."""
    if pattern != pattern.strip():
        return "leading or trailing spaces (gitignore drops trailing ones; quote what you mean without them)"
    if not pattern:
        return "an empty pattern matches nothing"
    if pattern.startswith("#"):
        return "starts with '#', a comment in gitignore syntax that matches nothing (write '\\#' for a literal '#')"
    if pattern.startswith("!") and not negation:
        return "a single glob cannot be a negation ('!' only re-includes within a list of patterns)"
    try:
        compiled = GitIgnoreSpecPattern(pattern)
        if compiled.include is not None:
            compiled.match_file(_PROBE)
    except Exception as exc:  # noqa: BLE001 - re.error, GitIgnorePatternError, whatever pathspec raises
        return f"does not compile: {getattr(exc, 'msg', None) or exc}"
    if compiled.include is None:
        return "gitignore drops this pattern (an unclosed '[' or nothing but '/'), so it would match nothing"
    return None


def list_problem(patterns: list[str] | tuple[str, ...]) -> str | None:
    """A list whose patterns are all negations matches nothing; say so instead of ignoring it."""
    if patterns and all(p.startswith("!") for p in patterns):
        return "every pattern is a negation ('!'), so the list matches nothing; put what to match before what to re-include"
    return None


@lru_cache(maxsize=1024)
def _spec(patterns: tuple[str, ...]) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines(patterns)


def match(path: str, pattern: str) -> bool:
    """True when the repo-relative posix `path` matches the one glob `pattern`."""
    return _spec((pattern,)).match_file(path)


def match_any(path: str, patterns: list[str] | tuple[str, ...]) -> bool:
    """True when `path` matches the list as git reads a .gitignore: the last matching pattern
    decides, so `!pattern` re-includes what an earlier pattern matched."""
    if not patterns:
        return False
    return _spec(tuple(patterns)).match_file(path)
