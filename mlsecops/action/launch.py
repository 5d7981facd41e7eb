"""What the container does when it starts: the Action adapter, or the command line.

With arguments (`scan /repo`, `policy check FILE`) the container is the CLI; with
none inside GitHub Actions (GITHUB_ACTIONS=true, as the runner sets it) it is the
Action. In our image (MLSECOPS_CONTAINER=1) root is dropped first (see
`privileges`) and, for the CLI, git trusts every mounted folder, since the
container sees nothing but what the user mounted. Python is PID 1 in the
container, which ignores SIGTERM unless a handler is installed: a cancelled
job would otherwise wait for the kill timeout.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from mlsecops.action import gitenv, privileges


def _on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str]) -> int:
    signal.signal(signal.SIGTERM, _on_sigterm)
    env = os.environ
    in_image = env.get("MLSECOPS_CONTAINER") == "1"
    as_action = not argv and env.get("GITHUB_ACTIONS", "").lower() == "true"
    if in_image:
        folder = Path(env.get("GITHUB_WORKSPACE") or ".") if as_action else Path.cwd()
        if not as_action:
            gitenv.add_safe_directories(env, ["*"])
        uid = privileges.target_uid(folder)
        if uid is not None:
            privileges.drop(uid, env)
        elif os.geteuid() == 0 and (as_action or argv[:1] == ["scan"]):
            print(f"mlsecops: running as root because root owns {folder}; use `docker run --user UID:GID` "
                  "to scan as another user", file=sys.stderr)
    if as_action:
        from mlsecops.action.main import run

        return run()
    from mlsecops.cli import main as cli_main

    if not argv:
        print("mlsecops: no command. Outside GitHub Actions, run e.g. `scan /repo` or `policy check FILE`.",
              file=sys.stderr)
    return cli_main(list(argv))
