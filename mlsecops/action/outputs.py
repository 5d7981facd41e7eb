"""The runner's file commands: `$GITHUB_OUTPUT` (step outputs) and `$GITHUB_STEP_SUMMARY`.

Outputs use the heredoc form `name<<DELIMITER` with a random delimiter, the
runner's safe syntax for any value (a value cannot contain the delimiter line,
so it cannot set another output). The job summary is Markdown appended to the
step's summary file; GitHub refuses a step summary over 1 MiB, so the text is
shrunk to fit what is left of that budget, measured in bytes.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

SUMMARY_LIMIT_BYTES = 1024 * 1024
_SAFETY_BYTES = 4 * 1024


class OutputError(Exception):
    """A file command could not be written."""


def heredoc(name: str, value: str) -> str:
    """`name<<DELIM\\nvalue\\nDELIM\\n` with a delimiter that does not occur in the value."""
    if not name or any(c in name for c in "\r\n=<"):
        raise OutputError(f"not an output name: {name!r}")
    value = value.replace("\r\n", "\n")
    while True:
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        if delimiter not in value:
            break
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def write_outputs(path: Path, values: Mapping[str, str]) -> None:
    """Append the outputs to $GITHUB_OUTPUT."""
    text = "".join(heredoc(k, v) for k, v in values.items())
    try:
        with path.open("a", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    except OSError as exc:
        raise OutputError(f"cannot write the step outputs to {path}: {exc.strerror or exc}") from None


def summary_budget(path: Path) -> int:
    """Bytes this step may still append to its summary."""
    try:
        used = path.stat().st_size
    except OSError:
        used = 0
    return max(SUMMARY_LIMIT_BYTES - used - _SAFETY_BYTES, 0)


def fit(render: Callable[[int], str], budget_bytes: int) -> str:
    """Render with a character limit that makes the UTF-8 text fit `budget_bytes`."""
    limit = budget_bytes
    text = render(limit)
    for _ in range(6):
        size = len(text.encode("utf-8"))
        if size <= budget_bytes:
            return text
        limit = max(int(limit * budget_bytes / size * 0.95), 200)
        text = render(limit)
    return text.encode("utf-8")[:budget_bytes].decode("utf-8", "ignore")


def append_summary(path: Path, text: str) -> None:
    try:
        with path.open("a", encoding="utf-8", newline="\n") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write the job summary to {path}: {exc.strerror or exc}") from None
