"""The in-flight file: which input a sandboxed worker is executing right now.

A worker writes every input here *before* running it, with a counter that
advances on each execution. When the worker dies from a signal, is killed for
hanging or for memory, the last input is still on disk, so the crash is never
lost even though the process that saw it is gone. The jail's watchdog reads
only the 32-byte header (state and counter) to spot a hang; the gate reads the
payload afterwards. Layout: magic, state (0 idle, 1 busy), counter, slot (which
loader), the seed the input was derived from, payload length, the worker's calibrated per-input
time limit, then the payload.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

MAGIC = 0x484C534D  # "MSLH"
HEADER = struct.Struct("<IIQIIQII")
NO_PARENT = 0xFFFFFFFF
IDLE, BUSY = 0, 1


@dataclass
class Beat:
    state: int
    counter: int
    slot: int
    parent: int
    length: int
    timeout_ms: int = 0


class Writer:
    """The worker's side: one pwrite for the payload, one for the header."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self.counter = 0
        self.size = 0
        self.parent = NO_PARENT
        self.timeout_ms = 0
        self.idle()

    def begin(self, data: bytes, slot: int = 0, parent: int = NO_PARENT) -> None:
        self.counter += 1
        os.pwrite(self.fd, data, HEADER.size)
        if len(data) < self.size:
            os.ftruncate(self.fd, HEADER.size + len(data))
        self.size = len(data)
        self.parent = parent
        os.pwrite(self.fd, self._header(BUSY, slot), 0)

    def slot(self, slot: int) -> None:
        """Same input, next loader: bump the counter so a slow loader chain is not a hang."""
        self.counter += 1
        os.pwrite(self.fd, self._header(BUSY, slot), 0)

    def idle(self) -> None:
        self.parent = NO_PARENT
        os.pwrite(self.fd, self._header(IDLE, 0), 0)

    def set_timeout(self, seconds: float) -> None:
        """A calibrated per-input limit; the jail uses it when it is lower than its own."""
        self.timeout_ms = max(1, int(seconds * 1000))

    def _header(self, state: int, slot: int) -> bytes:
        return HEADER.pack(MAGIC, state, self.counter, slot, self.parent, self.size, self.timeout_ms, 0)


def read_beat(fd: int) -> Beat | None:
    """The header, or None while the worker has not written one yet."""
    try:
        raw = os.pread(fd, HEADER.size, 0)
    except OSError:
        return None
    if len(raw) < HEADER.size:
        return None
    magic, state, counter, slot, parent, length, timeout_ms, _ = HEADER.unpack(raw)
    if magic != MAGIC:
        return None
    return Beat(state=state, counter=counter, slot=slot, parent=parent, length=length, timeout_ms=timeout_ms)


def last_input(path: Path, limit: int) -> tuple[Beat, bytes] | None:
    """The header and the input that was running when the worker stopped."""
    try:
        with path.open("rb") as fh:
            beat = read_beat(fh.fileno())
            if beat is None or beat.counter == 0 or beat.length > limit:
                return None
            fh.seek(HEADER.size)
            data = fh.read(beat.length)
    except OSError:
        return None
    if len(data) != beat.length:
        return None
    return beat, data
