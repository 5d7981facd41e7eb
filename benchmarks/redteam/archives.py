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


def v7_tar(members: dict[str, bytes]) -> bytes:
    """A tar whose headers have no ustar magic (the V7 layout tarfile still reads)."""
    raw = bytearray(tar_bytes(members))
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
