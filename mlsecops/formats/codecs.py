"""Decoders for every single-stream compression a model loader opens.

joblib registers zlib, gzip, bz2, lzma, xz and lz4 (`joblib.compressor._COMPRESSORS`)
and still reads its pre-0.10 `ZF` files (`numpy_pickle_compat.read_zfile`); pandas'
`read_pickle` opens gzip, bz2, xz (which also reads `.lzma` streams), zstd, zip and tar
(`pandas.io.common.get_handle`); zip members use deflate, bzip2, LZMA, zstd or xz.
Each decoder reads its source forward only and returns at most `n` bytes per call,
so a bomb is never held in memory at once. A codec whose library is missing raises
`CodecUnavailable` (the caller fails closed); corrupt data raises `CodecError`.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import zlib
from collections.abc import Callable
from typing import BinaryIO, Protocol

ZFILE_PREFIX = b"ZF"
ZFILE_HEADER = len(ZFILE_PREFIX) + len(f"{2**64:#x}")  # joblib's _ZFILE_PREFIX + _MAX_LEN


class CodecUnavailable(Exception):
    """The library that decodes this codec is not installed."""


class CodecError(Exception):
    """The compressed data is corrupt."""


class Decoder(Protocol):
    def read(self, n: int) -> bytes: ...


READ = 1 << 14  # compressed bytes handed to a decoder at a time: what it consumed is known to this much


class Counting:
    """A forward reader over the compressed source that counts what the decoder consumed
    (read-ahead included, so reads are kept small: a bomb's ratio is measured, not guessed)."""

    def __init__(self, fh: BinaryIO, start: int = 0, end: int | None = None) -> None:
        self.fh, self.pos, self.end = fh, start, end
        self.consumed = 0

    def read(self, n: int = -1) -> bytes:
        left = None if self.end is None else max(0, self.end - self.pos)
        if n is None or n < 0:
            n = left if left is not None else 1 << 62
        if left is not None:
            n = min(n, left)
        if n <= 0:
            return b""
        self.fh.seek(self.pos)
        data = self.fh.read(min(n, READ))
        self.pos += len(data)
        self.consumed += len(data)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def tell(self) -> int:
        return self.pos

    def close(self) -> None:
        return None

    @property
    def closed(self) -> bool:
        return False


class _Chunked:
    """A decompressobj-style decoder (zlib, raw deflate, bz2, lzma) behind read(n)."""

    def __init__(self, source: Counting, make: Callable[[], object], single: bool = True, chunk: int = READ) -> None:
        self.source, self.make, self.single, self.chunk = source, make, single, chunk
        self.d = make()
        self.pending = b""
        self.done = False
        self.streams = 1
        self.produced_in_stream = 0

    def _next_stream(self) -> bool:
        """bz2 and xz files may hold several streams back to back (BZ2File and LZMAFile read
        them all); whatever follows that is not a stream ends the data, as it does for them."""
        rest = self.d.unused_data  # type: ignore[attr-defined]
        if self.single:
            return False
        if not rest:
            rest = self.source.read(self.chunk)
            if not rest:
                return False
        self.d = self.make()
        self.pending = rest
        self.streams += 1
        self.produced_in_stream = 0
        return True

    def _decompress(self, data: bytes, n: int) -> bytes:
        d = self.d
        try:
            if hasattr(d, "unconsumed_tail"):
                return d.decompress(data, n)  # type: ignore[attr-defined,no-any-return]
            return d.decompress(data, max_length=n)  # type: ignore[attr-defined,no-any-return]
        except (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError) as exc:
            if self.streams > 1 and self.produced_in_stream == 0:
                self.done = True  # trailing bytes after the last stream: the loaders stop there too
                return b""
            raise CodecError(str(exc)) from None

    def read(self, n: int) -> bytes:
        while not self.done:
            d = self.d
            if getattr(d, "eof", False):
                if not self._next_stream():
                    self.done = True
                continue
            tail = getattr(d, "unconsumed_tail", b"")
            if tail:
                data = tail
            elif self.pending:
                data, self.pending = self.pending, b""
            elif getattr(d, "needs_input", True) is False:
                data = b""
            else:
                data = self.source.read(self.chunk)
                if not data:
                    out = self._decompress(b"", n)  # output still held inside the decoder
                    if out:
                        self.produced_in_stream += len(out)
                        return bytes(out)
                    if self.done:
                        break
                    raise CodecError("the stream ends before its end-of-stream marker")
            out = self._decompress(data, n)
            if out:
                self.produced_in_stream += len(out)
                return bytes(out)
        return b""


class _Pushback:
    """The compressed source with bytes pushed back (what a decoder did not use)."""

    def __init__(self, source: Counting) -> None:
        self.source, self.buf = source, b""

    def take(self, n: int) -> bytes:
        while len(self.buf) < n:
            more = self.source.read(READ)
            if not more:
                break
            self.buf += more
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def chunk(self) -> bytes:
        if self.buf:
            out, self.buf = self.buf, b""
            return out
        return self.source.read(READ)

    def unread(self, data: bytes) -> None:
        self.buf = data + self.buf


class _Deflated:
    """gzip members (pandas' GzipFile, joblib's gzip) or one zlib stream (joblib's zlib), decoded
    as raw deflate with the framing read here. A bad checksum at the end does not take the
    last bytes with it: GzipFile hands them to the unpickler before it checks the trailer, so
    the data is delivered and the mismatch only recorded in `damage`."""

    def __init__(self, source: Counting, gzip: bool) -> None:
        self.src = _Pushback(source)
        self.gzip = gzip
        self.d: object = None
        self.check = 0
        self.members = 0
        self.done = False
        self.damage: list[str] = []

    def _start(self) -> bool:
        if self.gzip:
            head = self.src.take(10)
            if len(head) < 10 or head[:2] != b"\x1f\x8b" or head[2] != 8:
                if self.members == 0:
                    raise CodecError("not a gzip member")
                return False  # what follows the last member ends the data, as for GzipFile
            flags = head[3]
            if flags & 4:
                (xlen,) = struct.unpack("<H", self.src.take(2))
                self.src.take(xlen)
            for bit in (8, 16):
                if flags & bit:
                    while True:
                        c = self.src.take(1)
                        if not c or c == b"\0":
                            break
            if flags & 2:
                self.src.take(2)
            self.check = 0
        else:
            head = self.src.take(2)
            if len(head) < 2 or (head[0] * 256 + head[1]) % 31 or head[0] & 0x0F != 8 or head[1] & 0x20:
                raise CodecError("not a zlib stream")
            self.check = 1
        self.d = zlib.decompressobj(-15)
        self.members += 1
        return True

    def _finish(self) -> None:
        rest = self.d.unused_data  # type: ignore[attr-defined]
        self.src.unread(rest)
        if self.gzip:
            trailer = self.src.take(8)
            if len(trailer) == 8 and struct.unpack("<I", trailer[:4])[0] != self.check & 0xFFFFFFFF:
                self.damage.append(f"gzip member {self.members}: CRC-32 mismatch")
        else:
            trailer = self.src.take(4)
            if len(trailer) == 4 and struct.unpack(">I", trailer)[0] != self.check & 0xFFFFFFFF:
                self.damage.append("zlib stream: Adler-32 mismatch")
        self.d = None
        if not self.gzip:
            self.done = True

    def read(self, n: int) -> bytes:
        while not self.done:
            if self.d is None and not self._start():
                self.done = True
                break
            d = self.d
            data = d.unconsumed_tail or self.src.chunk()  # type: ignore[attr-defined]
            if not data:
                out = d.decompress(b"", n)  # type: ignore[attr-defined]
                if out:
                    return self._account(out)
                raise CodecError("the stream ends before its end-of-stream marker")
            try:
                out = d.decompress(data, n)  # type: ignore[attr-defined]
            except zlib.error as exc:
                raise CodecError(str(exc)) from None
            if out:
                self._account(out)
            if d.eof:  # type: ignore[attr-defined]
                self._finish()
            if out:
                return out
        return b""

    def _account(self, out: bytes) -> bytes:
        self.check = zlib.crc32(out, self.check) if self.gzip else zlib.adler32(out, self.check)
        return out


class _FileDecoder:
    """A library's file object (GzipFile, LZ4FrameFile, zstd's stream reader) behind read(n)."""

    def __init__(self, f: object, errors: tuple[type[BaseException], ...]) -> None:
        self.f, self.errors = f, errors

    def read(self, n: int) -> bytes:
        try:
            return self.f.read(n)  # type: ignore[attr-defined,no-any-return]
        except self.errors as exc:
            raise CodecError(f"{type(exc).__name__}: {exc}") from None


def _lzma_alone_raw() -> lzma.LZMADecompressor:
    return lzma.LZMADecompressor(lzma.FORMAT_AUTO)


class _ZipLzma:
    """Zip method 14: a 4-byte LZMA SDK header (version, properties size) before raw LZMA1."""

    def __init__(self, source: Counting) -> None:
        self.source = source
        self.inner: _Chunked | None = None

    def read(self, n: int) -> bytes:
        if self.inner is None:
            head = self.source.read(4)
            if len(head) < 4:
                raise CodecError("truncated LZMA header")
            (psize,) = struct.unpack_from("<H", head, 2)
            props = self.source.read(psize)
            try:
                filt = lzma._decode_filter_properties(lzma.FILTER_LZMA1, props)  # type: ignore[attr-defined]
            except (lzma.LZMAError, ValueError) as exc:
                raise CodecError(f"bad LZMA properties: {exc}") from None
            self.inner = _Chunked(self.source, lambda: lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[filt]))
        return self.inner.read(n)


def _zfile(source: Counting) -> Decoder:
    """joblib < 0.10 (`read_zfile`): `ZF`, the length in hex padded to 19 bytes, an optional
    space (joblib <= 0.8.4), then one zlib stream."""
    head = source.read(ZFILE_HEADER)
    if len(head) < ZFILE_HEADER or not head.startswith(ZFILE_PREFIX):
        raise CodecError("not a joblib ZF header")
    try:
        int(head[len(ZFILE_PREFIX):], 16)
    except ValueError:
        raise CodecError("joblib ZF header has no hex length") from None
    nxt = source.read(1)
    dec = _Deflated(source, gzip=False)
    if nxt != b" ":
        dec.src.unread(nxt)
    return dec


def _zstd(source: Counting) -> Decoder:
    try:
        import zstandard
    except ImportError:
        raise CodecUnavailable("zstd (the zstandard package is not installed)") from None
    reader = zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True, read_size=READ)
    return _FileDecoder(reader, (zstandard.ZstdError, OSError, ValueError))


def _lz4(source: Counting) -> Decoder:
    try:
        import lz4.frame
    except ImportError:
        raise CodecUnavailable("lz4 (the lz4 package is not installed)") from None
    return _FileDecoder(lz4.frame.LZ4FrameFile(source, mode="rb"), (RuntimeError, OSError, EOFError, ValueError))


class _Stored:
    def __init__(self, source: Counting) -> None:
        self.source = source

    def read(self, n: int) -> bytes:
        return self.source.read(n)


def open_decoder(codec: str, source: Counting) -> Decoder:
    """A decoder for `codec` (a Format value or a zip method name) reading `source`."""
    if codec == "stored":
        return _Stored(source)
    if codec == "gzip":
        return _Deflated(source, gzip=True)
    if codec == "zlib":
        return _Deflated(source, gzip=False)
    if codec == "deflate":
        return _Chunked(source, lambda: zlib.decompressobj(-15))
    # bz2 and xz check their data at the end of blocks and streams, and a failing call loses
    # its output: input goes in steps smaller than the loaders' (8 KiB), so what a loader
    # still hands to the unpickler before the error, this decoder hands over too.
    if codec in ("bz2", "bzip2"):
        return _Chunked(source, bz2.BZ2Decompressor, single=False, chunk=4096)
    if codec in ("xz", "lzma"):
        return _Chunked(source, _lzma_alone_raw, single=False, chunk=4096)
    if codec == "zip-lzma":
        return _ZipLzma(source)
    if codec == "joblib-zfile":
        return _zfile(source)
    if codec == "zstd":
        return _zstd(source)
    if codec == "lz4":
        return _lz4(source)
    raise CodecUnavailable(codec)


ZIP_METHODS = {0: "stored", 8: "deflate", 12: "bzip2", 14: "zip-lzma", 93: "zstd", 95: "xz"}
"""Zip compression methods a loader can read (Python's zipfile: 0, 8, 12, 14, and 93 since 3.14)."""
