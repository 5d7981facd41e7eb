"""Pickle-bearing content: the opcode walk, the allowlist, nested pickles, and the engines.

Every pickle the models stage finds (a raw pickle, a legacy PyTorch stack, a
joblib dump, the data.pkl of a zip checkpoint, a numpy object array) comes
through `analyze_region`. The walker's imports are judged here; fickling and
modelscan then see the same pickle (or a skeleton of it with the large
payloads elided) and their answers are merged into the same findings.
"""

from __future__ import annotations

from typing import BinaryIO

from mlsecops.findings import Severity
from mlsecops.formats import pickle_walk
from mlsecops.formats.kinds import Format
from mlsecops.formats.pickle_walk import WalkResult
from mlsecops.stages.models.allowlist import Judgement, judge
from mlsecops.stages.models.scanfile import ScanState

_RULE = {"deny": "MLS101", "risky": "MLS102", "unknown": "MLS103"}
PICKLE_NAMES = (".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib", ".dill", ".dat", ".data", ".npy", ".sav",
                ".model", ".debug_pkl", ".pkl.gz")
MAX_ENGINE_BYTES = 64 * 1024 * 1024


def _severity(state: ScanState, j: Judgement) -> Severity | None:
    if j.verdict == "deny":
        return Severity.critical
    if j.verdict == "risky":
        return Severity.high
    if j.verdict == "unknown":
        level = state.task.unknown_globals
        return None if level == "off" else Severity(level)
    return None


def judge_walk(state: ScanState, walk: WalkResult, member: str | None) -> bool:
    """Turn one walk's imports and issues into observations; True if anything imported is not allowlisted."""
    suspicious = False
    dangerous_before_break = False  # a known-bad or risky import, or a call to any unlisted one
    grouped: dict[tuple[str, str], list[pickle_walk.GlobalRef]] = {}
    for ref in walk.globals:
        grouped.setdefault((ref.module, ref.name), []).append(ref)
    for (module, name), refs in grouped.items():
        if module in ("<dynamic>", "copyreg._extension_registry") or name == "<dynamic>":
            suspicious = True  # reported as MLS104 with the issue that produced it
            continue
        j = judge(module, name, state.lists)
        sev = _severity(state, j)
        if j.verdict != "allow":
            suspicious = True
            if j.verdict in ("deny", "risky") or any(r.called for r in refs):
                dangerous_before_break = True
        if sev is None:
            continue
        called = any(r.called for r in refs)
        where = ", ".join(f"{r.opcode}@{r.offset}" for r in refs[:5]) + (f" (+{len(refs) - 5} more)" if len(refs) > 5 else "")
        shown = f"{j.module}.{j.name}"
        raw = f"{module}.{name}"
        message = f"imports {shown}{' and calls it' if called else ''}: {j.reason}"
        if raw != shown:
            message += f" (written as {raw})"
        state.observe(_RULE[j.verdict], sev, message[0].upper() + message[1:], member, f"global:{shown}",
                      evidence=[f"{shown} via {where}"],
                      fix="Do not load this file; re-create the model from trusted code and save it as safetensors."
                      if j.verdict == "deny" else None,
                      properties={"global": f"{j.module}:{j.name}"})  # the exact models.allow_globals entry
    for issue in walk.issues:
        _issue(state, issue, member, walk, dangerous_before_break)
    for nested in walk.nested:
        sub_member = f"{member or ''}#nested@{nested.offset}({nested.encoding})"
        inner_suspicious = judge_walk(state, nested.result, sub_member)
        if nested.encoding == "joblib-object-array" and not inner_suspicious:
            continue  # joblib writes object arrays as inline pickles: expected, and clean
        state.observe(
            "MLS106", Severity.high if inner_suspicious else Severity.low,
            f"A {nested.encoding}-encoded pickle is embedded at offset {nested.offset}"
            + (" and imports code that is not allowlisted" if inner_suspicious else " (it imports nothing dangerous)"),
            member, f"nested:{nested.offset}", evidence=[f"{nested.result.opcodes} opcodes, {len(nested.result.globals)} imports"],
        )
        suspicious = suspicious or inner_suspicious
    return suspicious


def _issue(state: ScanState, issue: pickle_walk.Issue, member: str | None, walk: WalkResult, dangerous: bool) -> None:
    ev = [f"{issue.kind} at offset {issue.offset}: {issue.detail}"]
    if issue.kind in ("dynamic-global", "ext-opcode"):
        state.observe("MLS104", Severity.critical, f"The pickle computes an import at runtime: {issue.detail}", member,
                      f"dynamic:{issue.offset}", evidence=ev)
    elif issue.kind == "build-on-global":
        state.observe("MLS107", Severity.critical, issue.detail, member, f"mutation:{issue.offset}", evidence=ev)
    elif issue.kind in ("malformed", "truncated", "memo-missing"):
        # nullifAI: the calls before the break run. High when something dangerous ran (a
        # known-bad or risky import, or a call to an unlisted one), not for a stray import
        # in a text file that merely starts like a pickle.
        sev = Severity.high if dangerous else Severity.medium
        what = ("imports and calls code that is not allowlisted before the break" if dangerous
                else "nothing dangerous runs before the break")
        state.observe("MLS105", sev, f"The pickle stream is broken ({issue.detail}); it {what}", member, "malformed", evidence=ev)
    elif issue.kind in ("opcode-limit", "nesting-limit"):
        state.observe("MLS115", Severity.high, f"The pickle was not fully analysed: {issue.detail}", member, issue.kind, evidence=ev)
    elif issue.kind == "misplaced-proto":
        state.observe("MLS105", Severity.low, "The pickle has a PROTO opcode after its start, which confuses some scanners",
                      member, "misplaced-proto", evidence=ev)
    elif issue.kind == "trailing-data":
        state.observe("MLS105", Severity.low, f"Data follows the last pickle: {issue.detail}", member, "trailing", evidence=ev)
    # "unbalanced-stop" is informational: pickle returns the top of the stack regardless.


def analyze_region(state: ScanState, fh: BinaryIO, start: int, end: int, member: str | None, name: str,
                   legacy_torch: bool = False, expect_pickle: bool = True) -> WalkResult:
    """Walk fh[start:end] as (stacked) pickles, judge, and run the engines on the same bytes."""
    walk = pickle_walk.walk(fh, start, end, state.limits.max_opcodes, legacy_torch=legacy_torch)
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
        _engines(state, fh, walk, start, member)
    return walk


def _engines(state: ScanState, fh: BinaryIO, walk: WalkResult, start: int, member: str | None) -> None:
    from mlsecops.stages.models.engines import fickling_engine, modelscan_engine

    if walk.opcodes > state.limits.engine_max_opcodes:
        state.notes.append(
            f"{member or 'pickle'}: {walk.opcodes} opcodes is above the engines' limit "
            f"({state.limits.engine_max_opcodes}); fickling and modelscan did not run, mlsecops's own walk did"
        )
        return
    data = skeleton(fh, walk, start)
    if data is None:
        return
    stacked = walk.pickles > 1
    if state.engine_enabled("fickling") and member not in state.fickling_zip:
        fickling_engine.scan(state, data, member, stacked, walk)
    if state.engine_enabled("modelscan"):
        modelscan_engine.scan_pickle(state, data, member, walk)


def skeleton(fh: BinaryIO, walk: WalkResult, start: int) -> bytes | None:
    """The pickle's bytes with large payloads replaced by short placeholders, so the
    engines see every opcode that matters without being handed gigabytes."""
    end = walk.spans[-1][1] if walk.spans else walk.end
    if end <= start:
        return None
    regions = sorted(walk.elided)
    total = (end - start) - sum(n for _, n, _ in regions)
    if total > MAX_ENGINE_BYTES:
        return None
    parts: list[bytes] = []
    pos = start
    for off, n, replacement in regions:
        if off < pos or off + n > end:
            continue
        fh.seek(pos)
        parts.append(fh.read(off - pos))
        parts.append(replacement)
        pos = off + n
    fh.seek(pos)
    parts.append(fh.read(end - pos))
    return b"".join(parts)


def analyze_pickle_file(state: ScanState, fmt: Format, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> None:
    """A raw pickle, a stack of pickles, or a legacy torch.save file."""
    walk = analyze_region(state, fh, 0, size, member, name, legacy_torch=fmt == Format.pytorch_legacy,
                          expect_pickle=fmt == Format.pytorch_legacy)
    if walk.joblib_arrays:
        state.formats.append(Format.joblib.value)
