"""Pickle-bearing content: the walk, the allowlist, nested pickles, and the engines.

Every pickle the models stage finds (a raw pickle, a legacy PyTorch stack, a
joblib dump, the data.pkl of a zip checkpoint, a numpy object array) comes
through `analyze_region`. The walker's imports are judged here; fickling and
modelscan then see the same pickle (or its skeleton, large payloads elided)
and their answers are merged into the same findings.

What the walk reports decides the outcome (see formats/pickle/results.py):
where every unpickler fails, what ran before is judged and the break itself is
advisory unless something dangerous ran first; where the walker cannot follow
a loader that would read on, the file is blocked (MLS115) and the finding
says what could not be read. Nothing is silent: engines that could not run
are a finding too.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from mlsecops.findings import Severity
from mlsecops.formats import pickle as pk
from mlsecops.formats.kinds import Format
from mlsecops.formats.pickle.skeleton import skeleton
from mlsecops.formats.subfile import SubFile
from mlsecops.stages.models.allowlist import Judgement, judge
from mlsecops.stages.models.scanfile import ScanState

_RULE = {"deny": "MLS101", "risky": "MLS102", "unknown": "MLS103"}
PICKLE_NAMES = (".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib", ".dill", ".dat", ".data", ".npy", ".sav",
                ".model", ".debug_pkl", ".pkl.gz")
MAX_ENGINE_BYTES = 64 * 1024 * 1024
_NOT_A_NAME = ("<dynamic>", "<unreadable>")
_HOW = {"getattr": "reads {shown} through a constant getattr"}


def _severity(state: ScanState, j: Judgement) -> Severity | None:
    if j.verdict == "deny":
        return Severity.critical
    if j.verdict == "risky":
        return Severity.high
    if j.verdict == "unknown":
        level = state.task.unknown_globals
        return None if level == "off" else Severity(level)
    return None


def _judged_refs(walk: pk.WalkResult) -> dict[tuple[str, str], list[pk.GlobalRef]]:
    """The imports to judge: everything but computed names (MLS104) and special imports
    (getattr, _load_from_bytes) whose every use was resolved to a constant."""
    grouped: dict[tuple[str, str], list[pk.GlobalRef]] = {}
    for ref in walk.globals:
        if ref.module in _NOT_A_NAME or ref.name in _NOT_A_NAME or ref.module == "copyreg._extension_registry":
            continue
        if ref.special and ref.resolved:
            continue
        grouped.setdefault((ref.module, ref.name), []).append(ref)
    return grouped


def judge_walk(state: ScanState, walk: pk.WalkResult, member: str | None) -> bool:
    """Turn one walk's imports and issues into observations; True if anything imported is not allowlisted."""
    suspicious = any(ref.module in _NOT_A_NAME or ref.name in _NOT_A_NAME or ref.opcode == "EXT"
                     for ref in walk.globals)
    dangerous = False  # a known-bad or risky import, or a call to any unlisted one
    for (module, name), refs in _judged_refs(walk).items():
        j = judge(module, name, state.lists)
        called = any(r.called for r in refs)
        if j.verdict == "unknown" and all(r.view for r in refs):
            # Only pickle.load reading a joblib file's array bytes as opcodes gets here: in a
            # benign file those are the array's own pickle run against the outer memo, names
            # no module has. Known-dangerous and risky names from that view are still reported.
            continue
        if j.verdict != "allow":
            suspicious = True
            dangerous = dangerous or j.verdict in ("deny", "risky") or called
        sev = _severity(state, j)
        if sev is None:
            continue
        where = ", ".join(f"{r.opcode}@{r.offset}" for r in refs[:5]) + (f" (+{len(refs) - 5} more)" if len(refs) > 5 else "")
        shown = f"{j.module}.{j.name}"
        how = refs[0].opcode
        message = (_HOW[how].format(shown=shown) if how in _HOW else f"imports {shown}") + \
            f"{' and calls it' if called else ''}: {j.reason}"
        if f"{module}.{name}" != shown:
            message += f" (written as {module}.{name})"
        state.observe(_RULE[j.verdict], sev, message[0].upper() + message[1:], member, f"global:{shown}",
                      evidence=[f"{shown} via {where}"],
                      fix="Do not load this file; re-create the model from trusted code and save it as safetensors."
                      if j.verdict == "deny" else None,
                      properties={"global": f"{j.module}:{j.name}"})  # the exact models.allow_globals entry
    for issue in walk.issues:
        _issue(state, issue, member, dangerous)
    for nested in walk.nested:
        sub_member = f"{member or ''}#nested@{nested.offset}({nested.encoding})"
        inner_suspicious = judge_walk(state, nested.result, sub_member)
        if nested.encoding == "joblib-object-array":
            suspicious = suspicious or inner_suspicious
            continue  # joblib writes object arrays as inline pickles: judged as part of the file
        if not nested.result.globals and not nested.result.calls:
            continue  # a string that starts like a pickle but does nothing
        state.observe(
            "MLS106", Severity.high if inner_suspicious else Severity.low,
            f"A {nested.encoding}-encoded pickle is embedded at offset {nested.offset}"
            + (" and imports code that is not allowlisted" if inner_suspicious else " (it imports nothing dangerous)"),
            member, f"nested:{nested.offset}", evidence=[f"{nested.result.opcodes} opcodes, {len(nested.result.globals)} imports"],
        )
        suspicious = suspicious or inner_suspicious
    return suspicious


def _issue(state: ScanState, issue: pk.Issue, member: str | None, dangerous: bool) -> None:
    ev = [f"{issue.kind} at offset {issue.offset}: {issue.detail}"]
    if issue.kind in ("dynamic-global", "ext-opcode"):
        state.observe("MLS104", Severity.critical, f"The pickle computes an import at runtime: {issue.detail}", member,
                      f"dynamic:{issue.offset}", evidence=ev)
    elif issue.kind == "build-on-global":
        state.observe("MLS107", Severity.critical, issue.detail, member, f"mutation:{issue.offset}", evidence=ev)
    elif issue.kind in pk.BREAKS:
        # Every unpickler fails here: nothing after it runs. What ran before is judged on its own;
        # a break after something dangerous is the nullifAI technique (scanners stop at the error).
        if dangerous:
            state.observe("MLS105", Severity.high, f"The pickle stream breaks at offset {issue.offset} ({issue.detail}) "
                          "after importing and calling code that is not allowlisted", member, "malformed", evidence=ev)
        else:
            state.observe("MLS105", Severity.low, f"The pickle stream is corrupt: every unpickler fails at offset "
                          f"{issue.offset} ({issue.detail}) before any import or call that is not allowlisted",
                          member, "malformed", evidence=ev)
    elif issue.kind in pk.BLIND:
        state.observe("MLS115", Severity.high, f"The pickle could not be read to its end: {issue.detail}. An unpickler "
                      "would read on, so the unread part is treated as dangerous", member, issue.kind, evidence=ev)
    elif issue.kind == "computed-checkpoint":
        state.observe("MLS115", Severity.high, f"A checkpoint could not be scanned: {issue.detail}", member,
                      f"computed-checkpoint:{issue.offset}", evidence=ev)
    elif issue.kind == "misplaced-proto":
        state.observe("MLS105", Severity.low, "The pickle has a PROTO opcode after its start, which confuses some scanners",
                      member, "misplaced-proto", evidence=ev)
    elif issue.kind == "trailing-data":
        state.observe("MLS105", Severity.low, f"Data after the last pickle is not a pickle ({issue.detail}); "
                      "every unpickler stops there", member, "trailing", evidence=ev)
    # "loader-split" and "frame-end" explain how unpicklers part ways: evidence, not findings.


def analyze_region(state: ScanState, fh: BinaryIO, start: int, end: int | None, member: str | None, name: str,
                   legacy_torch: bool = False, expect_pickle: bool = True, depth: int = 0,
                   max_pickles: int | None = None, persistent: str | None = None) -> pk.WalkResult:
    """Walk fh[start:end] as (stacked) pickles, judge, and run the engines on the same bytes.
    end=None: to wherever the stream ends (a stream decoded as it is walked); `persistent`:
    the loader's persistent_load when it is known (vm.Options)."""
    walk = pk.walk(fh, start, end, state.limits.max_opcodes, legacy_torch=legacy_torch, max_pickles=max_pickles,
                   opts=pk.Options(persistent=persistent) if persistent else None)
    state.pickles += walk.pickles
    state.opcodes += walk.opcodes
    state.engines_run.add("mlsecops")
    state.walks[member] = walk
    judge_walk(state, walk, member)
    runs = walk.complete or any(g.called for g in walk.globals)
    if not expect_pickle and runs and not name.lower().endswith(PICKLE_NAMES):
        state.observe("MLS110", Severity.medium, f"This is a pickle, but its name {name!r} suggests another format",
                      member, "disguised", evidence=[f"protocol {walk.protocol}, {walk.opcodes} opcodes"])
    if not walk.data_only_proof and walk.globals:
        _engines(state, fh, walk, start, walk.end, member)
    for nested in walk.nested:
        if nested.encoding == "joblib-object-array" and nested.result.globals:
            _engines(state, fh, nested.result, nested.offset, nested.result.end,
                     f"{member or ''}#nested@{nested.offset}({nested.encoding})")
    for emb in walk.embedded:
        _embedded(state, fh, emb, member, depth)
    return walk


def _embedded(state: ScanState, fh: BinaryIO, emb: pk.Embedded, member: str | None, depth: int) -> None:
    """torch.storage._load_from_bytes(b"...") is torch.load on those bytes: scan them as a file."""
    from mlsecops.stages.models.scanfile import scan_stream

    sub_member = f"{member or ''}#load_from_bytes@{emb.offset}"
    sub: BinaryIO = io.BytesIO(emb.data) if emb.data is not None else SubFile(fh, emb.offset, emb.size)  # type: ignore[assignment]
    if scan_stream(state, sub, emb.size, "storage.pt", sub_member, depth + 1) is None:
        # torch.load of anything else still unpickles it (it checks the magic number after).
        analyze_region(state, sub, 0, emb.size, sub_member, "storage.pt", legacy_torch=True, depth=depth + 1)


def _engines(state: ScanState, fh: BinaryIO, walk: pk.WalkResult, start: int, end: int, member: str | None) -> None:
    from mlsecops.stages.models.engines import fickling_engine, modelscan_engine

    wanted = [e for e in ("fickling", "modelscan") if state.engine_enabled(e)]
    if not wanted:
        return
    data = None
    if walk.opcodes <= state.limits.engine_max_opcodes:
        data = skeleton(fh, walk, start, end, MAX_ENGINE_BYTES)
        why = f"its skeleton is larger than {MAX_ENGINE_BYTES >> 20} MiB"
    else:
        why = f"{walk.opcodes} opcodes is above the engines' limit ({state.limits.engine_max_opcodes})"
    if data is None:
        state.observe("MLS115", Severity.low, f"{' and '.join(wanted)} did not analyse this pickle: {why}; "
                      "mlsecops's own walk read all of it", member, "engines-skipped", evidence=[why])
        return
    stacked = walk.pickles > 1
    if "fickling" in wanted and member not in state.fickling_zip:
        fickling_engine.scan(state, data, member, stacked, walk)
    if "modelscan" in wanted:
        modelscan_engine.scan_pickle(state, data, member, walk)


def analyze_pickle_file(state: ScanState, fmt: Format, fh: BinaryIO, size: int | None, name: str, member: str | None,
                        depth: int) -> None:
    """A raw pickle, a stack of pickles, or a legacy torch.save file (size None: a stream whose
    end is found by reading it)."""
    walk = analyze_region(state, fh, 0, size, member, name, legacy_torch=fmt == Format.pytorch_legacy,
                          expect_pickle=fmt == Format.pytorch_legacy, depth=depth)
    if walk.joblib_arrays:
        state.formats.append(Format.joblib.value)
