"""numpy `.npy`: the header is a Python literal (read with ast.literal_eval, never
eval); an object dtype means the payload after it is a pickle."""

from __future__ import annotations

import ast
import struct
from typing import BinaryIO

from mlsecops.findings import Severity
from mlsecops.formats.kinds import Format
from mlsecops.stages.models.analyzers import pickles
from mlsecops.stages.models.scanfile import ScanState

MAX_HEADER = 1 << 16


def analyze_npy(state: ScanState, fmt: Format, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> None:
    fh.seek(0)
    head = fh.read(12)
    try:
        major = head[6]
        if major == 1:
            (hlen,) = struct.unpack_from("<H", head, 8)
            start = 10
        elif major in (2, 3):
            (hlen,) = struct.unpack_from("<I", head, 8)
            start = 12
        else:
            raise ValueError(f"unknown .npy version {major}")
        if hlen > MAX_HEADER or start + hlen > size:
            raise ValueError("header length out of range")
        fh.seek(start)
        header = ast.literal_eval(fh.read(hlen).decode("latin1").strip())
        if not isinstance(header, dict) or "descr" not in header:
            raise ValueError("header is not a dict with 'descr'")
    except (ValueError, SyntaxError, IndexError, struct.error, MemoryError, RecursionError) as exc:
        state.observe("MLS120", Severity.medium, f"Malformed .npy header: {exc}"[:200], member, "npy-header")
        return
    if "O" in str(header.get("descr")):
        state.formats.append(Format.numpy_object.value)
        pickles.analyze_region(state, fh, start + hlen, size, member, name, expect_pickle=True)
