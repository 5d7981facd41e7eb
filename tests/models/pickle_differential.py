"""The agreement relation between the walker and CPython's unpicklers, checked per input.

W is what the walker reports (imports by find_class, and callees called), O the union
of what the real readers did (C and pure-Python unpicklers with text and bytes
encodings, joblib's reader), each reading the stream as a loop of load() calls:

1. soundness, always: O ⊆ W, for imports and for calls;
2. precision, unless the walk assumed something about a symbolic value (what an import
   or a call returns is any object at run time; the oracle's stubs are one choice):
   W ⊆ O, for imports and for calls;
3. the ending: a break the walker reports in pickle k means every reader still reading
   there fails (joblib reads only pickle 0); a walk without a break (and without
   assumptions) means some reader got through without an error.

Pickles inside strings (which no loader runs by itself), checkpoints given to
torch.storage._load_from_bytes (the oracle's stub does not load them) and names the
walker derives from constant getattr calls are not find_class calls and are left out.
"""

from __future__ import annotations

import io

from mlsecops.formats.pickle import Options, WalkResult, walk
from tests.adversarial.harness import LoaderOracle, OracleAnswer
from tests.models.pickle_grammar import EXTENSIONS

OPTIONS = Options(trace=True, extensions=EXTENSIONS)
# Layouts the walker declines to follow and blocks instead (see docs/pickle-reading.md):
# a read across the end of a FRAME, a pickle ending inside one with more after it, a joblib
# array whose dtype or shape is not made of constants.
FAIL_CLOSED = ("FRAME", "joblib")


def walker_view(data: bytes, opts: Options = OPTIONS) -> tuple[set[tuple[str, str]], set[str], WalkResult]:
    r = walk(io.BytesIO(data), 0, len(data), 2_000_000, opts=opts)
    imports: set[tuple[str, str]] = set()
    todo = [r]
    while todo:
        res = todo.pop()
        imports |= {(g.module, g.name) for g in res.globals if g.opcode != "getattr"}
        todo.extend(n.result for n in res.nested if n.encoding == "joblib-object-array")
    return imports, set(r.call_idents or ()), r


def disagreement(data: bytes, oracle: LoaderOracle) -> str | None:
    """None when the walker and the oracle agree on `data`, else what differs."""
    answer: OracleAnswer = oracle(data)
    if "crash" in answer.readers:
        return None  # a real unpickler died on it (resource limit): no answer to compare with
    imports, calls, r = walker_view(data)
    problems = []
    if r.blind and all(any(w in i.detail or w in i.kind for w in FAIL_CLOSED) for i in r.blind):
        return None  # the walker fails closed (blocks) where it does not follow: nothing to compare
    if not answer.imports <= imports:
        problems.append(f"missed imports {sorted(answer.imports - imports)}")
    if not answer.calls <= calls:
        problems.append(f"missed calls {sorted(answer.calls - calls)}")
    if not r.assumed:
        if not imports <= answer.imports:
            problems.append(f"extra imports {sorted(imports - answer.imports)}")
        if not calls <= answer.calls:
            problems.append(f"extra calls {sorted(calls - answer.calls)}")
    broken = r.broken or next((i for i in r.issues if i.kind == "trailing-data"), None)
    if r.blind:
        problems.append(f"walker blind: {r.blind[0].kind} {r.blind[0].detail}")
    elif broken is not None:
        in_first = r.pickles <= 1
        done_at_frame_end = {"c-str", "c-bytes", "py-str", "py-bytes"} if any(
            i.kind == "frame-end" for i in r.issues) else set()
        survivors = [name for name, run in answer.readers.items()
                     if run.error is None and (in_first or name != "joblib") and name not in done_at_frame_end]
        if survivors and not r.other_view_complete:
            problems.append(f"walker breaks ({broken.kind} at {broken.offset}: {broken.detail}) where {survivors} "
                            "read on")
    elif not answer.any_complete and not r.assumed:
        problems.append("walker completes where every reader fails")
    if not problems:
        return None
    readers = {k: (sorted(v.imports), v.error) for k, v in answer.readers.items()}
    return f"{data!r}: {'; '.join(problems)}; readers: {readers}; walker issues: " \
           f"{[(i.kind, i.offset, i.detail) for i in r.issues]}"
