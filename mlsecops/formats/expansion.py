"""A decompressed stream as a seekable file, decoded only as far as it is read.

A compressed model (a joblib dump, a gzipped pickle, a deflated zip member) used to
be expanded whole into a temporary file before anything looked at it: a 10 MB gzip of
zeros cost 4 GiB of disk and half a minute. `Expansion` decodes lazily instead: a read
decodes up to the end of what was asked; a seek forward over a large payload (tensor
or array data the pickle walker steps over) decodes and discards it, keeping only its
first few MiB, so nothing that need not be kept is written. What was kept lives in one
sparse temporary file; reading inside a discarded stretch decodes again from the start
(correct, and counted like any other decoding).

Every decoded byte is accounted to the file's expansion budget, and past
`ratio_floor` bytes a stream that has expanded more than `max_ratio` times what it
consumed is stopped as a bomb: the worst a stream can cost is
`max(ratio_floor, max_ratio x compressed size)` bytes of decoding, and never more
than the budget.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from pathlib import Path

from mlsecops.formats.codecs import CodecError, Counting, Decoder

MB = 1 << 20
STEP = MB                  # bytes decoded per decoder call
HOLE_MIN = 16 * MB         # shorter skips are kept: re-reading them must stay cheap
HOLE_KEEP = 4 * MB + 64 * 1024   # the head of a skipped stretch is kept (the pickle walker refills 4 MiB)
RATIO_FLOOR = 64 * MB


class ExpansionLimit(Exception):
    """The stream expands past its budget or beyond any plausible compression ratio."""


Opener = Callable[[], "tuple[Decoder, Counting]"]


class Expansion(io.RawIOBase):
    def __init__(self, opener: Opener, spill: Path, account: Callable[[int], None], limit: int,
                 max_ratio: int, ratio_floor: int = RATIO_FLOOR, crc: bool = False) -> None:
        self._opener = opener
        self._decoder, self._counter = opener()
        self._spill_path = spill
        self._spill: io.BufferedRandom | None = None
        self._account = account
        self.limit = limit
        self.max_ratio = max_ratio
        self.ratio_floor = ratio_floor
        self.frontier = 0                     # bytes decoded so far by the main decoder
        self.eof = False
        self.holes: list[tuple[int, int]] = []
        self.track_crc = crc
        self.crc = 0                          # CRC-32 of everything decoded, in order (when tracked)
        self.redecoded = 0
        self.error: str | None = None         # why decoding stopped early (corrupt or truncated data)
        self._pos = 0

    # -- io.RawIOBase ------------------------------------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        else:
            self.fill(self.limit + 1, keep=False)
            pos = self.frontier + offset
        self._pos = max(0, pos)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self.limit + 1 - self._pos
        if size <= 0:
            return b""
        start, stop = self._pos, self._pos + size
        if stop > self.frontier and not self.eof:
            if start > self.frontier:
                self.fill(start, keep=False)
            self.fill(stop, keep=True)
        stop = min(stop, self.frontier)
        if stop <= start:
            return b""
        if any(a < stop and start < b for a, b in self.holes):
            self._redecode(start, stop)
        assert self._spill is not None
        self._spill.seek(start)
        data = self._spill.read(stop - start)
        self._pos += len(data)
        return data

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self._spill is not None:
            self._spill.close()
            self._spill = None
            self._spill_path.unlink(missing_ok=True)
        super().close()

    # -- decoding ----------------------------------------------------------
    @property
    def size(self) -> int | None:
        """The decompressed size, once the stream has been decoded to its end."""
        return self.frontier if self.eof else None

    @property
    def damage(self) -> list[str]:
        """Checksum mismatches met after the data they cover was delivered (as loaders deliver it)."""
        return list(getattr(self._decoder, "damage", []))

    @property
    def consumed(self) -> int:
        return self._counter.consumed

    def fill(self, target: int, keep: bool) -> None:
        """Decode until `target` bytes are decoded or the stream ends. A skipped stretch
        (keep=False) keeps its first HOLE_KEEP bytes; the rest is a hole unless short."""
        gap_start = self.frontier
        keep_until = target if keep else (target if target - gap_start < HOLE_MIN + HOLE_KEEP else gap_start + HOLE_KEEP)
        while self.frontier < target and not self.eof:
            want = min(STEP, target - self.frontier)
            try:
                chunk = self._decoder.read(want)
            except CodecError as exc:
                self.error = str(exc) or "corrupt data"
                self.eof = True
                break
            if not chunk:
                self.eof = True
                break
            self._check(len(chunk))
            if self.track_crc:
                self.crc = zlib.crc32(chunk, self.crc)
            start = self.frontier
            self.frontier += len(chunk)
            if start < keep_until:
                self._write(start, chunk[: keep_until - start])
            if self.frontier > keep_until:
                hole_start = max(start, keep_until)
                if self.holes and self.holes[-1][1] == hole_start:
                    self.holes[-1] = (self.holes[-1][0], self.frontier)
                else:
                    self.holes.append((hole_start, self.frontier))

    def materialize(self) -> int:
        """Decode and keep everything; the decompressed size."""
        self.fill(self.limit + 1, keep=True)
        if not self.eof:
            raise ExpansionLimit(f"expands past {self.limit} bytes")
        if self.holes:
            self._redecode(0, self.frontier)
        return self.frontier

    def _check(self, n: int) -> None:
        self._account(n)
        produced = self.frontier + n
        if produced > self.limit:
            raise ExpansionLimit(f"expands past {self.limit} bytes")
        consumed = max(1, self._counter.consumed)
        if produced > self.ratio_floor and produced > self.max_ratio * consumed:
            raise ExpansionLimit(
                f"expands more than {self.max_ratio}:1 ({produced >> 20} MiB from {consumed:,} bytes): "
                "a decompression bomb")

    def _write(self, offset: int, data: bytes) -> None:
        if self._spill is None:
            self._spill = self._spill_path.open("w+b")
        self._spill.seek(offset)
        self._spill.write(data)

    def _redecode(self, start: int, stop: int) -> None:
        """Fill discarded stretches of [start, stop) by decoding again from the beginning."""
        decoder, _ = self._opener()
        pos = 0
        while pos < stop:
            try:
                chunk = decoder.read(min(STEP, stop - pos))
            except CodecError:
                break
            if not chunk:
                break
            self._account(len(chunk))
            self.redecoded += len(chunk)
            end = pos + len(chunk)
            for a, b in self.holes:
                lo, hi = max(a, pos, start), min(b, end, stop)
                if lo < hi:
                    self._write(lo, chunk[lo - pos : hi - pos])
            pos = end
        filled = (start, min(stop, pos))
        kept: list[tuple[int, int]] = []
        for a, b in self.holes:
            if b <= filled[0] or a >= filled[1]:
                kept.append((a, b))
                continue
            if a < filled[0]:
                kept.append((a, filled[0]))
            if b > filled[1]:
                kept.append((filled[1], b))
        self.holes = kept
