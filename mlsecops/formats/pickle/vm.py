"""The symbolic unpickler: every opcode as CPython's unpicklers execute it, nothing run.

There are several readers of a pickle, and they do not accept the same bytes:
`pickle.load` (the C unpickler; torch and numpy use it), the pure-Python
`pickle._Unpickler` (joblib, dill), each with `encoding='bytes'` or a text
encoding for Python 2 strings, and joblib's subclass, which reads array data
inline. The machine follows all of them at once: `alive` is the set of readers
still going, an opcode one of them rejects removes it, and the walk stops only
when none is left (the loader fails there: nothing after runs) or when the
walker itself cannot follow (a limit: the loader would go on, so the caller
fails closed). Imports and calls are recorded when any living reader makes them.

Values are symbols (see values.py): what an import or a call returns can be
anything, so operations on it are assumed to succeed, as on the most lenient
object; operations on plain data fail exactly where the loader's do.
The hot loop for the common opcodes is in hotloop.py; this file is the
reference semantics for every opcode.
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass

from mlsecops.formats.pickle import joblib_arrays, nested, resolve, textargs
from mlsecops.formats.pickle.opcodes import (
    ADDITEMS, APPEND, APPENDS, BINBYTES, BINBYTES8, BINFLOAT, BINGET, BININT, BININT1, BININT2, BINPERSID, BINPUT,
    BINSTRING, BINUNICODE, BINUNICODE8, BUILD, BYTEARRAY8, DICT, DUP, EMPTY_DICT, EMPTY_LIST, EMPTY_SET, EMPTY_TUPLE,
    EXT1, EXT2, EXT4, FLOAT, FRAME, FROZENSET, GET, GLOBAL, HIGHEST_PROTOCOL, INST, INT, LIST, LONG, LONG1, LONG4,
    LONG_BINGET, LONG_BINPUT, MARK, MEMOIZE, NEWFALSE, NEWOBJ, NEWOBJ_EX, NEWTRUE, NEXT_BUFFER, NONE, OBJ, OPCODES,
    PERSID, POP, POP_MARK, PROTO, PUT, READONLY_BUFFER, REDUCE, SETITEM, SETITEMS, SHORT_BINBYTES, SHORT_BINSTRING,
    SHORT_BINUNICODE, STACK_GLOBAL, STOP, STRING, TUPLE, TUPLE1, TUPLE2, TUPLE3, UNICODE,
)
from mlsecops.formats.pickle.reader import Window
from mlsecops.formats.pickle.results import Embedded, GlobalRef, Issue, WalkResult
from mlsecops.formats.pickle.values import (
    HUGE_INT, NOT_ITERABLE_TYPES, SMALL, BigText, BigTuple, Blob, ByteArr, Dct, FSet, Global, HugeInt, Lst, MemView,
    Obj, Py2Str, St, Unknown, describe, ident, is_symbolic, truthy, unhashable,
)

# -- the readers ---------------------------------------------------------------------------------
C_STR, C_BYTES, P_STR, P_BYTES, JOBLIB, P_PLAIN = 1, 2, 4, 8, 16, 32
C = C_STR | C_BYTES                 # pickle.load: the C unpickler
P = P_STR | P_BYTES | JOBLIB | P_PLAIN  # pure-Python unpicklers (pickle._Unpickler, joblib, dill)
STR = C_STR | P_STR | JOBLIB | P_PLAIN  # Python 2 strings decoded to str (ASCII, latin-1, utf-8)
BYTES = C_BYTES | P_BYTES           # encoding='bytes'
BARE = JOBLIB | P_PLAIN             # default arguments: ASCII strings, no persistent_load, no buffers
ALL = C | P_STR | P_BYTES | JOBLIB  # P_PLAIN only reads joblib's object arrays (a plain pickle._Unpickler)
LOOPING = C | P_STR | P_BYTES       # readers that go on to the next pickle (pickle.load in a loop)
READER_NAMES = {C: "pickle.load (the C unpickler)", P_STR | P_BYTES: "the pure-Python unpickler (joblib, dill)",
                STR: "unpicklers reading Python 2 strings as text", BYTES: "unpicklers with encoding='bytes'",
                JOBLIB: "joblib.load"}

BIG = 1 << 20            # payloads at least this long are seeked over, not read
LINE_MAX = 1 << 20       # longest text argument read into memory
MEMO_MAX = 4_000_000     # memo entries tracked before the memo is given up (a memo bomb)
HUGE_LONG = 4096         # LONG4 payloads longer than this are not turned into an int
MAX_DEPTH = 4            # pickles inside pickles
_MAXSIZE = sys.maxsize
_SSIZE_MAX = (1 << 63) - 1


class Die(Exception):
    """Every reader still going fails here: the loader stops, nothing after runs."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


class Blind(Exception):
    """The walker cannot follow the loader past this point (a limit, an unreadable layout)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


class Budget:
    """Opcodes left for this walk and every walk it starts (nested pickles, forked views)."""

    __slots__ = ("left", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit


@dataclass
class Options:
    big: int = BIG
    trace: bool = False  # record every callee in WalkResult.call_idents (differential tests)
    extensions: dict[int, tuple[str, str]] | None = None  # the copyreg registry, when known
    line_max: int = LINE_MAX
    memo_max: int = MEMO_MAX
    first_read: int = 4 << 20


def _placeholder(opcode: bytes, n: int) -> bytes:
    """A short string or bytes opcode standing in for an elided payload."""
    note = f"<{n} bytes elided by mlsecops>".encode()
    return opcode + bytes([len(note)]) + note


class Machine:
    """One stream's walk state. `step()` executes one opcode with every check."""

    def __init__(self, win: Window, result: WalkResult, budget: Budget, opts: Options, alive: int = ALL,
                 depth: int = 0) -> None:
        self.win = win
        self.r = result
        self.budget = budget
        self.opts = opts
        self.alive = alive
        self.depth = depth
        self.candidates: list[tuple[int, object, bool]] = []  # (offset, value, is text): maybe a nested pickle
        self.consumed: set[int] = set()  # ids of values passed to _load_from_bytes
        self.ext_cache: dict[int, Global] = {}
        self.forks: list[tuple[int, Machine]] = []
        if opts.trace and result.call_idents is None:
            result.call_idents = set()
        self.new_pickle()

    def new_pickle(self) -> None:
        self.stack: list[object] = []
        self.metastack: list[list[object]] = []
        self.memo: dict[int, object] = {}  # MEMOIZE stores at len(memo): the loader's count of filled slots
        self.memo_lost = False
        self.frame_end: int | None = None
        self.careful = False
        self.pidx = self.r.pickles
        self.first = True
        self.split_noted = False
        self.value: object = None  # what STOP returned
        self.op_off = self.win.pos

    # -- readers ---------------------------------------------------------------------------------
    def kill(self, mask: int, detail: str, kind: str = "malformed") -> None:
        """Readers in `mask` fail here; the walk stops when none is left."""
        if not self.alive & mask:
            return
        self.alive &= ~mask
        if not self.alive:
            raise Die(kind, detail)
        if not self.split_noted:
            self.split_noted = True
            gone = [name for m, name in READER_NAMES.items() if m & mask and not m & self.alive]
            self.r.issues.append(Issue("loader-split", self.win.pos,
                                       f"{detail}: {', '.join(gone) or 'some unpicklers'} stop here, others read on"))

    def die(self, detail: str, kind: str = "malformed") -> None:
        raise Die(kind, detail)

    def assume(self) -> None:
        self.r.assumed = True

    # -- reading, with the pure-Python unpickler's frame rules ----------------------------------
    def _frame(self, n: int) -> None:
        """Readers that buffer a FRAME (pickle._Unpickler always; pickle.load on a file
        without peek()) read inside it from the buffer. A read that starts in the frame
        and ends past it: the pure-Python unpickler raises; the C unpickler drops the
        rest of the frame and reads from after it, a layout the walk does not follow."""
        fe = self.frame_end
        if fe is None:
            return
        s = self.win.pos
        if s >= fe:
            self.frame_end = None
        elif s + n > fe:
            self.straddle("an opcode argument")

    def straddle(self, what: str) -> None:
        self.kill(P, f"{what} runs past the end of its FRAME")
        if self.alive & C:
            raise Blind("unreadable", f"{what} runs past the end of its FRAME: pickle.load on an unbuffered "
                        "file reads it from after the frame, a layout mlsecops does not follow")

    def read(self, n: int) -> bytes:
        self._frame(n)
        data = self.win.take(n)
        if data is None:
            self.die(f"the stream ends inside an opcode argument ({n} bytes needed)", "truncated")
        return data  # type: ignore[return-value]

    def read_line(self) -> tuple[bytes | None, int, bool]:
        """(line with its newline if any, length, terminated); None for a line too long to keep."""
        s = self.win.pos
        raw, length, terminated = self.win.line(self.opts.line_max)
        fe = self.frame_end
        if fe is not None:
            if s >= fe:
                self.frame_end = None
            elif s + length > fe and fe < self.win.end:
                self.straddle("a text argument")
            elif not terminated or s + length > fe:
                self.kill(P, "a text argument runs past the end of its FRAME")
        if not terminated:
            self.kill(C, "the stream ends inside a text argument", "truncated")
        return raw, length, terminated

    def _need(self, n: int, what: str) -> None:
        if len(self.stack) < n:
            self.die(f"{what} needs {n} item{'s' if n > 1 else ''} on the stack" +
                     (" above the MARK" if self.metastack else ""))

    def _pop_mark(self, what: str) -> list[object]:
        if not self.metastack:
            self.die(f"{what} without a MARK")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    # -- effects -----------------------------------------------------------------------------------
    def import_(self, module: str, name: str, off: int, opcode: str) -> Global:
        r = self.r
        special = resolve.special_kind(module, name)
        r.globals.append(GlobalRef(module=module, name=name, offset=off, opcode=opcode, pickle_index=self.pidx,
                                   special=special))
        if special:
            self.careful = True  # track every use of it (hot loop off for this pickle)
        return Global(module, name, len(r.globals) - 1, f"{module}:{name}")

    def call(self, callee: object, args: object, off: int, kind: str) -> object:
        r = self.r
        r.calls += 1
        if r.call_idents is not None:
            r.call_idents.add(ident(callee))
        obj = Obj(callee, args, kind, ident(callee) + "()")
        if not isinstance(callee, Global):
            return obj
        ref = r.globals[callee.index]
        ref.called = True
        if ref.special:
            return self._special_call(ref, callee, args, obj, off, kind)
        if resolve.full_name(callee.module, callee.name) == "_codecs.encode":
            obj.value = resolve.codecs_encode(args)
            if isinstance(obj.value, bytes) and nested.suspect(obj.value[:8]):
                self.candidates.append((off, obj, False))
        return obj

    def _special_call(self, ref: GlobalRef, callee: Global, args: object, obj: Obj, off: int, kind: str) -> object:
        if kind in ("newobj", "newobj_ex") or not isinstance(args, tuple):
            ref.resolved = False
            return obj
        if ref.special == "getattr" and len(args) == 2:
            self.escape(*args)
            attr = resolve.constant_str(args[1])
            owner = resolve.attribute_owner(args[0])
            if attr is not None and owner is not None:
                r = self.r
                r.globals.append(GlobalRef(module=owner[0], name=f"{owner[1]}.{attr}", offset=off, opcode="getattr",
                                           pickle_index=self.pidx, via=callee.index))
                return Global(owner[0], f"{owner[1]}.{attr}", len(r.globals) - 1, obj.ident)
        if ref.special == "load_from_bytes" and len(args) == 1:
            data = resolve.constant_bytes(args[0])
            if data is not None:
                payload, where, size = data
                self.r.embedded.append(Embedded(offset=where if where is not None else off, size=size, data=payload))
                self.consumed.add(id(args[0]))
                return obj
        ref.resolved = False
        self.escape(args)
        return obj

    def escape(self, *values: object) -> None:
        """A special import (getattr, _load_from_bytes) used as data, not as a resolvable call."""
        if not self.careful:
            return
        todo = list(values)
        while todo:
            v = todo.pop()
            if isinstance(v, Global) and self.r.globals[v.index].special:
                self.r.globals[v.index].resolved = False
            elif type(v) is tuple:
                todo.extend(v)  # type: ignore[arg-type]
            elif type(v) is Dct:
                todo.extend(v.keys())
                todo.extend(v.values())

    def candidate(self, off: int, value: object, text: bool) -> None:
        self.candidates.append((off, value, text))

    # -- memo ----------------------------------------------------------------------------------------
    def memo_put(self, idx: int, value: object) -> None:
        if idx >= 1 << 24:
            self.assume()  # the C unpickler's memo is an array this long: MemoryError on most machines
        memo = self.memo
        if idx not in memo and len(memo) >= self.opts.memo_max:
            self.memo_lost = True
            return
        memo[idx] = value

    def memo_get(self, idx: int) -> object:
        if self.memo_lost:
            raise Blind("unreadable", f"the memo grew past {self.opts.memo_max} entries; "
                        "what it returns after that is not tracked")
        try:
            return self.memo[idx]
        except KeyError:
            self.die(f"memo key {idx} was never stored")
        return None  # unreachable

    # -- one opcode ----------------------------------------------------------------------------
    def step(self) -> bool:
        """Execute the opcode at the window's position; True after STOP."""
        win = self.win
        off = self.op_off = win.pos
        if self.frame_end is not None and off >= self.frame_end:
            self.frame_end = None
        if self.budget.left <= 0:
            raise Blind("opcode-limit", f"more than {self.budget.limit} opcodes; the rest was not analysed")
        self.budget.left -= 1
        self.r.opcodes += 1
        op = self.read(1)[0]
        first, self.first = self.first, False
        handler = _HANDLERS.get(op)
        if handler is None:
            self.die(f"invalid opcode 0x{op:02x}")
        return bool(handler(self, op, off, first))

    # -- containers (shared with the hot loop's unusual cases) ----------------------------------
    def append_items(self, target: object, items: list[object], single: bool) -> None:
        """APPEND/APPENDS: list.extend in C (a no-op for no items), extend or append in Python."""
        self.escape(*items)
        t = type(target)
        if t is Lst:
            target.n += len(items)  # type: ignore[attr-defined]
            return
        if self._onto_symbol(target, items):
            return
        if t is ByteArr:
            for v in items:
                if is_symbolic(v):
                    self.assume()
                elif type(v) not in (int, bool) or not 0 <= v <= 255:  # type: ignore[operator]
                    self.die("bytearray.extend with an item that is not a byte")
            target.n += len(items)  # type: ignore[attr-defined]
            return
        if not items and not single:
            self.kill(P, f"APPENDS onto a {describe(target)} (no extend or append method)")
            return
        self.die(f"APPEND onto a {describe(target)}, which has no append method")

    def set_items(self, target: object, items: list[object]) -> None:
        """SETITEM/SETITEMS: target[key] = value for each pair."""
        if len(items) % 2:
            self.die("an odd number of items for SETITEMS")
        if not items:
            return
        t = type(target)
        if t is Dct:
            for k in range(0, len(items), 2):
                key = items[k]
                if unhashable(key):
                    self.die(f"a dict key that cannot be hashed ({describe(key)})")
                target.put(key, items[k + 1])  # type: ignore[attr-defined]
            self.escape(*items)
            return
        if self._onto_symbol(target, items):
            return
        if t is Lst or t is ByteArr:
            n = target.n  # type: ignore[attr-defined]
            for k in range(0, len(items), 2):
                key, value = items[k], items[k + 1]
                if is_symbolic(key) or (t is ByteArr and is_symbolic(value)):
                    self.assume()
                    continue
                if type(key) not in (int, bool) or not -n <= key < n:  # type: ignore[operator]
                    self.die(f"a list index that is not in range ({describe(key)})")
                if t is ByteArr and (type(value) not in (int, bool) or not 0 <= value <= 255):  # type: ignore[operator]
                    self.die("a bytearray item that is not a byte")
            self.escape(*items)
            return
        self.die(f"SETITEM on a {describe(target)}, which does not support item assignment")

    def add_items(self, target: object, items: list[object]) -> None:
        t = type(target)
        if t is St:
            for v in items:
                if unhashable(v):
                    self.die(f"a set item that cannot be hashed ({describe(v)})")
            target.n += len(items)  # type: ignore[attr-defined]
            self.escape(*items)
            return
        if self._onto_symbol(target, items):
            return
        if not items:
            self.kill(P, f"ADDITEMS onto a {describe(target)} (no add method)")
            return
        self.die(f"ADDITEMS onto a {describe(target)}, which has no add method")

    def _onto_symbol(self, target: object, items: list[object]) -> bool:
        """Items added to an import or a call's result: any object may take them."""
        if not is_symbolic(target):
            return False
        self.escape(*items)
        if isinstance(target, Global):
            self.assume()  # a module, class or function used as a container: depends on what it is
        return True

    def make_tuple(self, items: list[object]) -> object:
        if len(items) <= SMALL:
            return tuple(items)
        return BigTuple(len(items), not any(unhashable(v) for v in items))

    def make_dict(self, items: list[object]) -> Dct:
        if len(items) % 2:
            self.die("an odd number of items for DICT")
        d = Dct()
        for k in range(0, len(items), 2):
            if unhashable(items[k]):
                self.die(f"a dict key that cannot be hashed ({describe(items[k])})")
            d.put(items[k], items[k + 1])
        self.escape(*items)
        return d

    def make_frozenset(self, items: list[object]) -> FSet:
        for v in items:
            if unhashable(v):
                self.die(f"a frozenset item that cannot be hashed ({describe(v)})")
        self.escape(*items)
        return FSet(len(items))

    # -- payloads ------------------------------------------------------------------------------
    def payload(self, op: int, width: int, n: int, off: int) -> object:
        """The value of a counted payload of n bytes; large ones are seeked over."""
        text = op in (SHORT_BINUNICODE, BINUNICODE, BINUNICODE8)
        py2 = op in (SHORT_BINSTRING, BINSTRING)
        start = self.win.pos
        if n >= self.opts.big:
            self._frame(n)
            head = self.win.peek(8)
            if not self.win.skip(n):
                self.die(f"a {n}-byte payload runs past the end of the stream", "truncated")
            code = b"\x8c" if text else b"U" if py2 else b"C"
            self.r.elided.append((off, 1 + width + n, _placeholder(code, n)))
            self.assume()  # its content (UTF-8 validity) was not checked
            if text or py2:
                value: object = BigText(start, n, py2)
            elif op == BYTEARRAY8:
                value = ByteArr(n)
            else:
                value = Blob(start, n, None)
            if nested.suspect(head):
                self.candidate(off, value, text or py2)
            return value
        data = self.read(n)
        if text:
            try:
                s = data.decode("utf-8", "surrogatepass")
            except UnicodeDecodeError:
                self.die("a unicode string that is not UTF-8")
            if n > 16 and nested.suspect(data[:8]):
                self.candidate(off, s, True)
            return s
        if py2:
            if n > 16 and nested.suspect(data[:8]):
                self.candidate(off, data, True)
            if not data.isascii():
                self.kill(BARE, "a Python 2 string that is not ASCII (the default encoding)")
            return Py2Str(data)
        if op == BYTEARRAY8:
            # Engines see BINBYTES instead: fickling has no BYTEARRAY8.
            head = b"B" + struct.pack("<I", n) if n < 2**32 else b"\x8e" + struct.pack("<Q", n)
            self.r.elided.append((off, 9 + n, head + data))
            return ByteArr(n)
        if op == SHORT_BINBYTES:
            if n > 16 and nested.suspect(data[:8]):
                self.candidate(off, data, False)
            return data
        blob = Blob(start, n, data)
        if n > 16 and (nested.suspect(data[:8]) or data[:4] == b"PK\x03\x04"):
            self.candidate(off, blob, False)
        return blob

    # -- joblib -----------------------------------------------------------------------------------
    def after_build(self, inst: Obj, state: object, off: int) -> None:
        """joblib's NumpyUnpickler: a BUILD on a NumpyArrayWrapper reads the array that follows."""
        kind = joblib_arrays.wrapper_kind(inst)
        if not joblib_arrays.apply_build(inst, state):
            self.kill(JOBLIB, "BUILD on a NumpyArrayWrapper with a state that is not a dict")
        if kind == "no" or not self.alive & JOBLIB:
            return
        from mlsecops.formats.pickle import stream

        if kind == "unsure":
            stream.joblib_array(self, inst, off, alias=True)
            return
        stream.joblib_array(self, inst, off)


# -- the opcode handlers ---------------------------------------------------------------------------
# Each takes (machine, opcode, offset, is-first-opcode) and returns True at STOP.

def _mark(m: Machine, op: int, off: int, first: bool) -> None:
    m.metastack.append(m.stack)
    m.stack = []


def _stop(m: Machine, op: int, off: int, first: bool) -> bool:
    m._need(1, "STOP")
    m.value = m.stack.pop()
    m.escape(m.value)
    return True


def _pop(m: Machine, op: int, off: int, first: bool) -> None:
    if m.stack:
        m.stack.pop()
    elif m.metastack:
        m.stack = m.metastack.pop()
    else:
        m.die("POP on an empty stack")


def _pop_mark(m: Machine, op: int, off: int, first: bool) -> None:
    m._pop_mark("POP_MARK")


def _dup(m: Machine, op: int, off: int, first: bool) -> None:
    m._need(1, "DUP")
    m.stack.append(m.stack[-1])


def _float(m: Machine, op: int, off: int, first: bool) -> None:
    raw, length, _ = m.read_line()
    if raw is None:
        m.assume()
        m.stack.append(0.0)
        return
    c_value, p_value = textargs.c_float(raw), textargs.p_float(raw)
    if c_value is None:
        m.kill(C, f"FLOAT argument {raw[:40]!r} that pickle.load rejects")
    if p_value is None:
        m.kill(P, f"FLOAT argument {raw[:40]!r} that the pure-Python unpickler rejects")
    value = c_value if c_value is not None else p_value
    # Engines see BINFLOAT instead: fickling has no text FLOAT.
    m.r.elided.append((off, 1 + length, b"G" + struct.pack(">d", value)))  # type: ignore[arg-type]
    m.stack.append(value)


def _int_text(m: Machine, op: int, off: int, first: bool) -> None:
    raw, _, _ = m.read_line()
    if raw is None:
        m.assume()
        m.stack.append(HUGE_INT)
        return
    if op == INT:
        c_value, p_value = textargs.c_int(raw), textargs.p_int(raw)
    else:
        c_value, p_value = textargs.c_long(raw), textargs.p_long(raw)
    name = "INT" if op == INT else "LONG"
    if c_value is None:
        m.kill(C, f"{name} argument {raw[:40]!r} that pickle.load rejects")
    if p_value is None:
        m.kill(P, f"{name} argument {raw[:40]!r} that the pure-Python unpickler rejects")
    m.stack.append(c_value if c_value is not None and m.alive & C else p_value)


def _binint(m: Machine, op: int, off: int, first: bool) -> None:
    if op == BININT:
        m.stack.append(int.from_bytes(m.read(4), "little", signed=True))
    elif op == BININT1:
        m.stack.append(m.read(1)[0])
    else:
        m.stack.append(int.from_bytes(m.read(2), "little"))


def _long_bin(m: Machine, op: int, off: int, first: bool) -> None:
    if op == LONG1:
        n = m.read(1)[0]
    else:
        n = int.from_bytes(m.read(4), "little", signed=True)
        if n < 0:
            m.die("LONG4 with a negative length")
    if n > HUGE_LONG:
        m._frame(n)
        if not m.win.skip(n):
            m.die("LONG4 runs past the end of the stream", "truncated")
        m.stack.append(HUGE_INT)
        return
    m.stack.append(int.from_bytes(m.read(n), "little", signed=True))


def _text_line(m: Machine, op: int, off: int, first: bool) -> None:
    """STRING (a quoted Python 2 literal) and UNICODE (raw-unicode-escape), one line each."""
    raw, length, _ = m.read_line()
    py2 = op == STRING
    if raw is None:
        m.assume()
        m.stack.append(BigText(off + 1, length, py2))
        return
    if not py2:
        text = textargs.raw_unicode(raw[:-1])
        if text is None:
            m.die("UNICODE argument with a bad escape")
        m.stack.append(text)
        return
    value = textargs.string_literal(raw[:-1])
    if value is None:
        m.die("STRING argument that is not a quoted Python 2 literal")
    if len(value) > 16 and nested.suspect(value[:8]):  # type: ignore[arg-type]
        m.candidate(off, value, True)
    if not value.isascii():  # type: ignore[union-attr]
        m.kill(BARE, "a Python 2 string that is not ASCII (the default encoding)")
    m.stack.append(Py2Str(value))  # type: ignore[arg-type]


def _counted(m: Machine, op: int, off: int, first: bool) -> None:
    width = OPCODES[op].counted
    n = int.from_bytes(m.read(width), "little")
    if op == BINSTRING and n >= 1 << 31:
        m.kill(P, "BINSTRING with a length the pure-Python unpickler reads as negative")
    if width == 8 and n > _MAXSIZE:
        m.die(f"a payload length of {n} bytes, beyond what any unpickler accepts")
    m.stack.append(m.payload(op, width, n, off))


def _const(m: Machine, op: int, off: int, first: bool) -> None:
    m.stack.append({NONE: None, NEWTRUE: True, NEWFALSE: False}[op])


def _binfloat(m: Machine, op: int, off: int, first: bool) -> None:
    m.stack.append(struct.unpack(">d", m.read(8))[0])


def _empty(m: Machine, op: int, off: int, first: bool) -> None:
    m.stack.append(() if op == EMPTY_TUPLE else Lst() if op == EMPTY_LIST else Dct() if op == EMPTY_DICT else St())


def _tuple_n(m: Machine, op: int, off: int, first: bool) -> None:
    n = op - TUPLE1 + 1
    m._need(n, f"TUPLE{n}")
    items = m.stack[-n:]
    del m.stack[-n:]
    m.escape(*items)
    m.stack.append(tuple(items))


def _from_mark(m: Machine, op: int, off: int, first: bool) -> None:
    name = OPCODES[op].name
    items = m._pop_mark(name)
    if op == TUPLE:
        m.escape(*items)
        m.stack.append(m.make_tuple(items))
    elif op == LIST:
        m.escape(*items)
        m.stack.append(Lst(len(items)))
    elif op == DICT:
        m.stack.append(m.make_dict(items))
    else:
        m.stack.append(m.make_frozenset(items))


def _append(m: Machine, op: int, off: int, first: bool) -> None:
    m._need(2, "APPEND")
    value = m.stack.pop()
    m.append_items(m.stack[-1], [value], True)


def _appends(m: Machine, op: int, off: int, first: bool) -> None:
    items = m._pop_mark("APPENDS")
    m._need(1, "APPENDS")
    m.append_items(m.stack[-1], items, False)


def _setitem(m: Machine, op: int, off: int, first: bool) -> None:
    m._need(3, "SETITEM")
    value = m.stack.pop()
    key = m.stack.pop()
    m.set_items(m.stack[-1], [key, value])


def _setitems(m: Machine, op: int, off: int, first: bool) -> None:
    items = m._pop_mark("SETITEMS")
    m._need(1, "SETITEMS")
    m.set_items(m.stack[-1], items)


def _additems(m: Machine, op: int, off: int, first: bool) -> None:
    items = m._pop_mark("ADDITEMS")
    m._need(1, "ADDITEMS")
    m.add_items(m.stack[-1], items)


def _get(m: Machine, op: int, off: int, first: bool) -> None:
    if op == BINGET:
        idx = m.read(1)[0]
    elif op == LONG_BINGET:
        idx = int.from_bytes(m.read(4), "little")
    else:
        raw, _, _ = m.read_line()
        if raw is None:
            m.die("GET with a key longer than any memo")
        c_key, p_key = textargs.c_memo_key(raw), textargs.p_memo_key(raw)  # type: ignore[arg-type]
        if c_key is None:
            m.kill(C, f"GET argument {raw[:40]!r} that pickle.load rejects")
        if p_key is None:
            m.kill(P, f"GET argument {raw[:40]!r} that the pure-Python unpickler rejects")
        idx = c_key if c_key is not None else p_key  # type: ignore[assignment]
    m.stack.append(m.memo_get(idx))


def _put(m: Machine, op: int, off: int, first: bool) -> None:
    if op == BINPUT:
        idx = m.read(1)[0]
    elif op == LONG_BINPUT:
        idx = int.from_bytes(m.read(4), "little")
    elif op == PUT:
        raw, _, _ = m.read_line()
        if raw is None:
            m.die("PUT with a key longer than any memo")
        c_key, p_key = textargs.c_memo_key(raw), textargs.p_memo_key(raw)  # type: ignore[arg-type]
        if c_key is None or c_key < 0:
            m.kill(C, f"PUT argument {raw[:40]!r} that pickle.load rejects")
        if p_key is None or p_key < 0:
            m.kill(P, f"PUT argument {raw[:40]!r} that the pure-Python unpickler rejects")
        idx = c_key if c_key is not None and c_key >= 0 else p_key  # type: ignore[assignment]
    else:  # MEMOIZE
        idx = -1
    m._need(1, OPCODES[op].name)
    m.memo_put(len(m.memo) if op == MEMOIZE else idx, m.stack[-1])


def _ext(m: Machine, op: int, off: int, first: bool) -> None:
    width = {EXT1: 1, EXT2: 2, EXT4: 4}[op]
    code = int.from_bytes(m.read(width), "little", signed=op == EXT4)
    if code <= 0:
        m.die("EXT with a code <= 0")
    if code in m.ext_cache:
        m.stack.append(m.ext_cache[code])
        return
    registry = m.opts.extensions
    if registry is not None:
        if code not in registry:
            m.die(f"EXT code {code} is not registered")
        g = m.import_(registry[code][0], registry[code][1], off, "EXT")
    else:
        g = m.import_("copyreg._extension_registry", f"code {code}", off, "EXT")
        m.r.issues.append(Issue("ext-opcode", off, f"EXT{width} {code}: imports whatever the extension registry maps to"))
        m.assume()  # a stock interpreter has no codes registered and fails here
    m.ext_cache[code] = g
    m.stack.append(g)


def _text_names(raw1: bytes | None, raw2: bytes | None, encoding: str) -> tuple[str, str] | None:
    if raw1 is None or raw2 is None:
        return None
    module = textargs.text(raw1[:-1], encoding)
    name = textargs.text(raw2[:-1], encoding)
    return None if module is None or name is None else (module, name)


def _global(m: Machine, op: int, off: int, first: bool) -> None:
    """GLOBAL and INST. C checks INST's MARK first and each line's length; the pure-Python
    unpickler imports first and takes a last line cut off by the end of the stream."""
    is_inst = op == INST
    encoding = "ascii" if is_inst else "utf-8"
    if is_inst and not m.metastack:
        m.kill(C, "INST without a MARK")
    raw1, len1, ok1 = m.read_line()
    raw2, len2, ok2 = m.read_line()
    if raw1 is None or raw2 is None:
        m.r.issues.append(Issue("unreadable", off, f"{OPCODES[op].name} with a name longer than {m.opts.line_max} bytes"))
        raise Blind("unreadable", "an import whose name is too long to read")
    names = _text_names(raw1, raw2, encoding)
    if names is None:
        m.die(f"{OPCODES[op].name} names that are not {encoding.upper()}")
    if len1 < 2 or len2 < 2:
        m.kill(C, f"{OPCODES[op].name} with an empty name")
    g = m.import_(names[0], names[1], off, OPCODES[op].name)  # type: ignore[index]
    if not is_inst:
        m.stack.append(g)
        return
    items = m._pop_mark("INST")
    m.escape(*items)
    m.stack.append(m.call(g, tuple(items), off, "inst"))


def _stack_global(m: Machine, op: int, off: int, first: bool) -> None:
    m._need(2, "STACK_GLOBAL")
    name = m.stack.pop()
    module = m.stack.pop()
    m.escape(module, name)
    texts = []
    dynamic = False
    for v in (module, name):
        if type(v) is str:
            texts.append(v)
        elif type(v) is Py2Str:
            m.kill(BYTES, "STACK_GLOBAL on a Python 2 string read as bytes")
            texts.append(v.decode("latin-1"))
        elif type(v) is BigText:
            if v.py2:
                m.kill(BYTES, "STACK_GLOBAL on a Python 2 string read as bytes")
            dynamic = True
            texts.append("<unreadable>")
        elif is_symbolic(v) and resolve.could_be_str(v):
            dynamic = True
            texts.append("<dynamic>")
        else:
            m.die(f"STACK_GLOBAL on {describe(v)}, which is not a str")
    if dynamic:
        m.assume()
        m.r.issues.append(Issue("dynamic-global", off, "STACK_GLOBAL with operands that are not constant strings "
                                f"(module={describe(module)}, name={describe(name)})"))
    m.stack.append(m.import_(texts[0], texts[1], off, "STACK_GLOBAL"))


def _reduce(m: Machine, op: int, off: int, first: bool) -> None:
    m._need(2, "REDUCE")
    args = m.stack.pop()
    func = m.stack.pop()
    _check_args(m, args, "REDUCE")
    if not is_symbolic(func):
        m.die(f"REDUCE calls {describe(func)}, which is not callable")
    m.escape(args)
    m.stack.append(m.call(func, args, off, "reduce"))


def _check_args(m: Machine, args: object, what: str) -> None:
    """C wants a tuple; the pure-Python unpickler unpacks any iterable with *args."""
    t = type(args)
    if t is tuple or t is BigTuple:
        return
    if is_symbolic(args):
        m.assume()  # a tuple at run time, as far as pickle.load is concerned
        return
    m.kill(C, f"{what} with arguments that are not a tuple")
    if t in NOT_ITERABLE_TYPES:
        m.die(f"{what} with arguments that are not iterable ({describe(args)})")


def _newobj(m: Machine, op: int, off: int, first: bool) -> None:
    ex = op == NEWOBJ_EX
    m._need(3 if ex else 2, OPCODES[op].name)
    kwargs = m.stack.pop() if ex else None
    args = m.stack.pop()
    cls = m.stack.pop()
    if not is_symbolic(cls):
        m.die(f"{OPCODES[op].name} on {describe(cls)}, which is not a class")
    _check_args(m, args, OPCODES[op].name)
    if ex:
        if type(kwargs) is Dct:
            if not all(type(k) is str for k in kwargs):  # type: ignore[union-attr]
                m.kill(P, "NEWOBJ_EX with keyword names that are not strings")
                m.assume()  # a C type's __new__ takes them
            elif len(kwargs) < kwargs.count:  # type: ignore[union-attr]
                m.assume()
        elif is_symbolic(kwargs):
            m.assume()
        else:
            m.die(f"NEWOBJ_EX with keyword arguments that are not a dict ({describe(kwargs)})")
    m.escape(args, kwargs)
    m.stack.append(m.call(cls, args, off, "newobj_ex" if ex else "newobj"))


def _obj(m: Machine, op: int, off: int, first: bool) -> None:
    items = m._pop_mark("OBJ")
    if not items:
        m.die("OBJ with nothing after its MARK")
    cls = items[0]
    if not is_symbolic(cls):
        m.die(f"OBJ calls {describe(cls)}, which is not callable")
    args = tuple(items[1:])
    m.escape(*items[1:])
    m.stack.append(m.call(cls, args, off, "obj"))


def _build(m: Machine, op: int, off: int, first: bool) -> None:
    m._need(2, "BUILD")
    state = m.stack.pop()
    inst = m.stack[-1]
    m.escape(state)
    if isinstance(inst, Global):
        m.escape(inst)
        m.assume()  # whether the object takes the state depends on what it is
        m.r.issues.append(Issue("build-on-global", off,
                                f"BUILD sets attributes on the imported object {inst.module}.{inst.name}"))
        return
    if isinstance(inst, Obj):
        inst.state = state
        if joblib_arrays.wrapper_kind(inst) != "no":
            m.after_build(inst, state, off)
        return
    if is_symbolic(inst):
        return
    _build_on_data(m, inst, state)


def _build_on_data(m: Machine, inst: object, state: object) -> None:
    """BUILD on plain data: no __setstate__ and no __dict__, so only an empty state passes."""
    slot: object = None
    has_slot = False
    if type(state) is tuple and len(state) == 2:  # type: ignore[arg-type]
        state, slot = state  # type: ignore[misc]
        has_slot = True
    if is_symbolic(state) or is_symbolic(slot):
        m.assume()
        return
    c_ok = state is None and (not has_slot or (type(slot) is Dct and slot.count == 0))  # type: ignore[attr-defined]
    p_ok = truthy(state) is False and truthy(slot) is False
    what = f"BUILD on {describe(inst)} with a state it cannot take"
    if not c_ok:
        m.kill(C, what)
    if not p_ok:
        m.kill(P, what)


def _persid(m: Machine, op: int, off: int, first: bool) -> None:
    m.kill(BARE, "a persistent id, and this unpickler has no persistent_load")
    if op == PERSID:
        raw, _, _ = m.read_line()
        pid: object = None
        if raw is not None:
            pid = textargs.text(raw[:-1], "ascii")
            if pid is None:
                m.die("PERSID that is not ASCII")
    else:
        m._need(1, "BINPERSID")
        pid = m.stack.pop()
        m.escape(pid)
    m.stack.append(Obj(None, pid, "persistent", "persid"))


def _proto(m: Machine, op: int, off: int, first: bool) -> None:
    proto = m.read(1)[0]
    if proto > HIGHEST_PROTOCOL:
        m.die(f"unsupported pickle protocol {proto}")
    m.r.protocol = max(m.r.protocol, proto)
    if not first and not any(i.kind == "misplaced-proto" for i in m.r.issues):
        m.r.issues.append(Issue("misplaced-proto", off, "PROTO opcode after the start of the pickle"))


def _frame_op(m: Machine, op: int, off: int, first: bool) -> None:
    n = int.from_bytes(m.read(8), "little")
    m.r.elided.append((off, 9, b""))  # the engines' skeleton has no frames (its lengths change)
    start = m.win.pos
    fe = m.frame_end
    if fe is not None and start < fe:
        m.kill(P, "a FRAME before the end of the previous one")
        if start + n > fe:
            m.straddle("a FRAME")  # the C unpickler's frame buffer would be replaced mid-way
        return
    if n > _SSIZE_MAX or start + n > m.win.end:
        m.kill(C, "a FRAME longer than the rest of the stream")
    if n > _MAXSIZE:
        m.kill(P, "a FRAME longer than sys.maxsize")
    m.frame_end = min(start + n, m.win.end)


def _next_buffer(m: Machine, op: int, off: int, first: bool) -> None:
    m.kill(BARE, "an out-of-band buffer, and this unpickler was given none")
    m.assume()  # the loader's own buffers= objects; without them every unpickler fails here
    m.stack.append(Unknown("buffer"))


def _readonly(m: Machine, op: int, off: int, first: bool) -> None:
    m._need(1, "READONLY_BUFFER")
    top = m.stack[-1]
    t = type(top)
    if t is ByteArr:
        m.stack[-1] = MemView(top.n)  # type: ignore[attr-defined]
    elif t is Py2Str or (t is BigText and top.py2):  # type: ignore[attr-defined]
        m.kill(STR, "READONLY_BUFFER on a Python 2 string read as str")
    elif t in (bytes, Blob, MemView):
        pass
    elif is_symbolic(top):
        m.assume()
    else:
        m.die(f"READONLY_BUFFER on {describe(top)}, which is not a buffer")


def _short_counted(m: Machine, op: int, off: int, first: bool) -> None:
    n = m.read(1)[0]
    m.stack.append(m.payload(op, 1, n, off))


_HANDLERS = {
    MARK: _mark, STOP: _stop, POP: _pop, POP_MARK: _pop_mark, DUP: _dup, FLOAT: _float, INT: _int_text,
    LONG: _int_text, BININT: _binint, BININT1: _binint, BININT2: _binint, LONG1: _long_bin, LONG4: _long_bin,
    STRING: _text_line, UNICODE: _text_line, BINSTRING: _counted, BINUNICODE: _counted, BINUNICODE8: _counted,
    BINBYTES: _counted, BINBYTES8: _counted, BYTEARRAY8: _counted, SHORT_BINSTRING: _short_counted,
    SHORT_BINUNICODE: _short_counted, SHORT_BINBYTES: _short_counted, NONE: _const, NEWTRUE: _const,
    NEWFALSE: _const, BINFLOAT: _binfloat, EMPTY_TUPLE: _empty, EMPTY_LIST: _empty, EMPTY_DICT: _empty,
    EMPTY_SET: _empty, TUPLE1: _tuple_n, TUPLE2: _tuple_n, TUPLE3: _tuple_n, TUPLE: _from_mark, LIST: _from_mark,
    DICT: _from_mark, FROZENSET: _from_mark, APPEND: _append, APPENDS: _appends, SETITEM: _setitem,
    SETITEMS: _setitems, ADDITEMS: _additems, GET: _get, BINGET: _get, LONG_BINGET: _get, PUT: _put, BINPUT: _put,
    LONG_BINPUT: _put, MEMOIZE: _put, EXT1: _ext, EXT2: _ext, EXT4: _ext, GLOBAL: _global, INST: _global,
    STACK_GLOBAL: _stack_global, REDUCE: _reduce, NEWOBJ: _newobj, NEWOBJ_EX: _newobj, OBJ: _obj, BUILD: _build,
    PERSID: _persid, BINPERSID: _persid, PROTO: _proto, FRAME: _frame_op, NEXT_BUFFER: _next_buffer,
    READONLY_BUFFER: _readonly,
}
assert set(_HANDLERS) == set(OPCODES), "every opcode pickletools lists has a handler"

__all__ = ["ALL", "BIG", "Blind", "Budget", "C", "Die", "JOBLIB", "LOOPING", "MAX_DEPTH", "Machine", "Options", "P",
           "HugeInt"]
