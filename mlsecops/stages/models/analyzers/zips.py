"""Zip archives and the formats built on them: PyTorch checkpoints and TorchScript, npz,
Keras v3, and plain zips.

Members come from the central directory and from the local headers: a member that
only has a local header (the directory is missing, truncated, or leaves it out) is what
a stream reader or `unzip -F` loads, so it is scanned too. Stored members are scanned
in place; compressed ones are decoded lazily (`shared/decoded.py`). The member
torch unpickles, `<first folder>/data.pkl` matched case-insensitively as miniz does
(and `constants.pkl` for TorchScript), is walked as a pickle whatever it looks like.
PyTorch tensor storages (`*/data/<n>`) are never read: torch.load never unpickles them.
"""

from __future__ import annotations

import io
import re
import zlib
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from mlsecops.findings import Severity
from mlsecops.formats import ziparchive
from mlsecops.formats.detect import zip_kind_of
from mlsecops.formats.kinds import Format
from mlsecops.formats.subfile import SubFile
from mlsecops.stages.models import rules
from mlsecops.stages.models.context import MB, ScanState
from mlsecops.stages.models.interface import Engine, Handles
from mlsecops.stages.models.shared import keras_config
from mlsecops.stages.models.shared.decoded import ExpansionLimit, open_expansion, scan_expanded
from mlsecops.stages.models.shared.members import check_name, join_member
from mlsecops.stages.models.shared.pickle_region import MAX_ENGINE_BYTES

_TORCH_SKIP = re.compile(r"(^|/)data/\d+$")  # storages: raw tensor bytes, large, never unpickled
_CHUNK = 1 << 20


def torch_pickles(entries: list[ziparchive.ZipEntry]) -> set[str]:
    """Members torch unpickles: PyTorchStreamReader takes the folder of the first member in
    the directory as the archive name and looks records up case-insensitively (miniz), so
    `<folder>/data.pkl` (torch.load) and `<folder>/constants.pkl` (torch.jit.load) in any case."""
    if not entries or "/" not in entries[0].name:
        return set()
    folder = entries[0].name.split("/", 1)[0]
    wanted = {f"{folder}/data.pkl".lower(), f"{folder}/constants.pkl".lower()}
    return {e.name for e in entries if e.name.lower() in wanted}


def analyze_zip(state: ScanState, fmt: Format, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> None:
    broken = None
    try:
        directory = ziparchive.read_directory(fh, size, state.limits.max_members)
    except ziparchive.ZipFormatError as exc:
        directory, broken = ziparchive.ZipDirectory(), str(exc)
    room = state.limits.max_members - len(directory.entries)
    budget = min(state.limits.max_expanded_mb * MB - state.expanded, 256 * MB)
    hidden = ziparchive.local_entries(fh, size, room + 1, ziparchive.covered_spans(directory, size), budget)
    if directory.truncated or len(hidden) > room:
        hidden = hidden[: max(0, room)]
        state.observe(rules.SCAN_LIMIT_EXCEEDED, Severity.high,
                      f"The archive has more than {state.limits.max_members} members; the rest were not scanned",
                      member, "member-limit")
    if broken is not None:
        if not hidden:
            state.observe(rules.CORRUPT_MODEL_FILE, Severity.medium, f"Not a readable zip archive: {broken}", member, "corrupt-zip")
            return
        state.observe(rules.CORRUPT_MODEL_FILE, Severity.medium, f"The zip's central directory is unreadable ({broken}): the {len(hidden)} "
                      "member(s) found by their local headers were scanned, as stream readers would load them",
                      member, "corrupt-zip", evidence=[e.name for e in hidden[:5]])
        fmt = zip_kind_of([e.name for e in hidden])
    else:
        for e in hidden:
            state.observe(rules.ZIP_STRUCTURE_TAMPERING, Severity.high, f"Zip member {e.name!r} has a local header but is not in the central "
                          "directory: stream readers and `unzip -F` load it, zipfile-based scanners never see it",
                          member, f"zip-hidden:{e.header_offset}", evidence=[f"local header at offset {e.header_offset}"])
    entries = directory.entries + hidden
    flagged = _report_issues(state, directory, member)
    torch_like = fmt in (Format.pytorch_zip, Format.torchscript)
    code_members = [e.name for e in entries if "/code/" in e.name or e.name.startswith("code/")]
    if code_members and torch_like:
        sev = Severity.high if fmt == Format.pytorch_zip else Severity.medium
        kind = "A torch.save checkpoint" if fmt == Format.pytorch_zip else "A TorchScript archive"
        state.observe(rules.TORCHSCRIPT_CODE, sev,
                      f"{kind} carries TorchScript code ({len(code_members)} file(s)) that torch.jit.load compiles and runs",
                      member, "torchscript-code", evidence=code_members[:5])
    zip_engines = _zip_engines(state, entries) if member is None and broken is None and not hidden and not directory.issues else []
    for engine in zip_engines:
        state.zip_members[engine.name] = {e.name for e in entries if engine.picks(e.name)}
    unpickled = torch_pickles(directory.entries or hidden)
    for entry in entries:
        check_name(state, entry.name, member)
        if entry.local_name and entry.local_name != entry.name:
            check_name(state, entry.local_name, member)
        if entry.is_dir or entry.data_offset < 0 or (torch_like and _TORCH_SKIP.search(entry.name)):
            continue  # (no local header: reported above; its data, if anywhere, is a local entry)
        sub = join_member(member, entry.name if entry.in_directory else f"{entry.name}@{entry.header_offset}")
        if fmt == Format.keras_v3 and entry.name == "config.json":
            _keras_config(state, fh, entry, sub)
            continue
        force = Format.pickle if entry.name in unpickled else None
        try:
            _zip_member(state, fh, entry, sub, member, depth, flagged.get(entry.name, []), force)
        except ziparchive.ZipLimitError as exc:
            state.observe(rules.SCAN_LIMIT_EXCEEDED, Severity.high, f"Zip member {entry.name!r} {exc}", member, f"zip-bomb:{entry.name}")
        except ziparchive.ZipUnsupported as exc:
            state.observe(rules.SCAN_LIMIT_EXCEEDED, Severity.high, f"Zip member {entry.name!r}: could not read: {exc}; a loader that has "
                          "the codec reads it, so its content is unchecked", member, f"unreadable:{entry.name}")
        except ziparchive.ZipFormatError as exc:
            state.observe(rules.CORRUPT_MODEL_FILE, Severity.medium, f"Zip member {entry.name!r} cannot be read: {exc}",
                          member, f"zip-member:{entry.name}")
    for engine in zip_engines:
        if state.zip_members[engine.name] & set(state.walks):
            engine.scan_whole(state, Path(state.task.source), "zip", None)


def _report_issues(state: ScanState, directory: ziparchive.ZipDirectory, member: str | None) -> dict[str, list[ziparchive.ZipIssue]]:
    flagged: dict[str, list[ziparchive.ZipIssue]] = {}
    for issue in directory.issues:
        if issue.kind in ("encrypted-flag", "strong-encryption-flag"):
            flagged.setdefault(issue.member, []).append(issue)
        elif issue.kind == "truncated":
            state.observe(rules.CORRUPT_MODEL_FILE, Severity.medium, f"Zip member {issue.member!r}: {issue.detail}", member,
                          f"zip-truncated:{issue.member}")
        elif issue.kind == "bad-local-header":
            state.observe(rules.ZIP_STRUCTURE_TAMPERING, Severity.high, f"Zip member {issue.member!r}: {issue.detail}",
                          member, f"zip-local:{issue.member}")
        else:
            state.observe(rules.ZIP_STRUCTURE_TAMPERING, Severity.high, f"Zip member {issue.member!r}: {issue.detail}", member,
                          f"zip-{issue.kind}:{issue.member}", evidence=[issue.detail])
    return flagged


def _zip_engines(state: ScanState, entries: list[ziparchive.ZipEntry]) -> list[Engine]:
    """The engines that scan a whole (well-formed, top-level) zip themselves, where every member
    they read is small enough for them: they get the members they pick instead of mlsecops."""
    return [engine for engine in state.enabled_engines() if "zip" in engine.whole
            and all(e.size <= MAX_ENGINE_BYTES for e in entries if engine.picks(e.name))]


def _keras_config(state: ScanState, fh: BinaryIO, entry: ziparchive.ZipEntry, sub: str) -> None:
    state.formats.append(Format.keras_v3.value)
    try:
        data, _ = ziparchive.read_member(fh, entry, keras_config.MAX_CONFIG)
    except (ziparchive.ZipFormatError, ziparchive.ZipLimitError) as exc:
        state.observe(rules.CORRUPT_MODEL_FILE, Severity.medium, f"Keras config.json cannot be read: {exc}", sub, "keras-config")
        return
    keras_config.analyze_config_json(state, io.BytesIO(data), len(data), sub)
    if "!" not in sub:
        keras_config.whole_file_engines(state, ".keras")


def _zip_member(state: ScanState, fh: BinaryIO, entry: ziparchive.ZipEntry, sub: str, parent: str | None, depth: int,
                flags: list[ziparchive.ZipIssue], force: Format | None) -> None:
    limit = min(state.limits.max_expanded_mb * MB - state.expanded, state.limits.max_file_mb * MB)
    if entry.size > limit:
        raise ziparchive.ZipLimitError(f"declares {entry.size} bytes, above the remaining budget")
    name = PurePosixPath(entry.name).name
    if entry.method == 0 and entry.compressed_size == entry.size and not flags:
        view = SubFile(fh, entry.data_offset, entry.size)
        if entry.in_directory:
            _report_crc(state, entry, parent, _crc_matches(view, entry))
        if force is not None:
            state.scan_child_as(force, view, entry.size, name, sub, depth + 1)
        else:
            state.scan_child(view, entry.size, name, sub, depth + 1)
        return
    codec = ziparchive.member_codec(entry)
    what = f"Zip member {entry.name!r}"
    exp = open_expansion(state, codec, lambda: ziparchive.member_source(fh, entry), parent, what, limit, crc=True)
    if exp is None:
        return
    with exp:
        if flags:
            try:
                exp.materialize()
            except ExpansionLimit:
                pass
            if exp.error is not None or not exp.eof or (exp.crc & 0xFFFFFFFF) != entry.crc:
                state.observe(rules.ENCRYPTED_MEMBER, Severity.low, f"Zip member {entry.name!r} is encrypted and was not scanned", parent,
                              f"encrypted:{entry.name}")
                return
            kinds = ", ".join(sorted({f.kind for f in flags}))
            state.observe(rules.ZIP_FAKE_ENCRYPTION, Severity.high, f"Zip member {entry.name!r} is flagged encrypted ({kinds}) but its data is "
                          "plain and valid: loaders read it, scanners that honour the flag skip it", parent, f"fake-encryption:{entry.name}")
        scan_expanded(state, exp, name, sub, parent, depth, what, force=force)
        if exp.eof and not exp.holes and exp.error is None and not flags and entry.in_directory:
            _report_crc(state, entry, parent, (exp.crc & 0xFFFFFFFF) == entry.crc)


def _crc_matches(view: SubFile, entry: ziparchive.ZipEntry) -> bool:
    crc = 0
    view.seek(0)
    while True:
        chunk = view.read(_CHUNK)
        if not chunk:
            break
        crc = zlib.crc32(chunk, crc)
    return (crc & 0xFFFFFFFF) == entry.crc


def _report_crc(state: ScanState, entry: ziparchive.ZipEntry, parent: str | None, ok: bool) -> None:
    if not ok:
        state.observe(rules.ZIP_CRC_MISMATCH, Severity.medium, f"Zip member {entry.name!r} has a CRC-32 that does not match its data "
                      "(zipfile-based scanners raise and skip it; PyTorch loads it)", parent, f"crc:{entry.name}")


ANALYZERS = (Handles(frozenset({Format.pytorch_zip, Format.torchscript, Format.keras_v3, Format.npz, Format.zip}), analyze_zip),)
