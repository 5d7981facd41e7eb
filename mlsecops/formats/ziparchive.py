"""A zip reader that believes nothing: it parses the central directory and every
local header itself and reads member data the way lenient loaders (PyTorch) do.

Scanners built on `zipfile` can be blinded: a member whose local header names a
different file (CVE-2025-1944), a fake "encrypted" flag (CVE-2025-1945), a CRC
mismatch that makes `zipfile` raise (CVE-2025-10156). PyTorch ignores all of
these and loads the data anyway. This reader reads the data anyway too, and
reports each discrepancy as an issue the models stage turns into a finding.
Decompression is streamed with an output limit (zip bombs).
"""

from __future__ import annotations

import bz2
import lzma
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

EOCD_SIG = b"PK\x05\x06"
ZIP64_LOC_SIG = b"PK\x06\x07"
ZIP64_EOCD_SIG = b"PK\x06\x06"
CENTRAL_SIG = b"PK\x01\x02"
LOCAL_SIG = b"PK\x03\x04"
CHUNK = 1 << 20


class ZipFormatError(ValueError):
    """Not a zip we can read (no or broken central directory)."""


class ZipLimitError(ValueError):
    """A member expands beyond the allowed size (a zip bomb, or just too big)."""


@dataclass
class ZipEntry:
    name: str
    method: int
    flags: int
    compressed_size: int
    size: int
    crc: int
    header_offset: int
    local_name: str | None = None
    data_offset: int = -1

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")


@dataclass
class ZipIssue:
    kind: str
    member: str
    detail: str


@dataclass
class ZipDirectory:
    entries: list[ZipEntry] = field(default_factory=list)
    issues: list[ZipIssue] = field(default_factory=list)
    prefix_bytes: int = 0
    truncated: bool = False


def find_eocd(fh: BinaryIO, size: int) -> int | None:
    """Offset of the end-of-central-directory record, or None.

    The one loaders use: Python's zipfile and miniz (PyTorch) both take the last
    signature with a full record after it, whatever its comment length says.
    Skipping a record whose comment overruns the file would read an earlier,
    different directory than the loader does (a benign zip hiding another one).
    """
    if size < 22:
        return None
    tail = min(size, 22 + 65535)
    fh.seek(size - tail)
    data = fh.read(tail)
    pos = data.rfind(EOCD_SIG, 0, len(data) - 22 + 4)
    return None if pos == -1 else size - tail + pos


def _decode_name(raw: bytes, flags: int) -> str:
    if flags & 0x800:
        return raw.decode("utf-8", "replace")
    return raw.decode("cp437")


def _zip64_extra(extra: bytes, size: int, csize: int, offset: int) -> tuple[int, int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, ln = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + ln]
        if tag == 0x0001:
            vals = list(struct.unpack_from(f"<{len(body) // 8}Q", body)) if len(body) >= 8 else []
            if size == 0xFFFFFFFF and vals:
                size = vals.pop(0)
            if csize == 0xFFFFFFFF and vals:
                csize = vals.pop(0)
            if offset == 0xFFFFFFFF and vals:
                offset = vals.pop(0)
        pos += 4 + ln
    return size, csize, offset


def read_directory(fh: BinaryIO, size: int, max_members: int) -> ZipDirectory:
    eocd = find_eocd(fh, size)
    if eocd is None:
        raise ZipFormatError("no end-of-central-directory record")
    fh.seek(eocd)
    rec = fh.read(22)
    _, _, _, _, total, cd_size, cd_offset, _ = struct.unpack("<4sHHHHIIH", rec)
    end_of_cd = eocd
    if eocd >= 76:
        # A zip64 end record sits between the directory and the classic end record
        # whenever a locator precedes it (PyTorch always writes one).
        fh.seek(eocd - 20)
        loc = fh.read(20)
        if loc[:4] == ZIP64_LOC_SIG:
            fh.seek(eocd - 76)
            z = fh.read(56)
            if z[:4] == ZIP64_EOCD_SIG:
                total, cd_size, cd_offset = struct.unpack_from("<QQQ", z, 32)
                end_of_cd = eocd - 76
    cd_pos = end_of_cd - cd_size
    if cd_pos < 0 or cd_size > size:
        raise ZipFormatError("central directory is out of bounds")
    prefix = cd_pos - cd_offset
    if prefix < 0:
        prefix = 0
        cd_pos = cd_offset
        if cd_pos > size:
            raise ZipFormatError("central directory offset is past the end of the file")
    out = ZipDirectory(prefix_bytes=prefix)
    fh.seek(cd_pos)
    cd = fh.read(min(cd_size, size - cd_pos))
    pos = 0
    seen: set[str] = set()
    while pos + 46 <= len(cd) and cd[pos : pos + 4] == CENTRAL_SIG:
        if len(out.entries) >= max_members:
            out.truncated = True
            break
        (_, _, _, flags, method, _, _, crc, csize, usize, nlen, xlen, clen, _, _, _, hoff) = struct.unpack_from(
            "<4sHHHHHHIIIHHHHHII", cd, pos
        )
        name = _decode_name(cd[pos + 46 : pos + 46 + nlen], flags)
        extra = cd[pos + 46 + nlen : pos + 46 + nlen + xlen]
        usize, csize, hoff = _zip64_extra(extra, usize, csize, hoff)
        entry = ZipEntry(name=name, method=method, flags=flags, compressed_size=csize, size=usize, crc=crc,
                         header_offset=hoff + prefix)
        if name in seen:
            out.issues.append(ZipIssue("duplicate-name", name, "two members share this name; loaders disagree on which one is read"))
        seen.add(name)
        out.entries.append(entry)
        pos += 46 + nlen + xlen + clen
    if not out.entries and total:
        raise ZipFormatError("central directory has no readable entries")
    for entry in out.entries:
        _check_local(fh, size, entry, out.issues)
    _check_overlap(out)
    return out


def _check_overlap(directory: ZipDirectory) -> None:
    """Members whose data overlap: no zip tool writes them; overlapping-entry zip
    bombs (Fifield) and parser-confusion tricks do. One issue names the first."""
    spans = sorted((e.header_offset, e.data_offset + e.compressed_size, e.name)
                   for e in directory.entries if e.data_offset >= 0 and not e.is_dir)
    overlapping: list[str] = []
    end = -1
    for start, stop, name in spans:
        if start < end:
            overlapping.append(name)
        end = max(end, stop)
    if overlapping:
        directory.issues.append(ZipIssue("overlap", overlapping[0],
                                         f"{len(overlapping)} member(s) overlap the data of another member "
                                         "(an overlapping-entry zip bomb or a parser confusion)"))


def _check_local(fh: BinaryIO, size: int, entry: ZipEntry, issues: list[ZipIssue]) -> None:
    fh.seek(entry.header_offset)
    hdr = fh.read(30)
    if len(hdr) < 30 or hdr[:4] != LOCAL_SIG:
        issues.append(ZipIssue("bad-local-header", entry.name, "the central directory points at no local header"))
        return
    (_, _, lflags, lmethod, _, _, _, _, _, nlen, xlen) = struct.unpack("<4sHHHHHIIIHH", hdr)
    raw = fh.read(nlen)
    entry.local_name = _decode_name(raw, lflags)
    entry.data_offset = entry.header_offset + 30 + nlen + xlen
    if entry.local_name != entry.name:
        issues.append(ZipIssue("name-mismatch", entry.name,
                               f"local header names {entry.local_name!r} but the central directory names {entry.name!r}"))
    if lmethod != entry.method:
        issues.append(ZipIssue("method-mismatch", entry.name, f"local header says method {lmethod}, central {entry.method}"))
    if entry.data_offset + entry.compressed_size > size:
        issues.append(ZipIssue("truncated", entry.name, "member data runs past the end of the file"))
    for flags in {entry.flags, lflags}:
        if flags & 0x1:
            issues.append(ZipIssue("encrypted-flag", entry.name, "general-purpose flag bit 0 (encrypted) is set"))
        if flags & 0x20:
            issues.append(ZipIssue("patched-flag", entry.name, "general-purpose flag bit 5 (patched data) is set"))
        if flags & 0x40:
            issues.append(ZipIssue("strong-encryption-flag", entry.name, "general-purpose flag bit 6 (strong encryption) is set"))


class _Inflater:
    """Bounded-chunk decompression for the zip methods PyTorch and numpy write."""

    def __init__(self, method: int) -> None:
        self.method = method
        self.zlib = zlib.decompressobj(-15) if method == 8 else None
        self.other: bz2.BZ2Decompressor | lzma.LZMADecompressor | None = bz2.BZ2Decompressor() if method == 12 else None
        self.header = b""

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self.method == 0:
            yield data
        elif self.zlib is not None:
            buf = data
            while buf:
                out = self.zlib.decompress(buf, CHUNK)
                if out:
                    yield out
                buf = self.zlib.unconsumed_tail
                if self.zlib.eof:
                    break
        else:
            if self.method == 14 and self.other is None:
                self.header += data
                if len(self.header) < 4:
                    return
                (psize,) = struct.unpack_from("<H", self.header, 2)
                if len(self.header) < 4 + psize:
                    return
                filt = lzma._decode_filter_properties(lzma.FILTER_LZMA1, self.header[4 : 4 + psize])  # type: ignore[attr-defined]
                self.other = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[filt])
                data = self.header[4 + psize :]
            assert self.other is not None
            if self.other.eof:
                return
            yield self.other.decompress(data, max_length=CHUNK)
            while not self.other.needs_input and not self.other.eof:
                yield self.other.decompress(b"", max_length=CHUNK)


SUPPORTED_METHODS = {0, 8, 12, 14}


def copy_member(fh: BinaryIO, entry: ZipEntry, write: Callable[[bytes], object], limit: int) -> bool:
    """Stream a member's uncompressed bytes to `write`, ignoring flags and CRC as
    PyTorch does; return whether the CRC matched. Raise ZipLimitError past `limit`."""
    if entry.data_offset < 0:
        raise ZipFormatError(f"{entry.name}: no local header")
    if entry.method not in SUPPORTED_METHODS:
        raise ZipFormatError(f"{entry.name}: compression method {entry.method} is not supported")
    inflater = _Inflater(entry.method)
    fh.seek(entry.data_offset)
    remaining = entry.compressed_size
    crc = 0
    produced = 0
    try:
        while remaining > 0:
            data = fh.read(min(CHUNK, remaining))
            if not data:
                break
            remaining -= len(data)
            for chunk in inflater.feed(data):
                produced += len(chunk)
                if produced > limit:
                    raise ZipLimitError(f"{entry.name}: expands past {limit} bytes")
                crc = zlib.crc32(chunk, crc)
                write(chunk)
    except (zlib.error, OSError, lzma.LZMAError, EOFError) as exc:
        raise ZipFormatError(f"{entry.name}: corrupt compressed data ({exc})") from None
    return (crc & 0xFFFFFFFF) == entry.crc


def read_member(fh: BinaryIO, entry: ZipEntry, limit: int) -> tuple[bytes, bool]:
    parts: list[bytes] = []
    ok = copy_member(fh, entry, parts.append, limit)
    return b"".join(parts), ok


def has_directory(fh: BinaryIO, size: int) -> bool:
    """A readable zip directory at the end of the file: the end record alone is four bytes
    any binary file may hold near its end, so at least one entry must parse."""
    if find_eocd(fh, size) is None:
        return False
    try:
        return bool(read_directory(fh, size, 16).entries)
    except ZipFormatError:
        return False
