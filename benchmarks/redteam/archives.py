"""Zip and tar bytes for the families (written with the standard library, as the tools that make models do)."""

from __future__ import annotations

import io
import tarfile
import zipfile


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def tar_bytes(members: dict[str, bytes], mode: str = "w") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode, format=tarfile.USTAR_FORMAT) as tf:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


def v7(data: bytes) -> bytes:
    """The same tar with V7 headers: no ustar magic or version, the checksum recomputed (tarfile still reads it)."""
    raw = bytearray(data)
    pos = 0
    while pos + 512 <= len(raw) and raw[pos:pos + 512].strip(b"\0"):
        header = raw[pos:pos + 512]
        header[257:265] = b"\0" * 8  # magic and version
        header[148:156] = b" " * 8
        header[148:156] = b"%06o\0 " % sum(header)
        raw[pos:pos + 512] = header
        size = int(header[124:136].strip(b"\0 ") or b"0", 8)
        pos += 512 + (size + 511) // 512 * 512
    return bytes(raw)


def v7_tar(members: dict[str, bytes]) -> bytes:
    """A tar whose headers have no ustar magic (the V7 layout tarfile still reads)."""
    return v7(tar_bytes(members))


def tar_members(members: list[tuple[str, bytes, bytes, str]], fmt: int = tarfile.USTAR_FORMAT) -> bytes:
    """A tar of (name, data, member type, link name) entries, in order: links, duplicate names and
    types tarfile does not know (which extractfile hands out as regular files)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tf:  # type: ignore[call-overload]
        for name, data, kind, linkname in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = linkname
            if kind in (tarfile.LNKTYPE, tarfile.SYMTYPE):
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


def gnu_sparse_tar(name: str, chunks: list[tuple[int, bytes]], real_size: int) -> bytes:
    """A one-member GNU tar whose member is sparse (type 'S'): the chunks are stored back to back,
    tarfile's reader puts each at its offset and fills the holes between them with zeros."""
    assert len(chunks) <= 4
    stored = b"".join(data for _, data in chunks)
    header = bytearray(512)
    header[0:len(name)] = name.encode()
    header[100:108] = b"0000644\0"
    header[108:116] = b"0000000\0"
    header[116:124] = b"0000000\0"
    header[124:136] = b"%011o\0" % len(stored)
    header[136:148] = b"%011o\0" % 0
    header[156:157] = b"S"
    header[257:265] = b"ustar  \0"  # GNU magic
    pos = 386
    for offset, data in chunks:
        header[pos:pos + 12] = b"%011o\0" % offset
        header[pos + 12:pos + 24] = b"%011o\0" % len(data)
        pos += 24
    header[482] = 0  # no extended sparse headers
    header[483:495] = b"%011o\0" % real_size
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    body = stored + b"\0" * (-len(stored) % 512)
    return bytes(header) + body + b"\0" * 1024
