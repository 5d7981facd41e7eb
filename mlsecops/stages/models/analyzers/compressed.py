"""Compressed files: gzip, bz2, xz, lzma, zlib, zstd, lz4 and joblib's `ZF` files around
one stream (joblib and pandas dumps). The decoded stream is scanned as a child stream
(shared/decoded.py: lazily, within the expansion budget and the codec's plausible ratio)."""

from __future__ import annotations

import re
from typing import BinaryIO

from mlsecops.formats.codecs import Counting
from mlsecops.formats.kinds import COMPRESSION, JOBLIB_ONLY, Format
from mlsecops.stages.models.context import MB, ScanState
from mlsecops.stages.models.interface import Handles
from mlsecops.stages.models.shared.decoded import open_expansion, scan_expanded
from mlsecops.stages.models.shared.members import join_member

_SUFFIX = re.compile(r"\.(gz|gzip|bz2|xz|lzma|z|zst|zstd|lz4)$", re.I)


def inner_name(name: str) -> str:
    return _SUFFIX.sub("", name) or name


def analyze_compressed(state: ScanState, fmt: Format, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> None:
    limit = min(state.limits.max_expanded_mb * MB - state.expanded, state.limits.max_file_mb * MB)
    what = f"The {fmt.value} stream"
    exp = open_expansion(state, fmt.value, lambda: Counting(fh, 0, size), member, what, limit)
    if exp is None:
        return
    with exp:
        scan_expanded(state, exp, inner_name(name), join_member(member, f"({fmt.value})"), member, depth, what,
                      unpickled=fmt in JOBLIB_ONLY)


ANALYZERS = (Handles(frozenset(COMPRESSION), analyze_compressed),)
