"""Workflow commands the Action sends on purpose: add-mask, stop/resume, and plain messages.

While the scan runs, everything printed (progress, the console report, git and
pip-audit output, a fuzz target's stderr) can carry text from the pull request.
`::stop-commands::TOKEN` makes the runner ignore workflow commands until it sees
`::TOKEN::`; the token is random and printed only by us, so nothing the scan
prints can set an output, add a problem matcher or forge an annotation.
`::add-mask::` is sent first, straight to the real stdout, so the runner hides
the token in the log (it echoes that line as `::add-mask::***`).
"""

from __future__ import annotations

import secrets
from typing import TextIO

from mlsecops.action.redact import LogStream
from mlsecops.reporters.escape import annotation
from mlsecops.reporters.github import command


def add_mask(raw: TextIO, secret: str) -> None:
    raw.write(f"::add-mask::{annotation(secret, limit=10_000)}\n")
    raw.flush()


def stop(log: LogStream) -> str:
    token = f"mlsecops-{secrets.token_hex(16)}"
    log.command(f"::stop-commands::{token}")
    return token


def resume(log: LogStream, token: str) -> None:
    log.command(f"::{token}::")


def message(log: LogStream, kind: str, text: str, title: str = "mlsecops") -> None:
    """An `::error::`, `::warning::` or `::notice::` of the Action's own (escaped like any other)."""
    log.command(command(kind, text, title=title))


def group(log: LogStream, title: str) -> None:
    log.command(f"::group::{annotation(title)}")


def endgroup(log: LogStream) -> None:
    log.command("::endgroup::")
