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

import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

EOCD_SIG = b"PK\x05\x06"
ZIP64_LOC_SIG = b"PK\x06\x07"
ZIP64_EOCD_SIG = b"PK\x06\x06"
CENTRAL_SIG = b"PK\x01\x02"
LOCAL_SIG = b"PK\x03\x04"
DESCRIPTOR_SIG = b"PK\x07\x08"
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
    in_directory: bool = True  # False: found by its local header only

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
    cd_start: int = -1


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
    out = ZipDirectory(prefix_bytes=prefix, cd_start=cd_pos)
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


class ZipUnsupported(ZipFormatError):
    """A compression method the gate cannot decode (a loader with the codec can)."""


def member_codec(entry: ZipEntry) -> str:
    """The codec name (codecs.open_decoder) of a member's compression method."""
    from mlsecops.formats.codecs import ZIP_METHODS

    codec = ZIP_METHODS.get(entry.method)
    if codec is None:
        raise ZipUnsupported(f"compression method {entry.method}")
    return codec


def member_source(fh: BinaryIO, entry: ZipEntry):  # type: ignore[no-untyped-def]
    """A counting reader over a member's compressed bytes (clipped to the file)."""
    from mlsecops.formats.codecs import Counting

    if entry.data_offset < 0:
        raise ZipFormatError(f"{entry.name}: no local header")
    return Counting(fh, entry.data_offset, entry.data_offset + entry.compressed_size)


def copy_member(fh: BinaryIO, entry: ZipEntry, write: Callable[[bytes], object], limit: int) -> bool:
    """Stream a member's uncompressed bytes to `write`, ignoring flags and CRC as
    PyTorch does; return whether the CRC matched. Raise ZipLimitError past `limit`."""
    from mlsecops.formats.codecs import CodecError, CodecUnavailable, open_decoder

    try:
        decoder = open_decoder(member_codec(entry), member_source(fh, entry))
    except CodecUnavailable as exc:
        raise ZipUnsupported(f"{entry.name}: {exc}") from None
    crc = produced = 0
    while True:
        try:
            chunk = decoder.read(CHUNK)
        except CodecError as exc:
            raise ZipFormatError(f"{entry.name}: corrupt compressed data ({exc})") from None
        if not chunk:
            break
        produced += len(chunk)
        if produced > limit:
            raise ZipLimitError(f"{entry.name}: expands past {limit} bytes")
        crc = zlib.crc32(chunk, crc)
        write(chunk)
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


# -- when the directory is missing or lies: the local headers ---------------------------

def covered_spans(directory: ZipDirectory, size: int) -> list[tuple[int, int]]:
    """Byte ranges the central directory accounts for: its members and itself."""
    spans = [(e.header_offset, e.data_offset + e.compressed_size) for e in directory.entries if e.data_offset >= 0]
    if directory.cd_start >= 0:
        spans.append((directory.cd_start, size))
    return sorted(spans)


def local_entries(fh: BinaryIO, size: int, max_members: int, covered: list[tuple[int, int]] | None = None,
                  max_inflate: int = 256 << 20) -> list[ZipEntry]:
    """Members found by walking local file headers from the start of the file, the way
    stream readers (Java's ZipInputStream, `unzip -F`, stream-unzip) find them, skipping
    the ranges in `covered`. A member written with a data descriptor (sizes after the
    data, as torch.save writes every member) ends where its descriptor says, or where a
    deflate stream ends, or at the next header."""
    spans = sorted(covered or [])
    out: list[ZipEntry] = []
    pos, si = 0, 0
    inflate = [max_inflate]  # shared by every member: finding ends by inflating is bounded in all
    while pos < size and len(out) < max_members:
        while si < len(spans) and spans[si][1] <= pos:
            si += 1
        if si < len(spans) and spans[si][0] <= pos:
            pos = spans[si][1]
            continue
        limit = spans[si][0] if si < len(spans) else size
        at = _find(fh, LOCAL_SIG, pos, limit)
        if at is None:
            if limit >= size:
                break
            pos = limit
            continue
        entry = _parse_local(fh, size, at)
        if entry is None:
            pos = at + 4
            continue
        end = _extent(fh, size, entry, inflate)
        out.append(entry)
        pos = max(end, at + 4)
    return out


def _find(fh: BinaryIO, needle: bytes, start: int, end: int) -> int | None:
    pos = start
    while pos < end:
        fh.seek(pos)
        chunk = fh.read(min(CHUNK, end - pos) + len(needle) - 1)
        i = chunk.find(needle)
        if i != -1 and pos + i < end:
            return pos + i
        if len(chunk) < len(needle):
            return None
        pos += len(chunk) - len(needle) + 1
    return None


def _parse_local(fh: BinaryIO, size: int, at: int) -> ZipEntry | None:
    fh.seek(at)
    hdr = fh.read(30)
    if len(hdr) < 30 or hdr[:4] != LOCAL_SIG:
        return None
    (_, _, flags, method, _, _, crc, csize, usize, nlen, xlen) = struct.unpack("<4sHHHHHIIIHH", hdr)
    raw = fh.read(nlen)
    extra = fh.read(xlen)
    if len(raw) < nlen or len(extra) < xlen:
        return None
    name = _decode_name(raw, flags)
    usize, csize, _ = _zip64_extra(extra, usize, csize, 0)
    return ZipEntry(name=name, method=method, flags=flags, compressed_size=csize, size=usize, crc=crc, header_offset=at,
                    local_name=name, data_offset=at + 30 + nlen + xlen, in_directory=False)


def _extent(fh: BinaryIO, size: int, e: ZipEntry, inflate: list[int]) -> int:
    """Where the member ends (its data descriptor included); fills in unknown sizes."""
    if not e.flags & 0x8 or e.compressed_size:
        end = min(size, e.data_offset + e.compressed_size)
        if e.flags & 0x8:
            end += _descriptor(fh, size, e, end, check_size=False)
        return end
    if e.method == 8:
        n = _deflate_length(fh, e.data_offset, size, inflate)
        if n is not None:
            e.compressed_size = n
            return e.data_offset + n + _descriptor(fh, size, e, e.data_offset + n, check_size=False)
    pos = e.data_offset
    while True:
        at = _find_any(fh, pos, size)
        if at is None:
            e.compressed_size = size - e.data_offset
            return size
        fh.seek(at)
        if fh.read(4) == DESCRIPTOR_SIG:
            n = _descriptor(fh, size, e, at, check_size=True)
            if n:
                return at + n
            pos = at + 1
            continue
        e.compressed_size = at - e.data_offset
        return at


_ANY_SIG = re.compile(b"PK(?:\x07\x08|\x03\x04|\x01\x02|\x05\x06)")


def _find_any(fh: BinaryIO, start: int, end: int) -> int | None:
    """The next descriptor, local, central or end signature: one pass over the bytes."""
    pos = start
    while pos < end:
        fh.seek(pos)
        chunk = fh.read(min(CHUNK, end - pos) + 3)
        m = _ANY_SIG.search(chunk)
        if m is not None and pos + m.start() < end:
            return pos + m.start()
        if len(chunk) < 4:
            return None
        pos += len(chunk) - 3
    return None


def _descriptor(fh: BinaryIO, size: int, e: ZipEntry, at: int, check_size: bool) -> int:
    """Length of the data descriptor at `at` whose compressed size is the distance from the
    member's data to it (its sizes and CRC are then taken), else 0. Without check_size a
    lone descriptor signature still counts (4 bytes): the walk goes on after it."""
    fh.seek(at)
    raw = fh.read(30)
    sig = 4 if raw[:4] == DESCRIPTOR_SIG else 0
    body = raw[sig:]
    # zip64 descriptors have 8-byte sizes: prefer the reading after which a header follows
    widths = ((8, "<IQQ"), (4, "<III")) if body[20:22] == b"PK" and body[12:14] != b"PK" else ((4, "<III"), (8, "<IQQ"))
    for width, fmt in widths:
        if len(body) >= 4 + 2 * width:
            crc, csize, usize = struct.unpack_from(fmt, body)
            if csize == at - e.data_offset:
                e.compressed_size, e.size, e.crc = csize, usize, crc
                return sig + 4 + 2 * width
    return 0 if check_size else sig


def _deflate_length(fh: BinaryIO, start: int, size: int, budget: list[int]) -> int | None:
    """Compressed length of the raw deflate stream at `start` (it ends itself), or None when
    it does not end within the output `budget` left (shared, and spent here)."""
    d = zlib.decompressobj(-15)
    pos = start
    try:
        while pos < size and not d.eof:
            fh.seek(pos)
            data = fh.read(min(CHUNK, size - pos))
            if not data:
                return None
            pos += len(data)
            while data and not d.eof:
                budget[0] -= len(d.decompress(data, CHUNK))
                if budget[0] < 0:
                    return None
                data = d.unconsumed_tail
    except zlib.error:
        return None
    if not d.eof:
        return None
    return pos - len(d.unused_data) - start
