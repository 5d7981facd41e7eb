"""Start as root (GitHub requires it of container actions), scan as someone else.

GitHub runs a container action as the image's default user and documents that
it must be root, because the files the step writes to ($GITHUB_OUTPUT, the job
summary, the workspace) belong to the runner's user. Scanning untrusted model
files as root, with the host's Docker socket mounted into the container, is
more privilege than the gate needs. So the entrypoint drops root before
anything else: to the owner of the workspace (the runner's user, so outputs
and reports stay writable and the runner can clean them up later) with the
image's own group and no supplementary groups (the runner user's `docker`
group would reach the Docker socket). The same rule holds for `docker run`:
the scan runs as the owner of the working folder, so reports written into the
mount belong to the user who owns it. Only when root owns that folder (a runner
or CI job running as root) does the container stay root: a lower uid could not
write the reports the job asks for. `docker run --user UID:GID` is honoured as
is: an entrypoint that does not start as root drops nothing.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

IMAGE_GID = 10001  # the image's `mlsecops` group (user 10001 has it too)


def target_uid(folder: Path) -> int | None:
    """The uid to run as: the folder's owner; None to stay as we are (not root, or root owns it)."""
    if os.geteuid() != 0:
        return None
    try:
        owner = folder.stat().st_uid
    except OSError:
        return None
    return owner or None


def drop(uid: int, env: MutableMapping[str, str], gid: int = IMAGE_GID) -> None:
    """Become `uid` for good (no way back), and give it a writable HOME."""
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    home = env.get("HOME")
    if not home or not os.access(home, os.W_OK | os.X_OK):
        env["HOME"] = tempfile.mkdtemp(prefix="mlsecops-home-")
