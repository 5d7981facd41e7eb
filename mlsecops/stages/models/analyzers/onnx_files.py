"""ONNX: initializers may point at external data files by path, and `onnx.load`
reads whatever path it is given: an absolute or `..` location reads files outside
the model folder (CVE-2022-25882 class). Read from the protobuf wire format."""

from __future__ import annotations

from typing import BinaryIO

from mlsecops.findings import Severity
from mlsecops.formats import protobuf
from mlsecops.formats.kinds import Format
from mlsecops.stages.models.analyzers.archives import traversal
from mlsecops.stages.models.scanfile import ScanState

MAX_INITIALIZERS = 1_000_000


def external_locations(fh: BinaryIO, size: int) -> list[str]:
    out: list[str] = []
    for num, wt, off, ln in protobuf.top_level(fh, size) or []:
        if num != 7 or wt != protobuf.LEN:  # ModelProto.graph
            continue
        for gnum, gwt, goff, gln in protobuf.top_level(fh, off + ln, start=off, max_fields=MAX_INITIALIZERS) or []:
            if gnum != 5 or gwt != protobuf.LEN:  # GraphProto.initializer
                continue
            for tnum, twt, toff, tln in protobuf.top_level(fh, goff + gln, start=goff) or []:
                if tnum == 13 and twt == protobuf.LEN and tln < 65536:  # TensorProto.external_data
                    entry = dict(
                        (k, v) for k, _, v in protobuf.fields(protobuf.read_at(fh, toff, tln)) if isinstance(v, bytes)
                    )
                    if entry.get(1) == b"location" and 2 in entry:
                        out.append(entry[2].decode("utf-8", "replace"))
    return out


def analyze_onnx(state: ScanState, fmt: Format, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> None:
    state.engines_run.add("mlsecops")
    try:
        locations = external_locations(fh, size)
    except protobuf.WireError as exc:
        state.observe("MLS120", Severity.medium, f"Malformed ONNX protobuf: {exc}", member, "onnx")
        return
    for loc in locations:
        why = traversal(loc)
        if why:
            state.observe("MLS114", Severity.high, f"ONNX external data location {loc!r} reads a file outside the model folder ({why})",
                          member, f"onnx-external:{loc}", evidence=[loc])
