"""Path globs as users write them in policies: `*` stays in one directory, `**` crosses them.

fnmatch lets `*` cross `/`, which makes `models/*.pkl` match `models/a/b.pkl`;
a waiver must not silently cover more than its author meant.
"""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    if pattern.startswith("/"):
        pattern = pattern[1:]
    # A pattern with no slash matches at any depth, like .gitignore.
    anchored = "/" in pattern.rstrip("/")
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            if pattern[i : i + 3] == "**/":
                out.append("(?:.*/)?")
                i += 3
                continue
            if pattern[i : i + 2] == "**":
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    body = "".join(out)
    if pattern.endswith("/"):
        body += ".*"
    prefix = "" if anchored else "(?:.*/)?"
    return re.compile(f"^{prefix}{body}$", re.DOTALL)


def match(path: str, pattern: str) -> bool:
    """True when the repo-relative posix `path` matches `pattern`."""
    return _compile(pattern).match(path) is not None


def match_any(path: str, patterns: list[str] | tuple[str, ...]) -> bool:
    return any(match(path, p) for p in patterns)
