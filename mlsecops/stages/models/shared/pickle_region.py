"""A pickle region: the walk, the allowlist, nested pickles, and the engines.

Every pickle the models stage finds (a raw pickle, a legacy PyTorch stack, a
joblib dump, the data.pkl of a zip checkpoint, a numpy object array, a legacy
torch tar's members) comes through `analyze_region`, whichever analyzer found it.
The walker's imports are judged here; the engines (fickling, modelscan) then see
the same pickle (or its skeleton, large payloads elided) and their answers are
merged into the same findings.

What the walk reports decides the outcome (see formats/pickle/results.py):
where every unpickler fails, what ran before is judged and the break itself is
advisory unless something dangerous ran first; where the walker cannot follow
a loader that would read on, the file is blocked (MLS115) and the finding
says what could not be read. Nothing is silent: engines that could not run
are a finding too.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

from mlsecops.findings import Severity
from mlsecops.formats import pickle as pk
from mlsecops.formats.pickle.skeleton import skeleton
from mlsecops.formats.safe_open import NotRegularFile, open_regular
from mlsecops.formats.subfile import SubFile
from mlsecops.stages.models import rules
from mlsecops.stages.models.allowlist import Judgement, Lists, checks_anywhere, identity, judge
from mlsecops.stages.models.context import ScanState, model_folder
from mlsecops.stages.models.shared.members import join_member

_RULE = {"deny": rules.DANGEROUS_PICKLE_IMPORT, "risky": rules.RISKY_PICKLE_IMPORT,
         "unknown": rules.UNKNOWN_PICKLE_IMPORT}
PICKLE_NAMES = (".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib", ".dill", ".dat", ".data", ".npy", ".sav",
                ".model", ".debug_pkl", ".pkl.gz")
MAX_ENGINE_BYTES = 64 * 1024 * 1024
_NOT_A_NAME = ("<dynamic>", "<unreadable>")
_HOW = {"getattr": "reads {shown} through a constant getattr"}


def _severity(state: ScanState, j: Judgement, calls_unknown: bool = False) -> Severity | None:
    if j.verdict == "deny":
        return Severity.critical
    if j.verdict == "risky":
        return Severity.high
    if j.verdict == "unknown":
        level = state.task.unknown_calls if calls_unknown else state.task.unknown_globals
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


@dataclass
class Use:
    """How a pickle uses one import, from all its references: what the allowlist's rules ask."""

    called: bool = False  # some call runs it: REDUCE/INST/OBJ, or code it was handed to calls it
    with_args: bool = False  # ... with arguments from the pickle
    classy: bool = False  # the pickle's own evidence that it is a class (NEWOBJ, BUILD on what it made)
    value_only: bool = True  # every call had one constant argument: how an enum member is rebuilt, Cls(value)
    caller: str | None = None  # the allowlisted code that calls it, when that is how it runs
    states: list[Mapping[str, object] | None] = field(default_factory=list)


def use_of(walk: pk.WalkResult, refs: list[pk.GlobalRef], lists: Lists) -> Use:
    """Combine the walker's record of each reference with what the allowlist knows of the code
    they were handed to (`calls_args`: which arguments a callable calls, or instantiates)."""
    u = Use(called=any(r.reduced for r in refs), with_args=any(r.with_args for r in refs),
            classy=any(r.newobj or r.built for r in refs), value_only=not any(r.other_args for r in refs))
    for r in refs:
        for summary in r.states or ():
            u.states.append(None if summary is None else dict(summary))
        if r.passed_lost:
            u.called = u.with_args = True
            u.value_only = False
            u.caller = u.caller or "code it was handed to more often than the walker tracks"
        for holder_index, pos, how in r.passed or ():
            holder = walk.globals[holder_index]
            shown = f"{holder.module}.{holder.name}"
            if how in ("held", "item"):
                u.called = u.with_args = True
                u.value_only = False
                u.caller = u.caller or (f"the result of {shown}(...), which the pickle calls" if how == "held" else
                                        f"the __setitem__ of a {shown} object (as a SETITEM key)")
                continue
            roles = lists.calls_args.get(identity(holder.module, holder.name, lists), {})
            keys = {"reduce": (str(pos), f"new:{pos}"), "newobj": (f"new:{pos}",), "state": (f"state:{pos}",)}[how]
            role = "call" if any(roles.get(k) == "call" for k in keys) else "new" if any(roles.get(k) for k in keys) else None
            if role == "call":
                u.called = u.with_args = True
                u.value_only = False
                u.caller = u.caller or shown
            elif role == "new":
                u.classy = True
    return u


def calls_unknown_code(name: str, u: Use) -> bool:
    """The `unknown_calls` rule: an unknown import the pickle calls with arguments, and that is not
    a class by the pickle's own evidence. A lowercase last name part is a function whatever else;
    a capitalised one is a class when what it made took a BUILD state, when NEWOBJ made it, or
    when every call passed one constant (an enum member is pickled as `Cls(value)`)."""
    if not (u.called and u.with_args):
        return False
    last = name.rsplit(".", 1)[-1].lstrip("_")
    return last[:1].islower() or not (u.classy or u.value_only)


def judge_walk(state: ScanState, walk: pk.WalkResult, member: str | None) -> bool:
    """Turn one walk's imports and issues into observations; True if anything imported is not allowlisted."""
    suspicious = any(ref.module in _NOT_A_NAME or ref.name in _NOT_A_NAME or ref.opcode == "EXT"
                     for ref in walk.globals)
    dangerous = False  # a known-bad or risky import, or a call to any unlisted one
    checked: set[str] = set()  # state checks already judged on the class they belong to
    for (module, name), refs in _judged_refs(walk).items():
        u = use_of(walk, refs, state.lists)
        j = judge(module, name, state.lists, reduced=u.called, states=u.states, with_args=u.with_args)
        called = any(r.called for r in refs) or u.called
        if j.check and j.verdict == "deny":
            checked.add(j.check)
        if j.verdict == "unknown" and all(r.view for r in refs):
            # Only pickle.load reading a joblib file's array bytes as opcodes gets here: in a
            # benign file those are the array's own pickle run against the outer memo, names
            # no module has. Known-dangerous and risky names from that view are still reported.
            continue
        if j.verdict != "allow":
            suspicious = True
            dangerous = dangerous or j.verdict in ("deny", "risky") or called
        else:
            _side_files(state, j, u, member)
        unknown_call = j.verdict == "unknown" and calls_unknown_code(name, u)
        sev = _severity(state, j, unknown_call)
        if sev is None:
            continue
        where = ", ".join(f"{r.opcode}@{r.offset}" for r in refs[:5]) + (f" (+{len(refs) - 5} more)" if len(refs) > 5 else "")
        shown = f"{j.module}.{j.name}"
        how = refs[0].opcode
        message = (_HOW[how].format(shown=shown) if how in _HOW else f"imports {shown}")
        if u.caller and not any(r.reduced for r in refs):
            message += f" and hands it to {u.caller}, which calls it"
        elif called:
            message += " and calls it" + (" with arguments" if u.with_args else "")
        message += f": {j.reason}"
        if unknown_call:
            message += (" (models.unknown_calls: it is called with arguments from the pickle, and nothing in the "
                        "pickle shows it is a class)")
        if f"{module}.{name}" != shown:
            message += f" (written as {module}.{name})"
        state.observe(_RULE[j.verdict], sev, message[0].upper() + message[1:], member, f"global:{shown}",
                      evidence=[f"{shown} via {where}"] + ([f"resolves to {j.target.replace(':', '.')}"] if j.target else []),
                      fix="Do not load this file; re-create the model from trusted code and save it as safetensors."
                      if j.verdict == "deny" else j.fix,
                      properties={"global": f"{j.module}:{j.name}"})  # the exact models.allow_globals entry
    if _states_anywhere(state, walk, member, checked):
        suspicious = dangerous = True
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
            rules.NESTED_PICKLE, Severity.high if inner_suspicious else Severity.low,
            f"A {nested.encoding}-encoded pickle is embedded at offset {nested.offset}"
            + (" and imports code that is not allowlisted" if inner_suspicious else " (it imports nothing dangerous)"),
            member, f"nested:{nested.offset}", evidence=[f"{nested.result.opcodes} opcodes, {len(nested.result.globals)} imports"],
        )
        suspicious = suspicious or inner_suspicious
    return suspicious


def _states_anywhere(state: ScanState, walk: pk.WalkResult, member: str | None, checked: set[str]) -> bool:
    """State checks that hold whatever class the state goes to (scipy's template is exec()'d by
    any rv_generic, which can reach BUILD behind a call the walker cannot see through)."""
    summaries = [s for ref in walk.globals for s in (ref.states or ())] + list(walk.loose_states)
    found = False
    for summary in summaries:
        if not summary:
            continue
        for check, problem in checks_anywhere(dict(summary), state.lists):
            if check in checked:
                continue
            checked.add(check)
            found = True
            state.observe(rules.DANGEROUS_PICKLE_IMPORT, Severity.critical, f"A BUILD state fails the {check} check: {problem}. The library's "
                          "__setstate__ runs it whatever class the pickle names for the instance", member,
                          f"state:{check}", evidence=[f"check {check}"])
    return found


def _side_files(state: ScanState, j: Judgement, u: Use, member: str | None) -> None:
    """joblib's legacy NDArrayWrapper: joblib.load reads `filename` next to the model with
    numpy.load(allow_pickle=True). The check passed (a plain name); remember the file to scan."""
    if state.lists.checks.get(identity(j.module, j.name, state.lists)) != "joblib-side-file":
        return
    for st in u.states:
        name = (st or {}).get("filename")
        if isinstance(name, str) and (member, name) not in state.side_files and len(state.side_files) < 256:
            state.side_files.append((member, name))


def scan_side_files(state: ScanState, member: str | None, depth: int) -> None:
    """Scan the side files the legacy joblib wrappers of this pickle name, where the model lies."""
    todo = [name for m, name in state.side_files if m == member]
    state.side_files[:] = [(m, n) for m, n in state.side_files if m != member]
    folder = model_folder(state, member)
    for name in todo:
        sub_member = join_member(member, f"side file {name}")
        where = f"joblib.load reads the side file {name!r} next to this pickle with numpy.load(allow_pickle=True)"
        if folder is None:
            state.notes.append(f"{where}; the pickle is not scanned where it lies, so that file is scanned only as a file "
                               "of its own")
            continue
        try:
            fh, st = open_regular(str(folder / name))
        except FileNotFoundError:
            state.observe(rules.CORRUPT_MODEL_FILE, Severity.low, f"{where}, and it is not there: joblib.load fails until it is added "
                          "(it is scanned when it is)", member, f"side-file:{name}", evidence=[name])
            continue
        except (OSError, NotRegularFile) as exc:
            state.observe(rules.SCAN_LIMIT_EXCEEDED, Severity.high, f"{where}, and it could not be read ({exc}): what it holds was not "
                          "scanned", member, f"side-file:{name}", evidence=[name])
            continue
        with fh:
            state.notes.append(f"{where}: scanned as {sub_member}")
            if state.scan_child(fh, st.st_size, name, sub_member, depth + 1) is None:
                analyze_region(state, fh, 0, st.st_size, sub_member, name, depth=depth + 1)


def _issue(state: ScanState, issue: pk.Issue, member: str | None, dangerous: bool) -> None:
    ev = [f"{issue.kind} at offset {issue.offset}: {issue.detail}"]
    if issue.kind in ("dynamic-global", "ext-opcode"):
        state.observe(rules.DYNAMIC_PICKLE_IMPORT, Severity.critical, f"The pickle computes an import at runtime: {issue.detail}", member,
                      f"dynamic:{issue.offset}", evidence=ev)
    elif issue.kind == "computed-call":
        state.observe(rules.RISKY_PICKLE_IMPORT, Severity.high, f"The pickle {issue.detail}", member, f"computed-call:{issue.offset}",
                      evidence=ev)
    elif issue.kind == "build-on-global":
        state.observe(rules.PICKLE_OBJECT_MUTATION, Severity.critical, issue.detail, member, f"mutation:{issue.offset}", evidence=ev)
    elif issue.kind in pk.BREAKS:
        # Every unpickler fails here: nothing after it runs. What ran before is judged on its own;
        # a break after something dangerous is the nullifAI technique (scanners stop at the error).
        if dangerous:
            state.observe(rules.MALFORMED_PICKLE, Severity.high, f"The pickle stream breaks at offset {issue.offset} ({issue.detail}) "
                          "after importing and calling code that is not allowlisted", member, "malformed", evidence=ev)
        else:
            state.observe(rules.MALFORMED_PICKLE, Severity.low, f"The pickle stream is corrupt: every unpickler fails at offset "
                          f"{issue.offset} ({issue.detail}) before any import or call that is not allowlisted",
                          member, "malformed", evidence=ev)
    elif issue.kind in pk.BLIND:
        state.observe(rules.SCAN_LIMIT_EXCEEDED, Severity.high, f"The pickle could not be read to its end: {issue.detail}. An unpickler "
                      "would read on, so the unread part is treated as dangerous", member, issue.kind, evidence=ev)
    elif issue.kind == "computed-checkpoint":
        state.observe(rules.SCAN_LIMIT_EXCEEDED, Severity.high, f"A checkpoint could not be scanned: {issue.detail}", member,
                      f"computed-checkpoint:{issue.offset}", evidence=ev)
    elif issue.kind == "misplaced-proto":
        state.observe(rules.MALFORMED_PICKLE, Severity.low, "The pickle has a PROTO opcode after its start, which confuses some scanners",
                      member, "misplaced-proto", evidence=ev)
    elif issue.kind == "trailing-data":
        state.observe(rules.MALFORMED_PICKLE, Severity.low, f"Data after the last pickle is not a pickle ({issue.detail}); "
                      "every unpickler stops there", member, "trailing", evidence=ev)
    # "loader-split" and "frame-end" explain how unpicklers part ways: evidence, not findings.


def analyze_region(state: ScanState, fh: BinaryIO, start: int, end: int | None, member: str | None, name: str,
                   legacy_torch: bool = False, expect_pickle: bool = True, depth: int = 0,
                   max_pickles: int | None = None, persistent: str | None = None) -> pk.WalkResult:
    """Walk fh[start:end] as (stacked) pickles, judge, and run the engines on the same bytes.
    end=None: to wherever the stream ends (a stream decoded as it is walked); `persistent`:
    the loader's persistent_load when it is known (vm.Options)."""
    walk = pk.walk(fh, start, end, state.limits.max_opcodes, legacy_torch=legacy_torch, max_pickles=max_pickles,
                   opts=pk.Options(watch=state.lists.watch, persistent=persistent))
    state.pickles += walk.pickles
    state.opcodes += walk.opcodes
    state.engines_run.add("mlsecops")
    state.walks[member] = walk
    judge_walk(state, walk, member)
    if state.side_files:
        scan_side_files(state, member, depth)
    runs = walk.complete or any(g.called for g in walk.globals)
    if not expect_pickle and runs and not name.lower().endswith(PICKLE_NAMES):
        state.observe(rules.DISGUISED_PICKLE, Severity.medium, f"This is a pickle, but its name {name!r} suggests another format",
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
    sub_member = f"{member or ''}#load_from_bytes@{emb.offset}"
    sub: BinaryIO = io.BytesIO(emb.data) if emb.data is not None else SubFile(fh, emb.offset, emb.size)  # type: ignore[assignment]
    if state.scan_child(sub, emb.size, "storage.pt", sub_member, depth + 1) is None:
        # torch.load of anything else still unpickles it (it checks the magic number after).
        analyze_region(state, sub, 0, emb.size, sub_member, "storage.pt", legacy_torch=True, depth=depth + 1)


def _engines(state: ScanState, fh: BinaryIO, walk: pk.WalkResult, start: int, end: int, member: str | None) -> None:
    wanted = state.enabled_engines()
    if not wanted:
        return
    data = None
    if walk.opcodes <= state.limits.engine_max_opcodes:
        data = skeleton(fh, walk, start, end, MAX_ENGINE_BYTES)
        why = f"its skeleton is larger than {MAX_ENGINE_BYTES >> 20} MiB"
    else:
        why = f"{walk.opcodes} opcodes is above the engines' limit ({state.limits.engine_max_opcodes})"
    if data is None:
        state.observe(rules.SCAN_LIMIT_EXCEEDED, Severity.low, f"{' and '.join(e.name for e in wanted)} did not analyse this pickle: {why}; "
                      "mlsecops's own walk read all of it", member, "engines-skipped", evidence=[why])
        return
    for engine in wanted:
        if member not in state.zip_members.get(engine.name, ()):
            engine.scan_pickle(state, data, member, walk)
