"""Let git read a checkout owned by another user, without touching any git config file.

The runner checks the repository out as its own user (uid 1001 on GitHub's
hosted runners) and the container runs as another, so git refuses the work tree
as "dubious ownership" unless it is listed in `safe.directory`. That setting is
only honoured from protected configuration; the `GIT_CONFIG_COUNT`,
`GIT_CONFIG_KEY_n`, `GIT_CONFIG_VALUE_n` variables are command-line scope, which
counts, and they reach every git the scan runs (`changes.git` passes them on)
without writing a global config into the user's HOME.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path


def trusted_dirs(root: Path, workspace: Path) -> list[str]:
    """The scan root and every folder above it up to the workspace: one of them is the top level."""
    root, workspace = root.absolute(), workspace.absolute()
    dirs = [root]
    if root != workspace and workspace in root.parents:
        for parent in root.parents:
            dirs.append(parent)
            if parent == workspace:
                break
    elif root != workspace:
        dirs.append(workspace)
    return list(dict.fromkeys(str(d) for d in dirs))


def add_safe_directories(env: MutableMapping[str, str], dirs: list[str]) -> None:
    """Append `safe.directory` entries to the GIT_CONFIG_* variables already in `env`."""
    try:
        count = int(env.get("GIT_CONFIG_COUNT", "0") or "0")
    except ValueError:
        count = 0
    for d in dirs:
        env[f"GIT_CONFIG_KEY_{count}"] = "safe.directory"
        env[f"GIT_CONFIG_VALUE_{count}"] = d
        count += 1
    env["GIT_CONFIG_COUNT"] = str(count)
