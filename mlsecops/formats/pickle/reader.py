"""A buffered window onto part of a stream: read, peek, seek over, find a line.

The walker reads opcodes from `buf` at index `i` directly (its hot loop keeps
both in locals); everything else goes through these methods, which refill the
window in CHUNK-sized reads and seek over payloads without reading them, so a
gigabyte of tensor data costs one seek. Every read seeks first: several
windows (a nested pickle, a forked view) may share one file handle.
"""

from __future__ import annotations

from typing import BinaryIO

CHUNK = 4 << 20


class Window:
    def __init__(self, fh: BinaryIO, start: int, end: int, first_read: int = CHUNK) -> None:
        self.fh = fh
        self.end = end
        self.base = start
        self.i = 0
        fh.seek(start)
        self.buf = fh.read(max(0, min(first_read, end - start)))

    @property
    def pos(self) -> int:
        return self.base + self.i

    @property
    def left(self) -> int:
        return self.end - self.pos

    def at_eof(self) -> bool:
        return self.pos >= self.end

    def ensure(self, n: int) -> bool:
        """Make buf[i:i+n] available; False when the stream ends first (what there is stays)."""
        if self.i + n <= len(self.buf):
            return True
        file_pos = self.base + len(self.buf)
        if file_pos >= self.end:
            return False
        self.fh.seek(file_pos)
        more = self.fh.read(min(max(CHUNK, n - (len(self.buf) - self.i)), self.end - file_pos))
        self.buf = self.buf[self.i :] + more
        self.base += self.i
        self.i = 0
        return n <= len(self.buf)

    def take(self, n: int) -> bytes | None:
        """The next n bytes, or None (nothing consumed) when fewer are left."""
        if not self.ensure(n):
            return None
        out = self.buf[self.i : self.i + n]
        self.i += n
        return out

    def peek(self, n: int) -> bytes:
        self.ensure(n)
        return self.buf[self.i : self.i + n]

    def skip(self, n: int) -> bool:
        """Seek over n bytes without reading them; False (nothing consumed) past the end."""
        if n <= len(self.buf) - self.i:
            self.i += n
            return True
        target = self.pos + n
        if target > self.end:
            return False
        self.base = target
        self.buf = b""
        self.i = 0
        return True

    def line(self, max_len: int) -> tuple[bytes | None, int, bool]:
        """(line, length, ends with a newline). The line keeps its newline; at the end of
        the stream it is whatever is left. A line longer than max_len is seeked over and
        returned as None (its length and termination still known)."""
        start = self.i
        while True:
            j = self.buf.find(b"\n", start)
            if j != -1:
                out = self.buf[self.i : j + 1]
                self.i = j + 1
                return out, len(out), True
            have = len(self.buf) - self.i
            if have > max_len:
                return self._skip_line(have)
            start = len(self.buf)
            if not self.ensure(have + 1):
                out = self.buf[self.i :]
                self.i = len(self.buf)
                return out, len(out), False
            start = self.i + have

    def _skip_line(self, seen: int) -> tuple[None, int, bool]:
        length = seen
        self.i = len(self.buf)
        while True:
            if not self.ensure(1):
                return None, length, False
            j = self.buf.find(b"\n", self.i)
            if j != -1:
                length += j + 1 - self.i
                self.i = j + 1
                return None, length, True
            length += len(self.buf) - self.i
            self.i = len(self.buf)

    def read_at(self, offset: int, n: int) -> bytes:
        """n bytes at an absolute offset (for nested payloads), without moving the window."""
        self.fh.seek(offset)
        return self.fh.read(n)
