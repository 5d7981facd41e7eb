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
This file holds the machine (the readers, reading with their rules, the memo,
effects, containers); ops.py executes each opcode on it, hotloop.py inlines the
common ones.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass

from mlsecops.formats.pickle import joblib_arrays, nested, numpy_values, resolve, states
from mlsecops.formats.pickle.opcodes import BYTEARRAY8, BINSTRING, BINUNICODE, BINUNICODE8, SHORT_BINBYTES, \
    SHORT_BINSTRING, SHORT_BINUNICODE
from mlsecops.formats.pickle.reader import Window
from mlsecops.formats.pickle.results import Embedded, GlobalRef, Issue, WalkResult
from mlsecops.formats.pickle.values import (
    SMALL, BigText, BigTuple, Blob, ByteArr, Dct, FSet, Global, HugeInt, Lst, Obj, Py2Str, St, describe, ident,
    is_symbolic, unhashable,
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
_VALUE_TYPES = frozenset({str, Py2Str, int, float, bool, type(None)})  # what an enum member is rebuilt from
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
    watch: frozenset[str] = frozenset()  # state attributes the allowlist's state checks read (states.py)
    # The loader's persistent_load, when the walk knows which loader reads the stream:
    # "torch-legacy" (torch.load's stacked legacy format: ('module', cls, ...) is cls) or
    # "torch-tar" (the legacy tar's `pickle` member: a tuple is its first item). Otherwise
    # a persistent id is whatever the loader makes of it (any object).
    persistent: str | None = None


def _placeholder(opcode: bytes, n: int) -> bytes:
    """A short string or bytes opcode standing in for an elided payload."""
    note = f"<{n} bytes elided by mlsecops>".encode()
    return opcode + bytes([len(note)]) + note


class Machine:
    """One stream's walk state. `step()` executes one opcode with every check.

    The opcode handlers (ops.py) and joblib's inline arrays (stream.py) use this module, so
    it does not import them: the machine that walks (stream.Walker) binds them."""

    HANDLERS: dict[int, Callable[[Machine, int, int, bool], object]] = {}

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
        self.persistent = opts.persistent  # the loader's persistent_load, once known (see Options)
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
            elif s + length > fe and self.win.reaches(fe + 1):
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
            if isinstance(callee, Obj) and isinstance(callee.callee, Global) and type(callee.args) is tuple:
                # Calling what a call returned (functools.partial(f)(...)): what that call held is called now.
                for pos, arg in enumerate(callee.args):  # type: ignore[arg-type]
                    if isinstance(arg, Global):
                        self.hand_over(arg, callee.callee, pos, "held")
                # ... and what this call passes goes to code the walker does not know (a partial hands
                # it to the function it wraps): judged as called, like what the partial holds.
                if type(args) is tuple:
                    for arg in args:  # type: ignore[attr-defined]
                        if isinstance(arg, Global):
                            self.hand_over(arg, callee.callee, len(callee.args), "held")  # type: ignore[arg-type]
            if not resolve.calls_what_it_holds(callee) and sum(i.kind == "computed-call" for i in r.issues) < 8:
                # An instance's __call__, or a callable some code returned: code no allowlist entry judged.
                r.issues.append(Issue("computed-call", off, f"calls {resolve.made_by(callee)}: "
                                      "that runs code the allowlist did not judge (an instance's __call__, "
                                      "or a callable the call returned)"))
            return obj
        ref = r.globals[callee.index]
        ref.called = True
        if kind in ("newobj", "newobj_ex"):
            ref.newobj = True
        else:
            ref.reduced = True
            if not (type(args) is tuple and not args):
                ref.with_args = True  # a non-empty tuple, or arguments the walker does not itemise
                if not (type(args) is tuple and len(args) == 1 and type(args[0]) in _VALUE_TYPES):  # type: ignore[arg-type]
                    ref.other_args = True
        if type(args) is tuple:
            for pos, arg in enumerate(args):  # type: ignore[arg-type]
                if isinstance(arg, Global):
                    self.hand_over(arg, callee, pos, "newobj" if kind in ("newobj", "newobj_ex") else "reduce")
        if ref.special:
            return self._special_call(ref, callee, args, obj, off, kind)
        name = resolve.full_name(callee.module, callee.name)
        if name in resolve.NEW_CALLERS and isinstance(args, tuple) and args and isinstance(args[0], Global):
            # copyreg.__newobj__(cls, ...) is cls.__new__(cls, ...): a NEWOBJ of cls (when the
            # import is the real copyreg: an assumption, as for any import's behaviour).
            self.assume()
            r.globals[args[0].index].called = True
            if r.call_idents is not None:
                r.call_idents.add(args[0].ident)
        if name in numpy_values.SCALAR_NAMES and kind not in ("newobj", "newobj_ex"):
            return self._scalar(args, obj)
        if name == "_codecs.encode":
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
            # torch.load reads bytes the walk does not have (made at load time): what it loads is unseen.
            self.r.issues.append(Issue("computed-checkpoint", off, "torch.storage._load_from_bytes is given "
                                       f"{resolve.made_by(args[0])}, not bytes read from the file, so the checkpoint "
                                       "torch.load reads from it was not scanned"))
        ref.resolved = False
        self.escape(args)
        return obj

    def _ref(self, g: Global) -> GlobalRef | None:
        """The record of an import (None for one whose index is another walk's: an EXT cached across walks)."""
        refs = self.r.globals
        if 0 <= g.index < len(refs) and refs[g.index].module == g.module and refs[g.index].name == g.name:
            return refs[g.index]
        return None

    def hand_over(self, g: Global, holder: Global, pos: int | str, how: str) -> None:
        """Record that import `g` was handed to `holder` (an argument, or held in a state)."""
        ref = self._ref(g)
        if ref is None or self._ref(holder) is None:
            return
        entry = (holder.index, pos, how)
        if ref.passed is None:
            ref.passed = []
        if entry not in ref.passed:
            if len(ref.passed) >= 32:
                ref.passed_lost = True
                return
            ref.passed.append(entry)

    def record_state(self, inst: Obj, state: object) -> None:
        """BUILD gave `inst` this state: summarise it under the class that made the instance."""
        summary = states.summarise(state, self.opts.watch)
        cls = resolve.instance_class(inst)
        ref = self._ref(cls) if cls is not None else None
        if ref is None:
            if len(self.r.loose_states) < states.MAX_KEPT:
                self.r.loose_states[summary] = None
            else:
                self.r.loose_states[None] = None
            return
        ref.built = True
        if ref.states is None:
            ref.states = {}
        if summary not in ref.states:
            ref.states[summary if len(ref.states) < states.MAX_KEPT else None] = None
        for key, g in states.globals_in(state):
            self.hand_over(g, cls, key, "state")  # type: ignore[arg-type]

    def _scalar(self, args: object, obj: Obj) -> object:
        """numpy's scalar(dtype, obj) is obj itself under the object dtype: the walk goes on
        with the argument (a class given to it stays that class for a BUILD or a call). Where
        the dtype cannot be known the result may be either: an import or a call's result given
        to it is taken to come back; plain data stays a symbolic result (which may be a str)."""
        same = numpy_values.scalar_returns_argument(args)
        if same is False:
            return obj
        assert isinstance(args, tuple)
        if same is None:
            self.assume()
            if not is_symbolic(args[1]):
                return obj
        return args[1]

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
        handler = self.HANDLERS.get(op)
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
        if isinstance(target, Obj) and isinstance(target.callee, Global):
            # target[key] = value on an object made at load time runs its class's __setitem__, which
            # may call a callable key (pandas' DataFrame.__setitem__ calls key(frame)): judged as called.
            for key in items[::2]:
                if isinstance(key, Global):
                    self.hand_over(key, target.callee, "setitem", "item")
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
        if kind == "unsure":
            self.joblib_array(inst, off, alias=True)
            return
        self.joblib_array(inst, off)

    def joblib_array(self, inst: Obj, off: int, alias: bool = False) -> None:
        """joblib.load reads the array that follows a NumpyArrayWrapper's BUILD (stream.Walker)."""
        raise NotImplementedError

__all__ = ["ALL", "BIG", "Blind", "Budget", "C", "Die", "JOBLIB", "LOOPING", "MAX_DEPTH", "Machine", "Options", "P",
           "HugeInt"]
