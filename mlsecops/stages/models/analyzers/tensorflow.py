"""TensorFlow graphs (SavedModel `saved_model.pb`, frozen GraphDef `.pb`): the op
name of every node, including those in the function library, read from the
protobuf wire format without TensorFlow. Large constants are never read."""

from __future__ import annotations

from typing import BinaryIO

from mlsecops.findings import Severity
from mlsecops.formats import protobuf
from mlsecops.formats.kinds import Format
from mlsecops.stages.models.scanfile import ScanState

RUNS_PYTHON = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}
TOUCHES_FILES = {"ReadFile", "WriteFile", "MatchingFiles", "ImmutableConst", "DebugIdentity", "DebugIdentityV2",
                 "DebugNumericSummary", "PrintV2", "WriteAudioSummary", "WriteImageSummary", "CreateSummaryFileWriter"}
MAX_NODES = 2_000_000


def _ops(fh: BinaryIO, start: int, end: int, graph_fields: tuple[int, int], budget: list[int]) -> list[str]:
    """Op names of GraphDef nodes (field 1) and of functions in its library (field 2)."""
    node_field, library_field = graph_fields
    out: list[str] = []
    top = protobuf.top_level(fh, end, start=start, max_fields=MAX_NODES) or []
    for num, wt, off, ln in top:
        if wt != protobuf.LEN:
            continue
        if num == node_field:
            budget[0] -= 1
            if budget[0] < 0:
                return out
            node = protobuf.top_level(fh, off + ln, start=off, max_fields=10_000) or []
            for n2, w2, o2, l2 in node:
                if n2 == 2 and w2 == protobuf.LEN and l2 < 256:
                    out.append(protobuf.read_at(fh, o2, l2).decode("utf-8", "replace"))
        elif num == library_field:
            for fnum, fwt, foff, fln in protobuf.top_level(fh, off + ln, start=off) or []:
                if fnum == 1 and fwt == protobuf.LEN:  # FunctionDef
                    out.extend(_ops(fh, foff, foff + fln, (3, -1), budget))
    return out


def analyze_graph(state: ScanState, fmt: Format, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> None:
    top = protobuf.top_level(fh, size) or []
    budget = [MAX_NODES]
    ops: list[str] = []
    for num, wt, off, ln in top:
        if wt != protobuf.LEN:
            continue
        if num == 2:  # as a SavedModel: meta_graphs -> MetaGraphDef.graph_def (field 2)
            for mnum, mwt, moff, mln in protobuf.top_level(fh, off + ln, start=off) or []:
                if mnum == 2 and mwt == protobuf.LEN:
                    ops.extend(_ops(fh, moff, moff + mln, (1, 2), budget))
    if not ops:  # as a frozen GraphDef
        ops = _ops(fh, 0, size, (1, 2), budget)
    state.engines_run.add("mlsecops")
    for op in sorted(set(ops)):
        if op in RUNS_PYTHON:
            state.observe("MLS117", Severity.critical, f"The graph uses {op}, which runs arbitrary Python when the graph executes",
                          member, f"tf-op:{op}", evidence=[f"op {op}"])
        elif op in TOUCHES_FILES:
            state.observe("MLS117", Severity.high, f"The graph uses {op}, which reads or writes files when the graph executes",
                          member, f"tf-op:{op}", evidence=[f"op {op}"])
