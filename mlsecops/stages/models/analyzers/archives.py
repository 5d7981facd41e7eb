"""Containers other than zip (zips.py) and single compressed streams (compressed.py):
tar and 7z (member-name checks: shared/members.py).

Members are scanned recursively with limits on depth, member count and expanded
size. Tar members are scanned in place; 7z members are decompressed into the
worker's temp folder, never anywhere else, and never under their own names.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from mlsecops.findings import Severity
from mlsecops.formats.kinds import Format
from mlsecops.formats.subfile import SubFile
from mlsecops.stages.models import rules
from mlsecops.stages.models.context import MB, ScanLimitError, ScanState
from mlsecops.stages.models.interface import Handles
from mlsecops.stages.models.shared import torch_tar
from mlsecops.stages.models.shared.members import check_name, join_member, traversal


def analyze_tar(state: ScanState, fmt: Format, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> None:
    """Every member as tarfile reads it (sparse members through tarfile's own reader, members
    of types tarfile does not know as the regular files extractfile makes of them), and the
    members torch.load reads as a legacy checkpoint (torch_tar.py) as torch reads them."""
    fh.seek(0)
    try:
        tar = tarfile.open(fileobj=fh, mode="r:")  # type: ignore[call-overload]
    except (tarfile.TarError, OSError, EOFError) as exc:
        state.observe(rules.CORRUPT_MODEL_FILE, Severity.medium, f"Not a readable tar archive: {exc}", member, "corrupt-tar")
        return
    members: list[tarfile.TarInfo] = []
    try:
        for info in tar:
            if len(members) >= state.limits.max_members:
                state.observe(rules.SCAN_LIMIT_EXCEEDED, Severity.high,
                              f"The archive has more than {state.limits.max_members} members", member, "member-limit")
                break
            members.append(info)
    except (tarfile.TarError, OSError, EOFError) as exc:
        state.observe(rules.CORRUPT_MODEL_FILE, Severity.medium, f"The tar archive is corrupt: {exc}", member, "corrupt-tar")
    torch_reads = torch_tar.members_read(members)
    for info in members:
        check_name(state, info.name, member)
        if (info.issym() or info.islnk()) and (traversal(info.linkname) or PurePosixPath(info.linkname).is_absolute()):
            state.observe(rules.ARCHIVE_PATH_TRAVERSAL, Severity.high, f"Tar member {info.name!r} links outside the archive ({info.linkname!r})",
                          member, f"tar-link:{info.name}")
        if not torch_tar.is_file(info) or any(t is info for t in torch_reads.values()):
            continue
        with member_stream(state, tar, fh, size, info, member) as (view, n):
            state.scan_child(view, n, PurePosixPath(info.name).name, join_member(member, info.name), depth + 1)
    for stream, info in torch_reads.items():
        state.formats.append(Format.pytorch_legacy.value)
        with member_stream(state, tar, fh, size, info, member) as (view, n):
            torch_tar.analyze_member(state, view, n, stream, join_member(member, info.name), depth + 1)


@contextmanager
def member_stream(state: ScanState, tar: tarfile.TarFile, fh: BinaryIO, size: int, info: tarfile.TarInfo,
                  member: str | None) -> Iterator[tuple[BinaryIO, int]]:
    """(content, size) of a member as tarfile's extractfile gives it: in place (a member cut off by
    the end of the archive: the part that is there), or, for a sparse
    member (stored without its holes), as tarfile's reader rebuilds it, spilled to a temp file
    within the expansion budget (up to where that reader fails: a loader reads that much too)."""
    if info.sparse is None:
        there = max(0, min(info.size, size - info.offset_data))
        if there < info.size:
            # extractfile hands over what there is before it raises: a loader unpickles that part.
            state.observe(rules.CORRUPT_MODEL_FILE, Severity.medium, f"Tar member {info.name!r} runs past the end of the archive",
                          member, f"tar-trunc:{info.name}")
        yield SubFile(fh, info.offset_data, there), there
        return
    path = state.temp_path()
    written = 0
    with path.open("w+b") as out:
        try:
            src = tar.extractfile(info)
            while src is not None and (chunk := src.read(1 << 20)):
                state.expand(len(chunk))
                out.write(chunk)
                written += len(chunk)
        except ScanLimitError as exc:
            state.observe(rules.SCAN_LIMIT_EXCEEDED, Severity.high, f"Tar member {info.name!r} was not read to its end: {exc}", member,
                          f"tar-sparse:{info.name}")
        except (tarfile.TarError, OSError, EOFError) as exc:
            state.observe(rules.CORRUPT_MODEL_FILE, Severity.medium, f"Tar member {info.name!r} is damaged after {written} bytes: {exc}",
                          member, f"tar-trunc:{info.name}")
    try:
        with path.open("rb") as spilled:
            yield spilled, written
    finally:
        path.unlink(missing_ok=True)


class _LimitedFile:
    """A py7zr writer that spills one member to a temp file and enforces the budget."""

    def __init__(self, state: ScanState, path: Path, limit: int) -> None:
        self.state, self.path, self.limit = state, path, limit
        self.fh = path.open("w+b")
        self.written = 0

    def write(self, s: bytes | bytearray) -> int:
        self.written += len(s)
        if self.written > self.limit:
            raise ScanLimitError(f"a 7z member expands past {self.limit} bytes")
        self.state.expand(len(s))
        return self.fh.write(s)

    def read(self, size: int | None = None) -> bytes:
        return self.fh.read(size if size is not None else -1)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.fh.seek(offset, whence)

    def flush(self) -> None:
        self.fh.flush()

    def size(self) -> int:
        return self.written

    def close(self) -> None:
        self.fh.flush()


def analyze_7z(state: ScanState, fmt: Format, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> None:
    import py7zr
    from py7zr.io import Py7zIO, WriterFactory

    limit = min(state.limits.max_expanded_mb * MB - state.expanded, state.limits.max_file_mb * MB)
    spilled: dict[str, _LimitedFile] = {}

    class Factory(WriterFactory):
        def create(self, filename: str) -> Py7zIO:
            f = _LimitedFile(state, state.temp_path(), limit)
            spilled[filename] = f
            return f  # type: ignore[return-value]

    try:
        fh.seek(0)
        with py7zr.SevenZipFile(fh, mode="r") as archive:
            infos = archive.list()
            if len(infos) > state.limits.max_members:
                state.observe(rules.SCAN_LIMIT_EXCEEDED, Severity.high,
                              f"The archive has more than {state.limits.max_members} members", member, "member-limit")
                return
            declared = sum(i.uncompressed or 0 for i in infos)
            if declared > limit:
                state.observe(rules.SCAN_LIMIT_EXCEEDED, Severity.high,
                              f"The archive declares {declared} bytes of content, above the {limit}-byte budget",
                              member, "7z-declared-size")
                return
            for info in infos:
                check_name(state, info.filename, member)
            if archive.needs_password():
                state.observe(rules.ENCRYPTED_MEMBER, Severity.low, "The 7z archive is encrypted and was not scanned", member, "encrypted-7z")
                return
            archive.extract(factory=Factory())
    except ScanLimitError as exc:
        state.observe(rules.SCAN_LIMIT_EXCEEDED, Severity.high, f"{exc}", member, "7z-bomb")
        return
    except Exception as exc:  # noqa: BLE001 - py7zr raises many types on hostile input
        state.observe(rules.CORRUPT_MODEL_FILE, Severity.medium,
                      f"Not a readable 7z archive: {type(exc).__name__}: {exc}"[:300], member, "corrupt-7z")
        return
    finally:
        for f in spilled.values():
            f.fh.close()
    for filename, f in spilled.items():
        try:
            with f.path.open("rb") as mf:
                state.scan_child(mf, f.written, PurePosixPath(filename).name, join_member(member, filename), depth + 1)
        finally:
            f.path.unlink(missing_ok=True)


ANALYZERS = (Handles(frozenset({Format.tar}), analyze_tar), Handles(frozenset({Format.sevenzip}), analyze_7z))
