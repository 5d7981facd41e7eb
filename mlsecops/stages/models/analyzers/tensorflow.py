"""TensorFlow graphs (SavedModel `saved_model.pb`, frozen GraphDef `.pb`): the op
name of every node, including those in the function library, read from the
protobuf wire format without TensorFlow. Large constants are never read."""

from __future__ import annotations

from typing import BinaryIO

from mlsecops.findings import Severity
from mlsecops.formats import protobuf
from mlsecops.formats.kinds import Format
from mlsecops.stages.models import rules
from mlsecops.stages.models.context import ScanState
from mlsecops.stages.models.interface import Handles

RUNS_PYTHON = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}
TOUCHES_FILES = {"ReadFile", "WriteFile", "MatchingFiles", "ImmutableConst", "DebugIdentity", "DebugIdentityV2",
                 "DebugNumericSummary", "PrintV2", "WriteAudioSummary", "WriteImageSummary", "CreateSummaryFileWriter"}
MAX_FIELDS = 20_000_000  # fields read over the whole graph; past it the rest fails closed


def _fields(fh: BinaryIO, start: int, end: int, budget: list[int]) -> list[tuple[int, int, int, int]]:
    fields = list(protobuf.iter_fields(fh, start, end, budget[0]))
    budget[0] -= len(fields)
    return fields


def _ops(fh: BinaryIO, start: int, end: int, graph_fields: tuple[int, int], budget: list[int]) -> list[str]:
    """Op names of GraphDef nodes (field 1) and of functions in its library (field 2)."""
    node_field, library_field = graph_fields
    out: list[str] = []
    for num, wt, off, ln in _fields(fh, start, end, budget):
        if wt != protobuf.LEN:
            continue
        if num == node_field:
            for n2, w2, o2, l2 in _fields(fh, off, off + ln, budget):
                if n2 == 2 and w2 == protobuf.LEN and l2 < 256:
                    out.append(protobuf.read_at(fh, o2, l2).decode("utf-8", "replace"))
        elif num == library_field:
            for fnum, fwt, foff, fln in _fields(fh, off, off + ln, budget):
                if fnum == 1 and fwt == protobuf.LEN:  # FunctionDef
                    out.extend(_ops(fh, foff, foff + fln, (3, -1), budget))
    return out


def analyze_graph(state: ScanState, fmt: Format, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> None:
    budget = [MAX_FIELDS]
    ops: list[str] = []
    state.engines_run.add("mlsecops")
    try:
        try:
            for num, wt, off, ln in _fields(fh, 0, size, budget):
                if num == 2 and wt == protobuf.LEN:  # as a SavedModel: meta_graphs -> MetaGraphDef.graph_def (field 2)
                    for mnum, mwt, moff, mln in _fields(fh, off, off + ln, budget):
                        if mnum == 2 and mwt == protobuf.LEN:
                            ops.extend(_ops(fh, moff, moff + mln, (1, 2), budget))
        except protobuf.WireError:
            ops = []  # not a SavedModel
        if not ops:  # as a frozen GraphDef
            ops = _ops(fh, 0, size, (1, 2), budget)
    except protobuf.FieldLimit as exc:
        state.observe(rules.SCAN_LIMIT_EXCEEDED, Severity.high, f"The TensorFlow graph was not fully read ({exc}): ops past the limit "
                      "were not checked", member, "tf-limit")
    except protobuf.WireError as exc:
        if not ops:
            state.observe(rules.CORRUPT_MODEL_FILE, Severity.medium, f"Malformed TensorFlow protobuf (TensorFlow fails on it too): {exc}",
                          member, "tf-graph")
    for op in sorted(set(ops)):
        if op in RUNS_PYTHON:
            state.observe(rules.TENSORFLOW_UNSAFE_OP, Severity.critical, f"The graph uses {op}, which runs arbitrary Python when the graph executes",
                          member, f"tf-op:{op}", evidence=[f"op {op}"])
        elif op in TOUCHES_FILES:
            state.observe(rules.TENSORFLOW_UNSAFE_OP, Severity.high, f"The graph uses {op}, which reads or writes files when the graph executes",
                          member, f"tf-op:{op}", evidence=[f"op {op}"])


ANALYZERS = (Handles(frozenset({Format.tf_savedmodel}), analyze_graph),)
