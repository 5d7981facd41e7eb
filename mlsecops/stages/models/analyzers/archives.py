"""Containers: zip (and the zip-based formats: PyTorch, TorchScript, npz, Keras v3),
tar, 7z, and single-stream compression (gzip, bz2, xz, lzma, zlib: joblib's).

Members are scanned recursively with limits on depth, member count and expanded
size. Stored members are scanned in place; compressed ones are decompressed into
the worker's temp folder, never anywhere else, and never under their own names.
PyTorch tensor storages (`*/data/<n>`) are never read: torch.load never
unpickles them, and skipping them keeps the cost of a checkpoint at its pickle.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
import tarfile
import zlib
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from mlsecops.findings import Severity
from mlsecops.formats import ziparchive
from mlsecops.formats.kinds import Format
from mlsecops.formats.subfile import SubFile
from mlsecops.stages.models.analyzers import pickles
from mlsecops.stages.models.scanfile import MB, ScanLimitError, ScanState, join_member, scan_stream

_TORCH_SKIP = re.compile(r"(^|/)(data/\d+|byteorder|version|\.data/serialization_id|\.data/version)$")
_CHUNK = 1 << 20


def traversal(name: str) -> str | None:
    """Why a member name escapes its extraction folder, or None."""
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        return "absolute path"
    if ".." in PurePosixPath(norm).parts:
        return "'..' path segment"
    if "\x00" in name:
        return "NUL byte in the name"
    return None


def _check_name(state: ScanState, name: str, member: str | None) -> None:
    why = traversal(name)
    if why:
        state.observe("MLS114", Severity.high, f"Archive member {name!r} escapes the extraction folder ({why})",
                      member, f"traversal:{name}", evidence=[name])


def _spill(state: ScanState, write_to: Path, copy) -> Path:  # type: ignore[no-untyped-def]
    with write_to.open("wb") as out:
        def write(chunk: bytes) -> None:
            state.expand(len(chunk))
            out.write(chunk)
        copy(write)
    return write_to


def analyze_zip(state: ScanState, fmt: Format, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> None:
    try:
        directory = ziparchive.read_directory(fh, size, state.limits.max_members)
    except ziparchive.ZipFormatError as exc:
        state.observe("MLS120", Severity.medium, f"Not a readable zip archive: {exc}", member, "corrupt-zip")
        return
    if directory.truncated:
        state.observe("MLS115", Severity.high, f"The archive has more than {state.limits.max_members} members; the rest were not scanned",
                      member, "member-limit")
    flagged: dict[str, list[ziparchive.ZipIssue]] = {}
    for issue in directory.issues:
        if issue.kind in ("encrypted-flag", "strong-encryption-flag"):
            flagged.setdefault(issue.member, []).append(issue)
        elif issue.kind == "truncated":
            state.observe("MLS120", Severity.medium, f"Zip member {issue.member!r}: {issue.detail}", member, f"zip-truncated:{issue.member}")
        elif issue.kind == "bad-local-header":
            state.observe("MLS111", Severity.high, f"Zip member {issue.member!r}: {issue.detail}", member, f"zip-local:{issue.member}")
        else:
            state.observe("MLS111", Severity.high, f"Zip member {issue.member!r}: {issue.detail}", member,
                          f"zip-{issue.kind}:{issue.member}", evidence=[issue.detail])
    torch_like = fmt in (Format.pytorch_zip, Format.torchscript)
    code_members = [e.name for e in directory.entries if "/code/" in e.name or e.name.startswith("code/")]
    if code_members and torch_like:
        sev = Severity.high if fmt == Format.pytorch_zip else Severity.medium
        kind = "A torch.save checkpoint" if fmt == Format.pytorch_zip else "A TorchScript archive"
        state.observe("MLS109", sev, f"{kind} carries TorchScript code ({len(code_members)} file(s)) that torch.jit.load compiles and runs",
                      member, "torchscript-code", evidence=code_members[:5])
    fickling_zip = member is None and not directory.issues and state.engine_enabled("fickling") and all(
        e.size <= pickles.MAX_ENGINE_BYTES for e in directory.entries if _fickling_picks(e.name))
    if fickling_zip:
        state.fickling_zip = {e.name for e in directory.entries if _fickling_picks(e.name)}
    for entry in directory.entries:
        _check_name(state, entry.name, member)
        if entry.local_name and entry.local_name != entry.name:
            _check_name(state, entry.local_name, member)
        if entry.is_dir or (torch_like and _TORCH_SKIP.search(entry.name)):
            continue
        sub = join_member(member, entry.name)
        if fmt == Format.keras_v3 and entry.name == "config.json":
            _keras_config(state, fh, entry, sub)
            continue
        try:
            _zip_member(state, fh, entry, sub, depth, flagged.get(entry.name, []), torch_like)
        except ziparchive.ZipLimitError as exc:
            state.observe("MLS115", Severity.high, f"Zip member {entry.name!r} {exc}", member, f"zip-bomb:{entry.name}")
        except ziparchive.ZipFormatError as exc:
            state.observe("MLS120", Severity.medium, f"Zip member {entry.name!r} cannot be read: {exc}", member, f"zip-member:{entry.name}")
    if fickling_zip and state.fickling_zip & set(state.walks):
        from mlsecops.stages.models.engines import fickling_engine

        fickling_engine.scan_zip(state, Path(state.task.source))


def _fickling_picks(name: str) -> bool:
    """The members fickling.loader.scan_zip_archive reads: by extension."""
    return PurePosixPath(name).suffix.lower() in (".pkl", ".pickle", ".bin")


def _keras_config(state: ScanState, fh: BinaryIO, entry: ziparchive.ZipEntry, sub: str) -> None:
    from mlsecops.stages.models.analyzers import keras

    state.formats.append(Format.keras_v3.value)
    try:
        data, _ = ziparchive.read_member(fh, entry, keras.MAX_CONFIG)
    except (ziparchive.ZipFormatError, ziparchive.ZipLimitError) as exc:
        state.observe("MLS120", Severity.medium, f"Keras config.json cannot be read: {exc}", sub, "keras-config")
        return
    import io

    keras.analyze_config_json(state, io.BytesIO(data), len(data), sub)
    if "!" not in sub and state.engine_enabled("modelscan"):
        from mlsecops.stages.models.engines import modelscan_engine

        modelscan_engine.scan_file(state, Path(state.task.source), ".keras", None)


def _zip_member(state: ScanState, fh: BinaryIO, entry: ziparchive.ZipEntry, sub: str, depth: int,
                flags: list[ziparchive.ZipIssue], torch_like: bool) -> None:
    limit = min(state.limits.max_expanded_mb * MB - state.expanded, state.limits.max_file_mb * MB)
    if entry.size > limit:
        raise ziparchive.ZipLimitError(f"declares {entry.size} bytes, above the remaining budget")
    if entry.method == 0 and entry.compressed_size == entry.size and not flags:
        view = SubFile(fh, entry.data_offset, entry.size)
        crc_ok = _crc_matches(view, entry)
        _report_crc(state, entry, sub, crc_ok)
        scan_stream(state, view, entry.size, PurePosixPath(entry.name).name, sub, depth + 1)
        return
    path = state.temp_path()
    crc_ok = True

    def copy(write) -> None:  # type: ignore[no-untyped-def]
        nonlocal crc_ok
        crc_ok = ziparchive.copy_member(fh, entry, write, limit)

    try:
        _spill(state, path, copy)
    except ziparchive.ZipFormatError:
        if flags:
            state.observe("MLS121", Severity.low, f"Zip member {entry.name!r} is encrypted and was not scanned",
                          sub.rsplit("!", 1)[0] if "!" in sub else None, f"encrypted:{entry.name}")
            return
        raise
    parent = sub.rsplit("!", 1)[0] if "!" in sub else None
    if flags:
        if crc_ok:
            kinds = ", ".join(sorted({f.kind for f in flags}))
            state.observe("MLS112", Severity.high, f"Zip member {entry.name!r} is flagged encrypted ({kinds}) but its data is "
                          "plain and valid: loaders read it, scanners that honour the flag skip it", parent, f"fake-encryption:{entry.name}")
        else:
            state.observe("MLS121", Severity.low, f"Zip member {entry.name!r} is encrypted and was not scanned", parent, f"encrypted:{entry.name}")
            path.unlink(missing_ok=True)
            return
    else:
        _report_crc(state, entry, sub, crc_ok)
    try:
        with path.open("rb") as mf:
            scan_stream(state, mf, path.stat().st_size, PurePosixPath(entry.name).name, sub, depth + 1)
    finally:
        path.unlink(missing_ok=True)


def _crc_matches(view: SubFile, entry: ziparchive.ZipEntry) -> bool:
    crc = 0
    view.seek(0)
    while True:
        chunk = view.read(_CHUNK)
        if not chunk:
            break
        crc = zlib.crc32(chunk, crc)
    return (crc & 0xFFFFFFFF) == entry.crc


def _report_crc(state: ScanState, entry: ziparchive.ZipEntry, sub: str, ok: bool) -> None:
    if not ok:
        parent = sub.rsplit("!", 1)[0] if "!" in sub else None
        state.observe("MLS113", Severity.medium, f"Zip member {entry.name!r} has a CRC-32 that does not match its data "
                      "(zipfile-based scanners raise and skip it; PyTorch loads it)", parent, f"crc:{entry.name}")


def analyze_tar(state: ScanState, fmt: Format, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> None:
    fh.seek(0)
    try:
        tar = tarfile.open(fileobj=fh, mode="r:")  # type: ignore[call-overload]
    except (tarfile.TarError, OSError, EOFError) as exc:
        state.observe("MLS120", Severity.medium, f"Not a readable tar archive: {exc}", member, "corrupt-tar")
        return
    count = 0
    try:
        for info in tar:
            count += 1
            if count > state.limits.max_members:
                state.observe("MLS115", Severity.high, f"The archive has more than {state.limits.max_members} members", member, "member-limit")
                break
            _check_name(state, info.name, member)
            if (info.issym() or info.islnk()) and (traversal(info.linkname) or PurePosixPath(info.linkname).is_absolute()):
                state.observe("MLS114", Severity.high, f"Tar member {info.name!r} links outside the archive ({info.linkname!r})",
                              member, f"tar-link:{info.name}")
            if not info.isreg():
                continue
            if info.offset_data + info.size > size:
                state.observe("MLS120", Severity.medium, f"Tar member {info.name!r} runs past the end", member, f"tar-trunc:{info.name}")
                continue
            view = SubFile(fh, info.offset_data, info.size)
            scan_stream(state, view, info.size, PurePosixPath(info.name).name, join_member(member, info.name), depth + 1)
    except (tarfile.TarError, OSError, EOFError) as exc:
        state.observe("MLS120", Severity.medium, f"The tar archive is corrupt: {exc}", member, "corrupt-tar")


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
                state.observe("MLS115", Severity.high, f"The archive has more than {state.limits.max_members} members", member, "member-limit")
                return
            declared = sum(i.uncompressed or 0 for i in infos)
            if declared > limit:
                state.observe("MLS115", Severity.high, f"The archive declares {declared} bytes of content, above the {limit}-byte budget",
                              member, "7z-declared-size")
                return
            for info in infos:
                _check_name(state, info.filename, member)
            if archive.needs_password():
                state.observe("MLS121", Severity.low, "The 7z archive is encrypted and was not scanned", member, "encrypted-7z")
                return
            archive.extract(factory=Factory())
    except ScanLimitError as exc:
        state.observe("MLS115", Severity.high, f"{exc}", member, "7z-bomb")
        return
    except Exception as exc:  # noqa: BLE001 - py7zr raises many types on hostile input
        state.observe("MLS120", Severity.medium, f"Not a readable 7z archive: {type(exc).__name__}: {exc}"[:300], member, "corrupt-7z")
        return
    finally:
        for f in spilled.values():
            f.fh.close()
    for filename, f in spilled.items():
        try:
            with f.path.open("rb") as mf:
                scan_stream(state, mf, f.written, PurePosixPath(filename).name, join_member(member, filename), depth + 1)
        finally:
            f.path.unlink(missing_ok=True)


def _decompressor(fmt: Format, fh: BinaryIO):  # type: ignore[no-untyped-def]
    if fmt == Format.gzip:
        return gzip.GzipFile(fileobj=fh, mode="rb")
    if fmt == Format.bz2:
        return bz2.BZ2File(fh, mode="rb")
    if fmt in (Format.xz, Format.lzma):
        return lzma.LZMAFile(fh, mode="rb")
    return _ZlibReader(fh)


class _ZlibReader:
    def __init__(self, fh: BinaryIO) -> None:
        self.fh, self.d = fh, zlib.decompressobj()

    def read(self, n: int) -> bytes:
        out = b""
        while not out:
            if self.d.unconsumed_tail:
                out = self.d.decompress(self.d.unconsumed_tail, n)
                continue
            if self.d.eof:
                return b""
            raw = self.fh.read(_CHUNK)
            if not raw:
                return self.d.flush()
            out = self.d.decompress(raw, n)
        return out

    def close(self) -> None:
        return None


def analyze_compressed(state: ScanState, fmt: Format, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> None:
    """gzip/bz2/xz/lzma/zlib around one stream (joblib's compressed dumps): decompress with a limit, recurse."""
    fh.seek(0)
    path = state.temp_path()
    limit = min(state.limits.max_expanded_mb * MB - state.expanded, state.limits.max_file_mb * MB)
    written = 0
    try:
        reader = _decompressor(fmt, fh)
        with path.open("wb") as out:
            while True:
                chunk = reader.read(_CHUNK)
                if not chunk:
                    break
                written += len(chunk)
                if written > limit:
                    raise ScanLimitError(f"expands past {limit} bytes")
                state.expand(len(chunk))
                out.write(chunk)
    except ScanLimitError as exc:
        state.observe("MLS115", Severity.high, f"The {fmt.value} stream {exc} (a decompression bomb?)", member, "decompression-bomb")
        path.unlink(missing_ok=True)
        return
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        if written == 0:
            state.observe("MLS120", Severity.medium, f"The {fmt.value} stream is corrupt: {exc}", member, "corrupt-compressed")
            path.unlink(missing_ok=True)
            return
        state.observe("MLS120", Severity.medium, f"The {fmt.value} stream is truncated after {written} bytes: {exc}", member,
                      "corrupt-compressed")
    inner = re.sub(r"\.(gz|bz2|xz|lzma|z)$", "", name, flags=re.I) or name
    try:
        with path.open("rb") as f:
            scan_stream(state, f, written, inner, join_member(member, f"({fmt.value})"), depth + 1)
    finally:
        path.unlink(missing_ok=True)

