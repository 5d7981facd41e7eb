"""Keep the token out of everything the Action writes: logs, files, comment text, error messages.

`::add-mask::` makes the runner hide the token in the log, but only in the log
and only once the runner has read that line; files (SARIF, the summary, the
outputs) and API error texts are not masked by anyone. So every text the
Action writes passes through a `Redactor`, and stdout/stderr are wrapped in a
`LogStream` that also makes untrusted text inert as workflow commands.
"""

from __future__ import annotations

import base64
import re
from typing import TextIO

from mlsecops.reporters.escape import inert_log

MASK = "***"
# Token shapes GitHub issues (classic, fine-grained, app installation, OAuth, refresh).
_TOKEN_SHAPES = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})\b")


class Redactor:
    """Replaces each secret (and its Basic-auth base64 forms) with `***`."""

    def __init__(self, *secrets: str | None) -> None:
        values: set[str] = set()
        for secret in secrets:
            if not secret or len(secret) < 4:
                continue
            values.add(secret)
            for user in ("x-access-token", "x-oauth-basic", ""):
                values.add(base64.b64encode(f"{user}:{secret}".encode()).decode())
        # Longest first, so a secret contained in another is not half-replaced.
        self._values = sorted(values, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, MASK)
        return _TOKEN_SHAPES.sub(MASK, text)

    def bytes(self, data: bytes) -> bytes:
        for value in self._values:
            raw = value.encode()
            if raw in data:
                data = data.replace(raw, MASK.encode())
        return data


class LogStream:
    """A text stream for the job log: secrets masked, workflow commands made inert.

    `command()` writes a workflow command on purpose (still redacted); `write()`
    is for everything else, which is treated as untrusted.
    """

    def __init__(self, raw: TextIO, redact: Redactor) -> None:
        self._raw = raw
        self._redact = redact
        self._line_start = True

    def write(self, text: str) -> int:
        if not text:
            return 0
        self._raw.write(self._redact(inert_log(text)))
        self._line_start = text.endswith("\n")
        return len(text)

    def command(self, line: str) -> None:
        if not self._line_start:
            self._raw.write("\n")
        self._raw.write(self._redact(line.rstrip("\n")) + "\n")
        self._raw.flush()
        self._line_start = True

    def flush(self) -> None:
        self._raw.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._raw.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._raw, "encoding", "utf-8")
