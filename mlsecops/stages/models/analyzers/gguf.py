"""GGUF (llama.cpp): the metadata key/values, where `tokenizer.chat_template` is a
Jinja template that llama-cpp-python rendered without a sandbox (CVE-2024-34359).

Values are read by their declared types with every length checked against the
file; token arrays (hundreds of thousands of strings) are skipped by seeking.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from mlsecops.findings import Severity
from mlsecops.formats.kinds import Format
from mlsecops.stages.models import rules
from mlsecops.stages.models.context import ScanState
from mlsecops.stages.models.interface import Handles
from mlsecops.stages.models.shared.templating import judge_template

_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
STRING, ARRAY = 8, 9
MAX_KV = 1_000_000
MAX_TEMPLATE = 16 * 1024 * 1024


class _Bad(Exception):
    pass


def _u(fh: BinaryIO, fmt: str, n: int) -> int:
    data = fh.read(n)
    if len(data) != n:
        raise _Bad("truncated")
    return struct.unpack(fmt, data)[0]  # type: ignore[no-any-return]


def _string(fh: BinaryIO, size: int, keep: bool) -> str | None:
    n = _u(fh, "<Q", 8)
    if fh.tell() + n > size:
        raise _Bad("string runs past the end of the file")
    if keep and n <= MAX_TEMPLATE:
        return fh.read(n).decode("utf-8", "replace")
    fh.seek(n, 1)
    return None


def _skip_value(fh: BinaryIO, size: int, vtype: int, depth: int = 0) -> None:
    if vtype in _FIXED:
        fh.seek(_FIXED[vtype], 1)
    elif vtype == STRING:
        _string(fh, size, False)
    elif vtype == ARRAY:
        if depth > 4:
            raise _Bad("arrays nested too deep")
        itype = _u(fh, "<I", 4)
        count = _u(fh, "<Q", 8)
        if itype in _FIXED:
            if fh.tell() + count * _FIXED[itype] > size:
                raise _Bad("array runs past the end of the file")
            fh.seek(count * _FIXED[itype], 1)
        else:
            if count > size:
                raise _Bad("array count larger than the file")
            for _ in range(count):
                _skip_value(fh, size, itype, depth + 1)
    else:
        raise _Bad(f"unknown value type {vtype}")
    if fh.tell() > size:
        raise _Bad("value runs past the end of the file")


def analyze_gguf(state: ScanState, fmt: Format, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> None:
    fh.seek(4)
    state.engines_run.add("mlsecops")
    try:
        version = _u(fh, "<I", 4)
        if version == 1:
            _u(fh, "<I", 4)
            kv_count = _u(fh, "<I", 4)
        else:
            _u(fh, "<Q", 8)
            kv_count = _u(fh, "<Q", 8)
        if kv_count > MAX_KV:
            raise _Bad(f"{kv_count} metadata entries")
        for _ in range(kv_count):
            key = _string(fh, size, True) or ""
            vtype = _u(fh, "<I", 4)
            if vtype == STRING and ("template" in key or key.startswith("tokenizer.chat")):
                value = _string(fh, size, True)
                if value is not None:
                    judge_template(state, value, member, f"metadata {key}")
            else:
                _skip_value(fh, size, vtype)
    except _Bad as exc:
        state.observe(rules.CORRUPT_MODEL_FILE, Severity.medium, f"Malformed GGUF metadata: {exc}", member, "gguf")


ANALYZERS = (Handles(frozenset({Format.gguf}), analyze_gguf),)
