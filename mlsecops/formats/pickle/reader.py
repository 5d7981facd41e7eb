"""A buffered window onto part of a stream: read, peek, seek over, find a line.

The walker reads opcodes from `buf` at index `i` directly (its hot loop keeps
both in locals); everything else goes through these methods, which refill the
window in CHUNK-sized reads and seek over payloads without reading them, so a
gigabyte of tensor data costs one seek. Every read seeks first: several
windows (a nested pickle, a forked view) may share one file handle.

The end of the stream may be unknown (`end=None`: a stream decoded as it is read,
whose size is only known once it has been decoded). The window then learns the end
where a read first comes back short, or, when a decision needs it (a skip or a
FRAME that would reach past it), by asking the stream (`seek(0, SEEK_END)`). Such a
stream must bound itself: a read past its budget raises, and that propagates.
"""

from __future__ import annotations

import io
from typing import BinaryIO

CHUNK = 4 << 20


class Window:
    def __init__(self, fh: BinaryIO, start: int, end: int | None, first_read: int = CHUNK) -> None:
        self.fh = fh
        self.end = end  # None until the end of an open stream is known
        self.base = start
        self.i = 0
        fh.seek(start)
        want = first_read if end is None else max(0, min(first_read, end - start))
        self.buf = fh.read(want)
        if end is None and len(self.buf) < want:
            self.end = start + len(self.buf)

    @property
    def pos(self) -> int:
        return self.base + self.i

    def at_eof(self) -> bool:
        if self.i < len(self.buf):
            return False
        if self.end is not None:
            return self.pos >= self.end
        return not self.ensure(1)

    def reaches(self, pos: int) -> bool:
        """Does the stream hold at least `pos` bytes? (An open stream is read at `pos` to tell.)"""
        if self.end is not None:
            return pos <= self.end
        if pos <= self.base + len(self.buf):
            return True
        self.fh.seek(pos)
        if self.fh.read(1):
            return True
        self.end = self.fh.seek(0, io.SEEK_END)  # the stream ended: now its end is known
        return pos <= self.end

    def ensure(self, n: int) -> bool:
        """Make buf[i:i+n] available; False when the stream ends first (what there is stays)."""
        if self.i + n <= len(self.buf):
            return True
        file_pos = self.base + len(self.buf)
        if self.end is not None and file_pos >= self.end:
            return False
        want = max(CHUNK, n - (len(self.buf) - self.i))
        if self.end is not None:
            want = min(want, self.end - file_pos)
        self.fh.seek(file_pos)
        more = self.fh.read(want)
        if self.end is None and len(more) < want:
            self.end = file_pos + len(more)
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
        if not self.reaches(target):
            return False
        self.base = target
        self.buf = b""
        self.i = 0
        return True

    def skip_at_most(self, n: int) -> None:
        """Seek over n bytes, or to the end of the stream if it comes first."""
        if not self.skip(n) and self.end is not None:
            self.skip(max(0, self.end - self.pos))

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
