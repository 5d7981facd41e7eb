"""Walking a whole stream: stacked pickles, the readers that part ways, and what pickles carry.

A stream is read the way a loop of `pickle.load` calls reads it: pickle after
pickle until the end, or until every reader has failed (torch's legacy format
is five pickles and then raw storage data; joblib reads one pickle). Where
joblib's reading and a plain unpickler's part ways (joblib takes array bytes
after a NumpyArrayWrapper, the others read them as opcodes), the walk follows
joblib and a forked walk follows the others from a copy of the state, so both
views are judged. Strings that hold pickles are walked once the stream is done.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from mlsecops.formats.pickle import hotloop, joblib_arrays, nested, resolve
from mlsecops.formats.pickle.opcodes import VALID
from mlsecops.formats.pickle.ops import HANDLERS
from mlsecops.formats.pickle.reader import Window
from mlsecops.formats.pickle.results import BLIND, Issue, Nested, WalkResult
from mlsecops.formats.pickle.values import (
    BigText, BigTuple, Blob, ByteArr, Dct, FSet, Lst, MemView, Obj, St, is_symbolic,
)
from mlsecops.formats.pickle.vm import ALL, C, JOBLIB, LOOPING, MAX_DEPTH, P_PLAIN, Blind, Budget, Die, Machine, Options


class Walker(Machine):
    """The machine with its opcode handlers (ops.py) and joblib's inline arrays bound."""

    HANDLERS = HANDLERS

    def joblib_array(self, inst: Obj, off: int, alias: bool = False) -> None:
        joblib_array(self, inst, off, alias)


def walk_stream(fh: BinaryIO, start: int, end: int | None, budget: Budget, opts: Options, alive: int = ALL,
                max_pickles: int | None = None, depth: int = 0) -> WalkResult:
    r = WalkResult()
    m = Walker(Window(fh, start, end, opts.first_read), r, budget, opts, alive, depth)
    drive(m, max_pickles)
    finish(m)
    return r


def drive(m: Machine, max_pickles: int | None, mid_pickle: bool = False) -> None:
    """Walk pickle after pickle while some reader goes on."""
    r, win = m.r, m.win
    start = win.pos
    while True:
        if not mid_pickle:
            if win.at_eof() or (r.pickles and not m.alive & LOOPING):
                break
            if max_pickles is not None and r.pickles >= max_pickles:
                break
            m.new_pickle()
            start = win.pos
        mid_pickle = False
        ok = run_pickle(m)
        r.spans.append((start, win.pos))
        r.pickles += 1
        if not ok:
            break
        r.value = m.value
        if r.pickles == 1 and m.persistent is None and resolve.may_be_torch_magic(m.value):
            # torch.load reads a stream whose first pickle is its magic number (however spelled)
            # as a legacy checkpoint: its persistent_load applies to what follows.
            m.persistent = "torch-legacy"
        m.alive &= ~JOBLIB  # joblib.load reads one pickle
        fe = m.frame_end
        if fe is not None and win.pos < fe and m.alive & LOOPING and (max_pickles is None or r.pickles < max_pickles):
            # STOP inside a FRAME: readers that buffered the frame go on after it, the others
            # right after STOP. When the frame ends the stream, the first are simply done.
            if win.reaches(fe + 1):
                r.issues.append(Issue("unreadable", win.pos, "a pickle ends inside its FRAME and more follows: "
                                      "unpicklers disagree on where the next pickle starts"))
                break
            r.issues.append(Issue("frame-end", win.pos, "unpicklers that buffer FRAMEs stop at the end of this "
                                  "frame; pickle.loads reads on"))
            m.frame_end = None
            m.alive &= C  # the pure-Python readers are done; only the C unpickler on a peekable file reads on
            if not m.alive:
                break
    r.end = win.pos
    r.complete = not any(i.kind in BLIND or i.kind in ("truncated", "malformed") for i in r.issues)


def run_pickle(m: Machine) -> bool:
    """One pickle to its STOP; False when the walk ends in it (the issue says why)."""
    r = m.r
    before = len(r.globals) + r.calls
    try:
        hotloop.run(m)
        return True
    except Die as stop:
        kind = stop.kind
        if r.pickles and len(r.globals) + r.calls == before:
            kind = "trailing-data"  # a later "pickle" every reader rejects before doing anything
        r.issues.append(Issue(kind, m.op_off, stop.detail))
    except Blind as blind:
        if not any(i.kind == blind.kind for i in r.issues):
            r.issues.append(Issue(blind.kind, m.win.pos, blind.detail))
    except (ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError, MemoryError,
            RecursionError) as exc:
        # A walker bug is never taken for a corrupt file: it is blindness, and blindness blocks.
        r.issues.append(Issue("unreadable", m.win.pos, f"internal error while walking: {type(exc).__name__}: {exc}"))
    return False


# -- joblib ----------------------------------------------------------------------------------------

def joblib_array(m: Machine, inst: Obj, off: int, alias: bool = False) -> None:
    """Follow joblib.load past a NumpyArrayWrapper's BUILD; fork the other readers first.

    `alias`: the class is only named NumpyArrayWrapper; whether it is joblib's depends on
    modules the walker cannot see, so joblib's reading is followed in a forked view."""
    if alias:
        if m.alive & JOBLIB:
            _fork(m, JOBLIB, assumed=True, joblib_read=inst)
            m.kill(JOBLIB, "a class named NumpyArrayWrapper that may not be joblib's")
        return
    try:
        lay = joblib_arrays.layout(inst)
    except joblib_arrays.Dies as exc:
        m.kill(JOBLIB, f"joblib fails on this array: {exc}")
        return
    except joblib_arrays.Unclear as exc:
        m.r.issues.append(Issue("joblib-layout", off, f"joblib reads an inline array here, but {exc}"))
        if m.alive == JOBLIB:
            raise Blind("joblib-layout", str(exc)) from None
        m.kill(JOBLIB, str(exc))
        return
    if not lay.hasobject and (lay.itemsize == 0 or lay.count < 0):
        m.kill(JOBLIB, "joblib fails on this array (a zero itemsize or a negative count)")
        return
    if m.alive & ~JOBLIB:
        _fork(m, m.alive & ~JOBLIB)
        m.alive = JOBLIB
    win = m.win
    if m.frame_end is not None and m.frame_end > win.pos:
        # joblib reads the file itself, from after the FRAME its unpickler buffered.
        if win.reaches(m.frame_end + 1):
            raise Blind("joblib-layout", "joblib reads this array from after the current FRAME, a layout not followed")
        if lay.hasobject or lay.count * lay.itemsize:
            m.die("joblib reads this array from after the FRAME, where the stream ends", "truncated")
        m.r.joblib_arrays += 1
        m.stack[-1] = Obj(inst.callee, None, "array", inst.ident)
        return
    if lay.hasobject:
        _object_array(m, off)
    else:
        region = win.pos
        if lay.aligned:
            pad = win.take(1)  # joblib reads the file directly: a short read at the end is no error
            if pad and pad[0]:
                win.skip_at_most(pad[0])
        if not win.skip(lay.count * lay.itemsize):
            m.die("joblib array data runs past the end of the stream", "truncated")
        if not lay.reshape_ok:
            m.die("joblib cannot reshape the array it read")
        m.r.elided.append((region, win.pos - region, b""))
    m.r.joblib_arrays += 1
    m.stack[-1] = Obj(inst.callee, None, "array", inst.ident)


def _object_array(m: Machine, off: int) -> None:
    """An object dtype: joblib unpickles one whole pickle from here with a fresh unpickler."""
    win = m.win
    start = win.pos
    sub = WalkResult(call_idents=m.r.call_idents)
    inner = Walker(win, sub, m.budget, m.opts, P_PLAIN, m.depth + 1)
    inner.ext_cache = m.ext_cache
    ok = run_pickle(inner)
    sub.spans.append((start, win.pos))
    sub.pickles, sub.end = 1, win.pos
    sub.complete = ok
    finish(inner)
    m.r.nested.append(Nested(start, "joblib-object-array", sub))
    m.r.elided.append((start, win.pos - start, b""))
    if not ok:
        blind = sub.blind
        if blind:
            raise Blind(blind[0].kind, f"in the object array at {start}: {blind[0].detail}")
        m.die("the object array's inline pickle fails")
    if not is_symbolic(inner.value):
        m.die("the object array's inline pickle returns no array (joblib reads its .dtype)")
    m.assume()  # whether what it returns has a .dtype depends on what the call or import is


# -- forked views ---------------------------------------------------------------------------------

def _fork(m: Machine, readers: int, assumed: bool = False, joblib_read: Obj | None = None) -> None:
    """`readers` go another way from here: walk their view from a copy of the state.

    The view's imports and calls are the stream's; its breaks are not reported (a
    joblib file read as plain opcodes breaks at the first array, as expected)."""
    if joblib_read is None:
        nxt = m.win.peek(1)
        if not nxt or nxt[0] not in VALID:
            return  # they all fail on the next byte, having done nothing more
    fr = WalkResult(globals=m.r.globals, embedded=m.r.embedded, call_idents=m.r.call_idents, pickles=m.r.pickles)
    f = Walker(Window(m.win.fh, m.win.pos, m.win.end, m.opts.first_read), fr, m.budget, m.opts, readers, m.depth)
    f.stack, f.metastack, f.memo = _snapshot(m.stack, m.metastack, m.memo)
    f.memo_lost, f.frame_end, f.careful, f.pidx, f.first = m.memo_lost, m.frame_end, m.careful, m.pidx, False
    f.persistent = m.persistent
    f.ext_cache = dict(m.ext_cache)
    if joblib_read is not None:
        top = f.stack[-1] if f.stack else None
        if isinstance(top, Obj):
            try:
                joblib_array(f, top, m.op_off)
            except (Die, Blind) as exc:
                if isinstance(exc, Blind):
                    m.r.issues.append(Issue(exc.kind, m.op_off, exc.detail))
                return
    first_new = len(m.r.globals)
    drive(f, None, mid_pickle=True)
    if joblib_read is None:
        for ref in m.r.globals[first_new:]:
            ref.view = ref.view or "pickle.load"
    m.r.calls += fr.calls
    m.r.opcodes += fr.opcodes
    m.r.other_view_complete = m.r.other_view_complete or (fr.complete and (
        not any(i.kind == "trailing-data" for i in fr.issues) or any(i.kind == "frame-end" for i in fr.issues)))
    m.r.assumed = m.r.assumed or fr.assumed or assumed
    m.r.nested.extend(fr.nested)
    for issue in fr.issues:
        if issue.kind in BLIND or issue.kind in ("dynamic-global", "ext-opcode", "build-on-global"):
            m.r.issues.append(Issue(issue.kind, issue.offset, f"{issue.detail} (in another unpickler's view)"))
    m.candidates.extend(f.candidates)
    m.consumed |= f.consumed


def _snapshot(stack: list[object], metastack: list[list[object]],
              memo: dict[int, object]) -> tuple[list[object], list[list[object]], dict[int, object]]:
    """Copies of the stack and memo whose mutable values are copies too (shared ones stay shared)."""
    seen: dict[int, object] = {}

    def cp(v: object) -> object:
        t = type(v)
        if t in (str, int, bool, float, bytes) or v is None:
            return v
        key = id(v)
        if key in seen:
            return seen[key]
        out: object
        if t is tuple:
            out = tuple(cp(x) for x in v)  # type: ignore[attr-defined]
        elif t is Dct:
            d = Dct()
            seen[key] = d
            for k, val in v.items():  # type: ignore[attr-defined]
                dict.__setitem__(d, cp(k), cp(val))
            d.count = v.count  # type: ignore[attr-defined]
            return d
        elif t is Lst:
            out = Lst(v.n)  # type: ignore[attr-defined]
        elif t in (St, FSet, ByteArr, MemView, BigTuple):
            out = t(*(getattr(v, s) for s in t.__slots__))  # type: ignore[attr-defined]
        elif t is Obj:
            o = Obj(v.callee, None, v.kind, v.ident, None, None, v.value)  # type: ignore[attr-defined]
            seen[key] = o
            o.args, o.state = cp(v.args), cp(v.state)  # type: ignore[attr-defined]
            o.attrs = dict(v.attrs) if isinstance(v.attrs, dict) else v.attrs  # type: ignore[attr-defined]
            return o
        else:
            return v  # immutable symbols and payload records
        seen[key] = out
        return out

    return [cp(v) for v in stack], [[cp(v) for v in frame] for frame in metastack], {k: cp(v) for k, v in memo.items()}


# -- pickles inside strings ---------------------------------------------------------------------------

def finish(m: Machine) -> None:
    """Walk the strings that hold pickles (not those handed to torch.storage._load_from_bytes)."""
    for off, value, _ in m.candidates:
        if id(value) in m.consumed:
            continue
        found = _candidate_pickle(m, value)
        if found is None:
            continue
        encoding, source = found
        if m.depth >= MAX_DEPTH:
            m.r.issues.append(Issue("nesting-limit", off, f"a {encoding} pickle nested deeper than {MAX_DEPTH} levels"))
            continue
        if isinstance(source, tuple):
            fh, start, end = source
        else:
            fh, start, end = io.BytesIO(source), 0, len(source)
        sub = walk_stream(fh, start, end, m.budget, m.opts, ALL, None, m.depth + 1)
        m.r.nested.append(Nested(off, encoding, sub))


def _candidate_pickle(m: Machine, value: object) -> tuple[str, bytes | tuple[BinaryIO, int, int]] | None:
    if isinstance(value, str):
        data: bytes | None = value.encode("utf-8", "surrogatepass")
    elif isinstance(value, Obj):
        return ("latin1", value.value) if isinstance(value.value, bytes) and nested.is_raw_pickle(value.value) else None
    elif isinstance(value, (Blob, BigText)):
        head = m.win.read_at(value.offset, 8)
        if isinstance(value, Blob) and nested.is_raw_pickle(head):
            return "raw", (m.win.fh, value.offset, value.offset + value.size)  # walked in place
        if value.size > nested.NESTED_MAX:
            if nested.suspect(head):
                m.r.issues.append(Issue("nesting-limit", value.offset, f"a {value.size}-byte string that may hold "
                                        "an encoded pickle is too large to decode"))
            return None
        data = value.data if isinstance(value, Blob) and value.data is not None else \
            m.win.read_at(value.offset, value.size)
    else:
        data = value if isinstance(value, bytes) else None
    if data is None:
        return None
    return nested.decode(data)
