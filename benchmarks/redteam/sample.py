"""What one red-team sample is: files, the loader that triggers it, the side effect, and why it is hard.

Every payload is harmless and local: a shell that writes `pwned.proc` in the
current folder, a file called `pwned*` written by Python, or a TCP connection to
127.0.0.1:PORT. The sandbox (`verify.py`) runs each sample in its own temp folder
and network namespace, so these names and the port never reach anything real.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Effect = Literal["process", "network", "file"]

PORT = 47913
PROC_CMD = "echo pwned > pwned.proc"
PROC_ARGV = ["sh", "-c", PROC_CMD]
PY_PROC = f"import os; os.system({PROC_CMD!r})"
PY_FILE = "open('pwned.file', 'w').write('pwned')"
PY_NET = f"import socket; socket.create_connection(('127.0.0.1', {PORT}), timeout=3).close()"


@dataclass(frozen=True)
class Sample:
    """One malicious artifact (possibly several files) and how it fires."""

    name: str
    family: str
    loader: str          # key of loaders.LOADERS
    effect: Effect
    why: str             # why it is hard for a scanner
    build: Callable[[], dict[str, bytes]] = field(repr=False)
    entry: str = ""      # the file the loader opens (default: the only file)
    fast: bool = False   # part of the pytest subset

    def files(self) -> dict[str, bytes]:
        return self.build()

    def entry_file(self, files: dict[str, bytes]) -> str:
        if self.entry:
            return self.entry
        if len(files) != 1:
            raise ValueError(f"{self.name}: several files and no entry")
        return next(iter(files))

    @property
    def folder(self) -> str:
        """Where the sample's files go inside a corpus: one folder per sample."""
        return f"{self.family}/{self.name}"
