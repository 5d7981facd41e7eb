"""safetensors: cannot carry code; the header is still checked, since a loader
trusts its offsets (overlapping or out-of-range tensors are a corrupt or crafted file)."""

from __future__ import annotations

import json
import struct
from typing import BinaryIO

from mlsecops.findings import Severity
from mlsecops.formats.kinds import Format
from mlsecops.stages.models import rules
from mlsecops.stages.models.context import ScanState
from mlsecops.stages.models.interface import Handles

MAX_HEADER = 100 * 1024 * 1024
_DTYPES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
           "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8, "C64": 8, "F4": 1, "F6_E2M3": 1, "F6_E3M2": 1}


def problems(header: object, data_len: int) -> list[str]:
    if not isinstance(header, dict):
        return ["the header is not a JSON object"]
    out: list[str] = []
    spans = []
    for name, t in header.items():
        if name == "__metadata__":
            if not isinstance(t, dict) or not all(isinstance(v, str) for v in t.values()):
                out.append("__metadata__ must map strings to strings")
            continue
        if not isinstance(t, dict) or not {"dtype", "shape", "data_offsets"} <= set(t):
            out.append(f"tensor {name!r} lacks dtype/shape/data_offsets")
            continue
        offs, shape = t["data_offsets"], t["shape"]
        if not (isinstance(offs, list) and len(offs) == 2 and all(isinstance(o, int) for o in offs) and 0 <= offs[0] <= offs[1] <= data_len):
            out.append(f"tensor {name!r} has data_offsets outside the data")
            continue
        if isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape) and t["dtype"] in _DTYPES:
            count = 1
            for d in shape:
                count *= d
            if t["dtype"] not in ("F4", "F6_E2M3", "F6_E3M2") and count * _DTYPES[t["dtype"]] != offs[1] - offs[0]:
                out.append(f"tensor {name!r}: shape and dtype do not match its byte size")
        spans.append((offs[0], offs[1], name))
    spans.sort()
    for (a0, a1, an), (b0, _b1, bn) in zip(spans, spans[1:]):
        if b0 < a1:
            out.append(f"tensors {an!r} and {bn!r} overlap")
            break
    return out


def analyze_safetensors(state: ScanState, fmt: Format, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> None:
    fh.seek(0)
    (n,) = struct.unpack("<Q", fh.read(8))
    state.engines_run.add("mlsecops")
    if n > MAX_HEADER:
        state.observe(rules.CORRUPT_MODEL_FILE, Severity.medium,
                      f"safetensors header of {n} bytes is larger than any real model's", member, "st-header")
        return
    try:
        header = json.loads(fh.read(n))
    except (ValueError, RecursionError) as exc:
        state.observe(rules.CORRUPT_MODEL_FILE, Severity.medium, f"safetensors header is not JSON: {exc}"[:200], member, "st-header")
        return
    found = problems(header, size - 8 - n)
    if found:
        state.observe(rules.CORRUPT_MODEL_FILE, Severity.medium, f"Malformed safetensors header: {found[0]}", member, "st-header", evidence=found[:5])


ANALYZERS = (Handles(frozenset({Format.safetensors}), analyze_safetensors),)
