"""ONNX: tensors may keep their data in external files named by a `location`, and the
loader opens whatever path it is given: an absolute or `..` location, or one through a
symlink, reads a file outside the model's folder (CVE-2022-25882, CVE-2024-27318 class).

Every tensor a loader resolves is checked, read from the protobuf wire format without
onnx: what `onnx.load` resolves (`external_data_helper._get_all_tensors`: the
initializers of the graph and of every subgraph of `If`/`Loop`/`Scan` attributes, the
tensors in node attributes such as a `Constant`'s value, in the graph, its subgraphs
and `model.functions`), and what other runtimes also resolve: sparse initializers and
sparse attribute tensors (values and indices) and the graphs of `training_info`.
Attributes are followed whatever their declared type says. Payloads are stepped over.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mlsecops.findings import Severity
from mlsecops.formats import protobuf
from mlsecops.formats.kinds import Format
from mlsecops.stages.models import rules
from mlsecops.stages.models.context import ScanState, model_folder
from mlsecops.stages.models.interface import Handles
from mlsecops.stages.models.shared.members import traversal

MAX_FIELDS = 20_000_000     # fields visited in one model, over all its messages
MAX_NESTING = 64            # graphs inside attributes inside graphs...
MAX_ENTRY = 1 << 16         # an external_data key/value entry longer than this is not a path

# (message kind, field number) -> the kind of the nested message to visit
_CHILDREN: dict[tuple[str, int], str] = {
    ("model", 7): "graph", ("model", 25): "function", ("model", 20): "training",
    ("training", 1): "graph", ("training", 2): "graph",
    ("graph", 1): "node", ("graph", 5): "tensor", ("graph", 15): "sparse",
    ("function", 7): "node", ("function", 11): "attribute",
    ("node", 5): "attribute",
    ("attribute", 5): "tensor", ("attribute", 10): "tensor", ("attribute", 6): "graph", ("attribute", 11): "graph",
    ("attribute", 22): "sparse", ("attribute", 23): "sparse",
    ("sparse", 1): "tensor", ("sparse", 2): "tensor",
}
_LABEL = {("graph", 5): "initializer", ("graph", 15): "sparse initializer", ("attribute", 5): "attribute tensor",
          ("attribute", 10): "attribute tensors", ("attribute", 22): "sparse attribute tensor",
          ("attribute", 23): "sparse attribute tensors", ("sparse", 1): "values", ("sparse", 2): "indices",
          ("attribute", 6): "subgraph", ("attribute", 11): "subgraphs", ("model", 25): "function",
          ("model", 20): "training_info", ("function", 11): "default attribute"}


@dataclass
class ExternalRef:
    location: str
    where: str          # how the tensor is reached, e.g. "graph > node 'c' (Constant) > attribute tensor"
    external: bool      # data_location is EXTERNAL: onnx.load reads it


Chain = tuple  # (parent chain or None, step label, (start, end) of a node message or None)


def external_refs(fh: BinaryIO, size: int) -> list[ExternalRef]:
    """Every external-data location of every tensor in the model. Raises protobuf.WireError
    when the model is not well-formed, protobuf.FieldLimit past the field or nesting budget.
    Messages are walked depth-first with one field iterator per open message, so a graph
    of a million nodes costs a few windows of memory, not a list of its nodes."""
    out: list[ExternalRef] = []
    left = [MAX_FIELDS]
    stack: list[tuple[str, object, Chain, int]] = [("model", protobuf.iter_fields(fh, 0, size, MAX_FIELDS), (None, "model", None), 0)]
    while stack:
        kind, fields, chain, depth = stack[-1]
        item = next(fields, None)  # type: ignore[call-overload]
        if item is None:
            stack.pop()
            continue
        left[0] -= 1
        if left[0] < 0:
            raise protobuf.FieldLimit(f"more than {MAX_FIELDS} fields")
        num, wt, off, ln = item
        child = _CHILDREN.get((kind, num))
        if child is None or wt != protobuf.LEN:
            continue
        step = (chain, _LABEL.get((kind, num), child), (off, off + ln) if child == "node" else None)
        if child == "tensor":
            out.extend(_tensor(fh, off, off + ln, step, left))
            continue
        nested = depth + (child == "graph")
        if nested > MAX_NESTING:
            raise protobuf.FieldLimit(f"graphs nested more than {MAX_NESTING} deep")
        stack.append((child, protobuf.iter_fields(fh, off, off + ln, MAX_FIELDS), step, nested))
    return out


def _where(fh: BinaryIO, chain: Chain) -> str:
    parts: list[str] = []
    while chain is not None:
        parent, label, span = chain
        if span is not None:
            label = _node_label(fh, span, label)
        parts.append(label)
        chain = parent
    return " > ".join(reversed(parts))


def _node_label(fh: BinaryIO, span: tuple[int, int], label: str) -> str:
    name = op = ""
    for num, wt, off, ln in protobuf.iter_fields(fh, span[0], span[1], 100_000):
        if wt == protobuf.LEN and num in (3, 4) and ln < 256:
            text = protobuf.read_at(fh, off, ln).decode("utf-8", "replace")
            name, op = (text, op) if num == 3 else (name, text)
    return f"{label} {name!r} ({op})" if op else f"{label} {name!r}"


def _tensor(fh: BinaryIO, start: int, end: int, chain: Chain, left: list[int]) -> list[ExternalRef]:
    locations: list[str] = []
    external = False
    name = ""
    for num, wt, off, ln in protobuf.iter_fields(fh, start, end, MAX_FIELDS):
        left[0] -= 1
        if left[0] < 0:
            raise protobuf.FieldLimit(f"more than {MAX_FIELDS} fields")
        if num == 14 and wt == protobuf.VARINT:
            external = ln == 1
        elif num == 8 and wt == protobuf.LEN and ln < 1024:
            name = protobuf.read_at(fh, off, ln).decode("utf-8", "replace")
        elif num == 13 and wt == protobuf.LEN:
            if ln > MAX_ENTRY:
                raise protobuf.FieldLimit(f"an external_data entry of {ln} bytes")
            entry = {k: v for k, w, v in protobuf.fields(protobuf.read_at(fh, off, ln)) if isinstance(v, bytes)}
            if entry.get(1) == b"location" and 2 in entry:
                locations.append(entry[2].decode("utf-8", "replace"))
    if not locations:
        return []
    where = _where(fh, chain) + (f" {name!r}" if name else "")
    return [ExternalRef(location=loc, where=where, external=external) for loc in locations]


def escapes(location: str, folder: Path | None) -> str | None:
    """Why reading `location` next to the model reads outside its folder, or None."""
    why = traversal(location)
    if why or folder is None:
        return why
    path = folder
    for part in Path(location.replace("\\", "/")).parts:
        path = path / part
        if path.is_symlink():
            return f"{path.relative_to(folder)} is a symbolic link to {os.readlink(path)!r}"
    return None


def analyze_onnx(state: ScanState, fmt: Format, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> None:
    state.engines_run.add("mlsecops")
    try:
        refs = external_refs(fh, size)
    except protobuf.FieldLimit as exc:
        state.observe(rules.SCAN_LIMIT_EXCEEDED, Severity.high, f"The ONNX model was not fully read ({exc}): tensors past the limit may "
                      "read external files", member, "onnx-limit")
        return
    except protobuf.WireError as exc:
        state.observe(rules.CORRUPT_MODEL_FILE, Severity.medium, f"Malformed ONNX protobuf (onnx.load fails on it too): {exc}", member, "onnx")
        return
    folder = model_folder(state, member)
    for ref in refs:
        why = escapes(ref.location, folder)
        if why:
            state.observe(rules.ARCHIVE_PATH_TRAVERSAL, Severity.high, f"ONNX external data location {ref.location!r} reads a file outside the "
                          f"model folder ({why}), in {ref.where}", member, f"onnx-external:{ref.location}",
                          evidence=[ref.location, ref.where])


ANALYZERS = (Handles(frozenset({Format.onnx}), analyze_onnx),)
