"""Decoded streams: what a compressed file (analyzers/compressed.py: gzip, bz2, xz, lzma,
zlib, zstd, lz4 and joblib's `ZF` files around one stream, joblib and pandas dumps) or a
compressed zip member (analyzers/zips.py) holds, scanned as a child stream.

The stream is decoded lazily (`formats.expansion`): a small stream (64 MiB or less
expanded) is decoded whole and scanned like any file; a larger one is scanned as it
is decoded when it holds a pickle, which is how joblib and pandas read it (array and
tensor payloads are decoded and discarded, never written), is expanded to a temporary
file only when its format needs random access (a zip, tar, npy...), and is not decoded
past its first 64 MiB when no loader would read it as a model. A stream that expands
past the budget or beyond the codec's plausible ratio is stopped as a bomb (MLS115).
A codec the gate cannot decode fails closed (MLS115, "could not read").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

from mlsecops.findings import Severity
from mlsecops.formats.codecs import CodecUnavailable, Counting, open_decoder
from mlsecops.formats.detect import detect
from mlsecops.formats.expansion import RATIO_FLOOR, Expansion, ExpansionLimit
from mlsecops.formats.kinds import COMPRESSION, Format
from mlsecops.formats.pickle import VALID as PICKLE_OPCODES
from mlsecops.formats.subfile import SubFile
from mlsecops.stages.models import rules
from mlsecops.stages.models.context import ScanState

__all__ = ["ExpansionLimit", "open_expansion", "scan_expanded"]

SMALL = RATIO_FLOOR
MAX_RATIO = {"bz2": 50, "bzip2": 50, "xz": 200, "lzma": 200, "zip-lzma": 200, "zstd": 1000}
DEFAULT_RATIO = 500
"""Past its first 64 MiB, a stream that expanded more than this many times the bytes it
consumed is a bomb. Set per codec so that the most a stream can cost stays a few
seconds: deflate (at most 1032:1) decodes at about 1.4 GB/s, zstd faster, lz4 cannot
exceed 255:1, xz decodes at about 0.6-1 GB/s, bzip2 at 0.1-0.4 GB/s."""


def open_expansion(state: ScanState, codec: str, source: Callable[[], Counting], member: str | None,
                   what: str, limit: int, crc: bool = False) -> Expansion | None:
    """A lazily decoded view of a compressed stream, or None when the codec cannot be read
    (reported: the loader may read what the gate cannot)."""
    def opener():  # type: ignore[no-untyped-def]
        counter = source()
        return open_decoder(codec, counter), counter

    try:
        return Expansion(opener, state.temp_path(".x"), state.expand, limit, MAX_RATIO.get(codec, DEFAULT_RATIO), crc=crc)
    except CodecUnavailable as exc:
        state.observe(rules.SCAN_LIMIT_EXCEEDED, Severity.high, f"{what}: could not read: {exc}; a loader that has the codec "
                      "reads it, so its content is unchecked", member, f"unreadable:{codec}", evidence=[str(exc)])
        return None


def scan_expanded(state: ScanState, exp: Expansion, name: str, sub: str, member: str | None, depth: int, what: str,
                  unpickled: bool = False, force: Format | None = None) -> bool:
    """Scan a decoded stream as member `sub`; False when it stopped at a limit (reported).

    `unpickled`: the only loader of this stream unpickles it from its first byte (joblib's
    own codecs), so any opening opcode makes it a pickle. `force`: scan it as that format."""
    try:
        exp.fill(SMALL + 1, keep=True)
        if exp.eof:
            _report_error(state, exp, member, what)
            if exp.frontier and force is not None:
                state.scan_child_as(force, exp, exp.frontier, name, sub, depth + 1)
            elif exp.frontier:
                state.scan_child(exp, exp.frontier, name, sub, depth + 1)
            return True
        _scan_large(state, exp, name, sub, member, depth, what, unpickled, force)
    except ExpansionLimit as exc:
        state.observe(rules.SCAN_LIMIT_EXCEEDED, Severity.high, f"{what} {exc}", member, "decompression-bomb")
        return False
    return True


def _report_error(state: ScanState, exp: Expansion, member: str | None, what: str) -> None:
    if exp.damage:
        state.observe(rules.CORRUPT_MODEL_FILE, Severity.medium, f"{what} fails its checksum ({'; '.join(exp.damage)}); the data before "
                      "the check was scanned, as loaders unpickle it before they check", member, "checksum")
    if exp.error is None:
        return
    if exp.frontier == 0:
        state.observe(rules.CORRUPT_MODEL_FILE, Severity.medium, f"{what} is corrupt: {exp.error}", member, "corrupt-compressed")
    else:
        state.observe(rules.CORRUPT_MODEL_FILE, Severity.medium, f"{what} is truncated after {exp.frontier} bytes: {exp.error}", member,
                      "corrupt-compressed")


def _scan_large(state: ScanState, exp: Expansion, name: str, sub: str, member: str | None, depth: int, what: str,
                unpickled: bool, force: Format | None) -> None:
    """More than SMALL bytes: decide from the first SMALL bytes what a loader would read."""
    window = SubFile(exp, 0, SMALL)
    fmt = force or detect(window, name, SMALL)
    if fmt is None and unpickled:
        exp.seek(0)
        first = exp.read(1)
        fmt = Format.pickle if first and first[0] in PICKLE_OPCODES else None
    if fmt is None:
        state.notes.append(f"{sub}: more than {SMALL >> 20} MiB that no loader reads as a model; not decoded further")
        return
    if depth + 1 > state.limits.max_depth:
        state.scan_child_as(fmt, exp, SMALL, name, sub, depth + 1)  # reports the depth limit
        return
    if fmt in (Format.pickle, Format.pytorch_legacy):
        # Walked as the loader reads it, decoding as the walk goes: the walker reads to
        # wherever the stream ends (it is not known in advance), and the stream stops at its
        # budget or ratio (ExpansionLimit) instead of ever reporting an end it did not reach.
        state.scan_child_as(fmt, exp, None, name, sub, depth + 1, whole=False)
        _report_error(state, exp, member, what)
        return
    if fmt in COMPRESSION:
        state.scan_child_as(fmt, exp, exp.limit, name, sub, depth + 1, whole=False)
        return
    size = exp.materialize()
    _report_error(state, exp, member, what)
    state.scan_child_as(fmt, exp, size, name, sub, depth + 1)
