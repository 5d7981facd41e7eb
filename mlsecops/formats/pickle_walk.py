"""Walk a pickle's opcodes symbolically: every import it would make, every call, nothing run.

This is the models stage's own engine. It follows the stack, the mark stack and
the memo the way the unpickler would, but its values are symbols: a STACK_GLOBAL
whose operands came through PUT/GET is resolved, one whose operands are not
constant strings is itself the finding. Large byte payloads (tensor data) are
seeked over, never read, so the cost follows the pickle program, not the file.
Byte strings that are themselves pickles (raw, base64 or hex) are walked too.
Joblib's inline numpy buffers are skipped exactly as joblib reads them.

The walker never raises on hostile input: a malformed stream ends the walk with
an issue, and everything seen before the break (the part that would have run)
is kept.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import struct
from dataclasses import dataclass, field
from typing import BinaryIO

CHUNK = 4 << 20
BIG = 1 << 20           # payloads at least this long are seeked over, not read
NESTED_MAX = 64 << 20   # largest byte string examined as a nested pickle
MAX_DEPTH = 4           # nested pickles inside nested pickles
SMALL = 64              # containers are tracked item by item up to this size
_IDENT = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")
_B64 = re.compile(rb"^[A-Za-z0-9+/=\s]+$")
_HEX = re.compile(rb"^(?:[0-9a-fA-F]{2})+$")


class Opaque:
    """A value the walker does not track (a big container, an elided payload...)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<?>"


OPAQUE = Opaque()


@dataclass(slots=True)
class Bin:
    """A bytes object (BINBYTES...); `data` is None when it was seeked over."""

    data: bytes | None
    size: int


@dataclass(slots=True)
class Global:
    module: str
    name: str
    index: int  # into WalkResult.globals


@dataclass(slots=True)
class Obj:
    """The result of calling something (REDUCE, NEWOBJ, OBJ, INST)."""

    callee: object
    args: object
    state: object = None


class SmallDict(dict):  # type: ignore[type-arg]
    """A dict tracked entry by entry while it stays small."""


@dataclass
class GlobalRef:
    module: str
    name: str
    offset: int
    opcode: str
    pickle_index: int = 0
    called: bool = False


@dataclass
class Issue:
    kind: str
    offset: int
    detail: str


@dataclass
class Nested:
    offset: int
    encoding: str  # raw, base64, hex, latin1, joblib-object-array
    result: WalkResult


@dataclass
class WalkResult:
    globals: list[GlobalRef] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    nested: list[Nested] = field(default_factory=list)
    opcodes: int = 0
    calls: int = 0
    pickles: int = 0
    protocol: int = 0
    end: int = 0
    # (offset, length, replacement) of seeked-over regions: the skeleton the engines see
    # has each region replaced by a short opcode of the same type (or nothing).
    elided: list[tuple[int, int, bytes]] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)   # (start, end) of each pickle in the stream
    joblib_arrays: int = 0
    complete: bool = False
    data_only_proof: bool = False  # set when the fast tokenizer proved there is nothing to resolve

    @property
    def elided_bytes(self) -> int:
        """Bytes the walk seeked over (text FLOAT rewrites are not elisions)."""
        return sum(n for _, n, rep in self.elided if rep[:1] not in (b"G", b"B", b"\x8e"))


_HOT = 32
_HOLE = object()
_STOPPED = object()
_MAX_MEMO_GAP = 1 << 16
_MAX_MEMO_HOLES = 1 << 20  # list slots skipped over by out-of-order PUTs, per pickle (8 MiB)
_MAX_FAR_MEMO = 1 << 20    # entries kept for indices too far out for the list


class _FarMemo(dict):  # type: ignore[type-arg]
    """Memo entries whose index is far beyond the list, and the holes the list has grown by.

    Both are bounded: a few kilobytes of `LONG_BINPUT` with ever larger indices
    must not grow the walker's memory without limit (a memo bomb). An entry that
    does not fit is dropped; a later GET of it reads as unknown (`memo-missing`),
    which can only make the walk stricter, never hide an import.
    """

    holes = 0


def _put(memo: list[object], extra: _FarMemo, idx: int, value: object) -> None:
    """memo[idx] = value: a list while indices come in order (they do in real pickles), a dict otherwise."""
    n = len(memo)
    if idx < n:
        if idx < 0:
            raise Stop("negative PUT argument")
        memo[idx] = value
    elif idx == n:
        memo.append(value)
    elif idx - n <= _MAX_MEMO_GAP and extra.holes + idx - n <= _MAX_MEMO_HOLES:
        extra.holes += idx - n
        memo.extend([_HOLE] * (idx - n))
        memo.append(value)
    elif idx in extra or len(extra) < _MAX_FAR_MEMO:
        extra[idx] = value


class Stop(Exception):
    """Ends the walk of one pickle (STOP, a malformed stream, or a limit)."""


# Opcode bytes (see pickletools); only the values matter here.
MARK, STOP, POP, POP_MARK, DUP = 0x28, 0x2E, 0x30, 0x31, 0x32
FLOAT, INT, BININT, BININT1, LONG, BININT2, NONE, PERSID, BINPERSID = 0x46, 0x49, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x50, 0x51
REDUCE, STRING, BINSTRING, SHORT_BINSTRING, UNICODE, BINUNICODE = 0x52, 0x53, 0x54, 0x55, 0x56, 0x58
APPEND, BUILD, GLOBAL, DICT, EMPTY_DICT, APPENDS, GET, BINGET, INST = 0x61, 0x62, 0x63, 0x64, 0x7D, 0x65, 0x67, 0x68, 0x69
LONG_BINGET, LIST, EMPTY_LIST, OBJ, PUT, BINPUT, LONG_BINPUT, SETITEM = 0x6A, 0x6C, 0x5D, 0x6F, 0x70, 0x71, 0x72, 0x73
TUPLE, EMPTY_TUPLE, SETITEMS, BINFLOAT = 0x74, 0x29, 0x75, 0x47
PROTO, NEWOBJ, EXT1, EXT2, EXT4, TUPLE1, TUPLE2, TUPLE3, NEWTRUE, NEWFALSE, LONG1, LONG4 = (
    0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B)
BINBYTES, SHORT_BINBYTES = 0x42, 0x43
SHORT_BINUNICODE, BINUNICODE8, BINBYTES8, EMPTY_SET, ADDITEMS, FROZENSET, NEWOBJ_EX, STACK_GLOBAL, MEMOIZE, FRAME = (
    0x8C, 0x8D, 0x8E, 0x8F, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95)
BYTEARRAY8, NEXT_BUFFER, READONLY_BUFFER = 0x96, 0x97, 0x98

VALID = frozenset(
    [MARK, STOP, POP, POP_MARK, DUP, FLOAT, INT, BININT, BININT1, LONG, BININT2, NONE, PERSID, BINPERSID, REDUCE,
     STRING, BINSTRING, SHORT_BINSTRING, UNICODE, BINUNICODE, APPEND, BUILD, GLOBAL, DICT, EMPTY_DICT, APPENDS, GET,
     BINGET, INST, LONG_BINGET, LIST, EMPTY_LIST, OBJ, PUT, BINPUT, LONG_BINPUT, SETITEM, TUPLE, EMPTY_TUPLE,
     SETITEMS, BINFLOAT, PROTO, NEWOBJ, EXT1, EXT2, EXT4, TUPLE1, TUPLE2, TUPLE3, NEWTRUE, NEWFALSE, LONG1, LONG4,
     BINBYTES, SHORT_BINBYTES, SHORT_BINUNICODE, BINUNICODE8, BINBYTES8, EMPTY_SET, ADDITEMS, FROZENSET, NEWOBJ_EX,
     STACK_GLOBAL, MEMOIZE, FRAME, BYTEARRAY8, NEXT_BUFFER, READONLY_BUFFER]
)
_STR_OPS = {SHORT_BINUNICODE: 1, BINUNICODE: 4, BINUNICODE8: 8, SHORT_BINSTRING: 1, BINSTRING: 4}
_BYTES_OPS = {SHORT_BINBYTES: 1, BINBYTES: 4, BINBYTES8: 8, BYTEARRAY8: 8}
_LEN_FMT = {1: "<B", 4: "<I", 8: "<Q"}


class Walker:
    """One walk over one stream. Holds the buffered window and the limits."""

    def __init__(self, fh: BinaryIO, start: int, end: int, max_opcodes: int, depth: int = 0,
                 first_read: int = CHUNK) -> None:
        self.fh = fh
        self.end = end
        self.max_opcodes = max_opcodes
        self.depth = depth
        self.result = WalkResult()
        fh.seek(start)
        self.base = start
        self.buf = fh.read(max(0, min(first_read, end - start)))
        self.i = 0

    # -- buffer management -------------------------------------------------
    def _ensure(self, n: int) -> bool:
        """Make buf[i:i+n] available (n <= CHUNK); False at end of stream."""
        if self.i + n <= len(self.buf):
            return True
        file_pos = self.base + len(self.buf)
        if file_pos >= self.end:
            return False
        self.fh.seek(file_pos)
        more = self.fh.read(min(max(CHUNK, n), self.end - file_pos))
        self.buf = self.buf[self.i :] + more
        self.base += self.i
        self.i = 0
        return self.i + n <= len(self.buf)

    def _take(self, n: int) -> bytes:
        if not self._ensure(n):
            raise Stop("truncated")
        out = self.buf[self.i : self.i + n]
        self.i += n
        return out

    def _skip(self, n: int) -> None:
        """Seek over n bytes without reading them."""
        avail = len(self.buf) - self.i
        if n <= avail:
            self.i += n
            return
        target = self.base + self.i + n
        if target > self.end:
            raise Stop("truncated")
        self.base = target
        self.buf = b""
        self.i = 0

    def _line(self) -> bytes:
        while True:
            j = self.buf.find(b"\n", self.i)
            if j != -1:
                out = self.buf[self.i : j]
                self.i = j + 1
                return out
            if len(self.buf) - self.i > CHUNK or not self._ensure(len(self.buf) - self.i + 1):
                raise Stop("unterminated line argument")

    @property
    def pos(self) -> int:
        return self.base + self.i

    # -- the walk ----------------------------------------------------------
    def walk_stream(self, legacy_torch: bool = False) -> WalkResult:
        """Walk stacked pickles until the stream ends, data stops looking like a pickle,
        or (legacy torch) the five pickles that torch.load reads are done."""
        r = self.result
        while self.pos < self.end:
            start = self.pos
            if r.pickles and not self._next_is_pickle():
                r.issues.append(Issue("trailing-data", start, f"{self.end - start} bytes after the last pickle"))
                break
            ok = self.walk_one()
            r.spans.append((start, self.pos))
            r.pickles += 1
            if not ok:
                break
            if legacy_torch and r.pickles == 5:
                break
            if r.opcodes >= self.max_opcodes:
                break
        r.end = self.pos
        r.complete = not any(i.kind in ("malformed", "opcode-limit", "truncated") for i in r.issues)
        return r

    def _next_is_pickle(self) -> bool:
        if not self._ensure(2):
            return False
        b0, b1 = self.buf[self.i], self.buf[self.i + 1]
        if b0 == PROTO:
            return 2 <= b1 <= 5
        from mlsecops.formats.pickle_sniff import looks_like_pickle

        self._ensure(4096)
        return looks_like_pickle(self.buf[self.i : self.i + 4096])

    def walk_one(self) -> bool:
        """Walk one pickle to its STOP; False when the stream is broken.

        The hot loop keeps the buffer, index and counters in locals: this runs
        once per opcode and dominates the cost of scanning data-heavy pickles.
        At least `_HOT` bytes are kept ahead of the index so fixed-size
        arguments can be sliced without a bounds check.
        """
        r = self.result
        stack: list[object] = []
        metastack: list[list[object]] = []
        memo: list[object] = []
        extra = _FarMemo()
        pidx = r.pickles
        seen_proto = False
        first = True
        buf, i = self.buf, self.i
        limit = self._limit()
        nops = r.opcodes
        max_ops = self.max_opcodes
        push = stack.append
        try:
            while True:
                if i >= limit:
                    self.i = i
                    self._ensure(_HOT)
                    buf, i = self.buf, self.i
                    limit = self._limit()
                    if i >= len(buf):
                        raise Stop("truncated")
                op = buf[i]
                i += 1
                nops += 1
                if nops > max_ops:
                    r.issues.append(Issue("opcode-limit", self.base + i - 1, f"more than {max_ops} opcodes; the rest was not analysed"))
                    r.opcodes = nops
                    self.i = i
                    return False
                if op == SHORT_BINUNICODE or op == SHORT_BINSTRING:
                    n = buf[i]
                    j = i + 1 + n
                    if j <= len(buf):
                        v = buf[i + 1 : j]
                        i = j
                    else:
                        self.i = i + 1
                        v = self._take(n)
                        buf, i, limit = self.buf, self.i, self._limit()
                    push(v)
                    if n > 16:
                        self._check_nested_text(v, self.base + i - n - 2)
                elif op == MEMOIZE:
                    memo.append(stack[-1])
                elif op == BININT1:
                    push(buf[i])
                    i += 1
                elif op == BINGET:
                    idx = buf[i]
                    i += 1
                    push(memo[idx] if idx < len(memo) and memo[idx] is not _HOLE else self._get(extra, idx, self.base + i - 2))
                elif op == BINPUT:
                    _put(memo, extra, buf[i], stack[-1])
                    i += 1
                elif op == BININT2:
                    push(buf[i] | buf[i + 1] << 8)
                    i += 2
                elif op == BININT:
                    push(int.from_bytes(buf[i : i + 4], "little", signed=True))
                    i += 4
                elif op == MARK:
                    metastack.append(stack)
                    stack = []
                    push = stack.append
                elif op == SETITEMS or op == APPENDS or op == ADDITEMS:
                    items = stack
                    stack = metastack.pop()
                    push = stack.append
                    if op == SETITEMS:
                        target = stack[-1]
                        if type(target) is SmallDict:
                            if len(target) + len(items) // 2 <= SMALL:
                                for k in range(0, len(items) - 1, 2):
                                    if isinstance(items[k], (bytes, int)):
                                        target[items[k]] = items[k + 1]
                            else:
                                stack[-1] = OPAQUE
                    elif not stack:
                        raise Stop("APPENDS on an empty stack")
                elif op == EMPTY_DICT:
                    push(SmallDict())
                elif op == EMPTY_LIST or op == EMPTY_SET:
                    push(OPAQUE)
                elif op == EMPTY_TUPLE:
                    push(())
                elif op == TUPLE1 or op == TUPLE2 or op == TUPLE3:
                    n = op - TUPLE1 + 1
                    if len(stack) < n:
                        raise Stop("TUPLEn on a short stack")
                    t = tuple(stack[-n:])
                    del stack[-n:]
                    push(t)
                elif op == APPEND:
                    if len(stack) < 2:
                        raise Stop("APPEND needs two stack items")
                    stack.pop()
                elif op == SETITEM:
                    if len(stack) < 3:
                        raise Stop("SETITEM needs three stack items")
                    value = stack.pop()
                    key = stack.pop()
                    target = stack[-1]
                    if type(target) is SmallDict and len(target) < SMALL and isinstance(key, (bytes, int)):
                        target[key] = value
                elif op == LONG_BINPUT:
                    _put(memo, extra, int.from_bytes(buf[i : i + 4], "little"), stack[-1])
                    i += 4
                elif op == LONG_BINGET:
                    idx = int.from_bytes(buf[i : i + 4], "little")
                    i += 4
                    push(memo[idx] if idx < len(memo) and memo[idx] is not _HOLE else self._get(extra, idx, self.base + i - 5))
                elif op == NONE:
                    push(None)
                elif op == POP and stack:
                    stack.pop()
                elif op == NEWTRUE:
                    push(True)
                elif op == NEWFALSE:
                    push(False)
                elif op == BINFLOAT:
                    i += 8
                    push(0.0)
                elif op == FRAME:
                    i += 8
                elif op == TUPLE or op == LIST or op == DICT or op == FROZENSET:
                    items = stack
                    stack = metastack.pop()
                    push = stack.append
                    if op == TUPLE:
                        push(tuple(items) if len(items) <= SMALL else OPAQUE)
                    elif op == DICT and len(items) <= 2 * SMALL:
                        d = SmallDict()
                        for k in range(0, len(items) - 1, 2):
                            if isinstance(items[k], (bytes, int)):
                                d[items[k]] = items[k + 1]
                        push(d)
                    else:
                        push(OPAQUE)
                else:
                    # Everything else is rare: handled by the general path on synced state.
                    self.i = i
                    r.opcodes = nops
                    outcome = self._rare(op, stack, metastack, memo, extra, pidx, seen_proto, first)
                    if outcome is _STOPPED:
                        return True
                    if op == PROTO:
                        seen_proto = True
                    if isinstance(outcome, list):
                        stack = outcome
                    push = stack.append
                    buf, i, limit = self.buf, self.i, self._limit()
                    nops = r.opcodes
                first = False
        except Stop as stop:
            self.i = i if self.buf is buf else self.i
            r.opcodes = nops
            kind = "truncated" if str(stop) == "truncated" else "malformed"
            r.issues.append(Issue(kind, self.pos, str(stop)))
            return False
        except IndexError:
            self.i = i if self.buf is buf else self.i
            r.opcodes = nops
            kind = "truncated" if i >= len(buf) and self.base + len(buf) >= self.end else "malformed"
            r.issues.append(Issue(kind, self.pos, "truncated opcode argument" if kind == "truncated" else "stack or mark underflow"))
            return False
        except (struct.error, ValueError, UnicodeDecodeError, OverflowError) as exc:
            self.i = i if self.buf is buf else self.i
            r.opcodes = nops
            r.issues.append(Issue("malformed", self.pos, f"{type(exc).__name__}: {exc}"))
            return False

    def _limit(self) -> int:
        """Index past which the hot loop must refill (the end, when the file ends in the buffer)."""
        if self.base + len(self.buf) >= self.end:
            return len(self.buf)
        return len(self.buf) - _HOT

    def _rare(self, op: int, stack: list[object], metastack: list[list[object]], memo: list[object],
              extra: _FarMemo, pidx: int, seen_proto: bool, first: bool) -> object:
        """The less frequent opcodes. Returns _STOPPED at STOP, a new stack list when the
        mark stack was popped, else None."""
        r = self.result
        off = self.pos - 1
        if op in _STR_OPS or op in _BYTES_OPS:
            width = _STR_OPS.get(op) or _BYTES_OPS[op]
            (n,) = struct.unpack(_LEN_FMT[width], self._take(width))
            self._payload(op, n, off, stack)
        elif op == STACK_GLOBAL:
            if len(stack) < 2:
                raise Stop("STACK_GLOBAL on a short stack")
            name = stack.pop()
            module = stack.pop()
            stack.append(self._stack_global(module, name, off, pidx))
        elif op == GLOBAL:
            module = self._line().decode("utf-8", "replace")
            name = self._line().decode("utf-8", "replace")
            stack.append(self._global(module, name, off, "GLOBAL", pidx))
        elif op == INST:
            module = self._line().decode("utf-8", "replace")
            name = self._line().decode("utf-8", "replace")
            g = self._global(module, name, off, "INST", pidx)
            r.globals[g.index].called = True
            r.calls += 1
            if not metastack:
                raise Stop("INST without MARK")
            args = tuple(stack)
            stack = metastack.pop()
            stack.append(Obj(g, args))
            return stack
        elif op == REDUCE or op == NEWOBJ:
            if len(stack) < 2:
                raise Stop("REDUCE/NEWOBJ on a short stack")
            args = stack.pop()
            func = stack.pop()
            stack.append(self._call(func, args, off))
        elif op == NEWOBJ_EX:
            if len(stack) < 3:
                raise Stop("NEWOBJ_EX on a short stack")
            stack.pop()
            args = stack.pop()
            cls = stack.pop()
            stack.append(self._call(cls, args, off))
        elif op == OBJ:
            if not metastack:
                raise Stop("OBJ without MARK")
            items = stack
            stack = metastack.pop()
            if not items:
                raise Stop("OBJ with nothing to call")
            stack.append(self._call(items[0], tuple(items[1:]), off))
            return stack
        elif op == BUILD:
            if len(stack) < 2:
                raise Stop("BUILD on a short stack")
            state = stack.pop()
            self._build(stack[-1], state, off)
        elif op == BINPERSID:
            if not stack:
                raise Stop("BINPERSID on an empty stack")
            stack[-1] = OPAQUE
        elif op == PERSID:
            self._line()
            stack.append(OPAQUE)
        elif op == PUT:
            line = self._line()
            if not stack:
                raise Stop("PUT on an empty stack")
            _put(memo, extra, _int(line), stack[-1])
        elif op == GET:
            idx = _int(self._line())
            stack.append(memo[idx] if 0 <= idx < len(memo) and memo[idx] is not _HOLE else self._get(extra, idx, off))
        elif op == POP:
            if stack:
                stack.pop()
            elif metastack:
                return metastack.pop()
            else:
                raise Stop("POP on an empty stack")
        elif op == POP_MARK:
            if not metastack:
                raise Stop("POP_MARK without MARK")
            return metastack.pop()
        elif op == DUP:
            if not stack:
                raise Stop("DUP on an empty stack")
            stack.append(stack[-1])
        elif op == INT:
            line = self._line()
            stack.append(True if line == b"01" else False if line == b"00" else _int(line))
        elif op == LONG:
            stack.append(_int(self._line().rstrip(b"L")))
        elif op == FLOAT:
            line = self._line()
            try:
                value = float(line)
            except ValueError:
                raise Stop("FLOAT argument is not a number") from None
            # Engines see BINFLOAT instead: same value, and fickling has no text FLOAT support.
            r.elided.append((off, 2 + len(line), b"G" + struct.pack(">d", value)))
            stack.append(value)
        elif op == STRING:
            stack.append(_unrepr(self._line()))
        elif op == UNICODE:
            stack.append(codecs.decode(self._line(), "raw_unicode_escape").encode("utf-8", "surrogatepass"))
        elif op == LONG1:
            n = self._take(1)[0]
            stack.append(int.from_bytes(self._take(n), "little", signed=True))
        elif op == LONG4:
            (n,) = struct.unpack("<i", self._take(4))
            if n < 0:
                raise Stop("LONG4 with a negative length")
            if n > 64:
                self._skip(n)
                stack.append(OPAQUE)
            else:
                stack.append(int.from_bytes(self._take(n), "little", signed=True))
        elif op == PROTO:
            proto = self._take(1)[0]
            if seen_proto or not first:
                r.issues.append(Issue("misplaced-proto", off, "PROTO opcode after the start of the pickle"))
            r.protocol = max(r.protocol, proto)
        elif op in (EXT1, EXT2, EXT4):
            width = {EXT1: 1, EXT2: 2, EXT4: 4}[op]
            code = int.from_bytes(self._take(width), "little")
            g = self._global("copyreg._extension_registry", f"code {code}", off, "EXT", pidx)
            r.issues.append(Issue("ext-opcode", off, f"EXT{width} {code}: imports whatever the extension registry maps to"))
            stack.append(g)
        elif op == NEXT_BUFFER:
            stack.append(OPAQUE)
        elif op == READONLY_BUFFER:
            if not stack:
                raise Stop("READONLY_BUFFER on an empty stack")
        elif op == STOP:
            if len(stack) != 1 or metastack:
                r.issues.append(Issue("unbalanced-stop", off, "STOP with the stack not holding exactly one value"))
            return _STOPPED
        else:
            raise Stop(f"invalid opcode 0x{op:02x}")
        return None

    # -- helpers -----------------------------------------------------------
    def _get(self, extra: dict[int, object], idx: int, off: int) -> object:
        try:
            return extra[idx]
        except KeyError:
            self.result.issues.append(Issue("memo-missing", off, f"GET of memo key {idx}, which was never stored"))
            return OPAQUE

    def _global(self, module: str, name: str, off: int, opcode: str, pidx: int) -> Global:
        r = self.result
        r.globals.append(GlobalRef(module=module, name=name, offset=off, opcode=opcode, pickle_index=pidx))
        return Global(module, name, len(r.globals) - 1)

    def _stack_global(self, module: object, name: object, off: int, pidx: int) -> Global:
        if isinstance(module, bytes) and isinstance(name, bytes):
            return self._global(module.decode("utf-8", "replace"), name.decode("utf-8", "replace"), off, "STACK_GLOBAL", pidx)
        shown = f"module={_describe(module)}, name={_describe(name)}"
        self.result.issues.append(Issue("dynamic-global", off, f"STACK_GLOBAL with operands that are not constant strings ({shown})"))
        mod = module.decode("utf-8", "replace") if isinstance(module, bytes) else "<dynamic>"
        nm = name.decode("utf-8", "replace") if isinstance(name, bytes) else "<dynamic>"
        return self._global(mod, nm, off, "STACK_GLOBAL", pidx)

    def _call(self, func: object, args: object, off: int) -> Obj:
        r = self.result
        r.calls += 1
        if isinstance(func, Global):
            r.globals[func.index].called = True
            if (func.module, func.name) == ("_codecs", "encode") and isinstance(args, tuple) and args and isinstance(args[0], bytes):
                # protocol 2 spells bytes as _codecs.encode(text, 'latin1'): look inside.
                try:
                    raw = args[0].decode("utf-8").encode("latin1")
                except (UnicodeDecodeError, UnicodeEncodeError):
                    raw = b""
                if _is_pickle_start(raw):
                    self._nested(raw, off, "latin1")
                return Obj(func, args, Bin(raw, len(raw)))
        return Obj(func, args)

    def _build(self, target: object, state: object, off: int) -> None:
        if isinstance(target, Global):
            self.result.issues.append(
                Issue("build-on-global", off, f"BUILD sets attributes on the imported object {target.module}.{target.name}")
            )
            return
        if isinstance(target, Obj):
            target.state = state
            callee = target.callee
            if isinstance(callee, Global) and callee.name == "NumpyArrayWrapper" and callee.module.endswith("numpy_pickle"):
                self._joblib_array(state, off)

    def _payload(self, op: int, n: int, off: int, stack: list[object]) -> None:
        if n >= BIG:
            head_avail = self._ensure(16)
            head = self.buf[self.i : self.i + 16] if head_avail else b""
            looks_nested = head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
            if n <= NESTED_MAX and (looks_nested or (op in _STR_OPS and (head[:2] == b"gA" or head[:2] == b"80"))):
                data = self._read_big(n)
                self._check_nested_any(data, off, op in _STR_OPS)
                stack.append(data if op in _STR_OPS else Bin(data, n))
                return
            width = _STR_OPS.get(op) or _BYTES_OPS[op]
            self.result.elided.append((off, 1 + width + n, _placeholder(op in _STR_OPS, n)))
            self._skip(n)
            stack.append(OPAQUE if op in _STR_OPS else Bin(None, n))
            return
        data = self._take(n)
        if op == BYTEARRAY8:
            # Engines see BINBYTES instead: same bytes, and fickling has no BYTEARRAY8 support.
            r_header = b"B" + struct.pack("<I", n) if n < 2**32 else b"\x8e" + struct.pack("<Q", n)
            self.result.elided.append((off, 9 + n, r_header + data))
        if op in _STR_OPS:
            stack.append(data)
            if n > 16:
                self._check_nested_text(data, off)
        else:
            stack.append(Bin(data, n))
            if _is_pickle_start(data):
                self._nested(data, off, "raw")

    def _read_big(self, n: int) -> bytes:
        parts = []
        left = n
        while left:
            if not self._ensure(1):
                raise Stop("truncated")
            take = min(left, len(self.buf) - self.i)
            parts.append(self.buf[self.i : self.i + take])
            self.i += take
            left -= take
        return b"".join(parts)

    def _check_nested_text(self, s: bytes, off: int) -> None:
        if _is_pickle_start(s):
            self._nested(s, off, "raw")
        elif len(s) >= 24 and s[:2] == b"gA" and _B64.match(s[:64]):
            try:
                raw = base64.b64decode(s, validate=False)
            except (binascii.Error, ValueError):
                return
            if _is_pickle_start(raw):
                self._nested(raw, off, "base64")
        elif len(s) >= 24 and s[:4] in (b"8002", b"8003", b"8004", b"8005") and _HEX.match(s):
            raw = binascii.unhexlify(s)
            if _is_pickle_start(raw):
                self._nested(raw, off, "hex")

    def _check_nested_any(self, data: bytes, off: int, text: bool) -> None:
        if text:
            self._check_nested_text(data, off)
        elif _is_pickle_start(data):
            self._nested(data, off, "raw")

    def _nested(self, data: bytes, off: int, encoding: str) -> None:
        if self.depth >= MAX_DEPTH:
            self.result.issues.append(Issue("nesting-limit", off, "nested pickles deeper than the limit"))
            return
        import io

        sub = Walker(io.BytesIO(data), 0, len(data), self.max_opcodes, self.depth + 1).walk_stream()
        self.result.nested.append(Nested(offset=off, encoding=encoding, result=sub))
        self.result.opcodes += sub.opcodes

    def _joblib_array(self, state: object, off: int) -> None:
        """Skip (or walk) the array joblib writes inline right after the wrapper's BUILD."""
        r = self.result
        r.joblib_arrays += 1
        if not isinstance(state, SmallDict):
            raise Stop("joblib NumpyArrayWrapper with an untracked state")
        dtype = state.get(b"dtype")
        shape = state.get(b"shape")
        kind, itemsize = _dtype_info(dtype)
        if kind == "O":
            start = self.pos
            sub = Walker(self.fh, start, self.end, self.max_opcodes - r.opcodes, self.depth + 1)
            res = sub.walk_stream_one()
            r.nested.append(Nested(offset=start, encoding="joblib-object-array", result=res))
            r.opcodes += res.opcodes
            # The engines' skeleton must stay one pickle: the inline object pickle is cut
            # out of it (mlsecops walked it above; its findings are its own).
            r.elided.append((start, res.end - start, b""))
            self._skip_to(res.end)
            return
        if itemsize is None or not isinstance(shape, tuple) or not all(isinstance(x, int) and x >= 0 for x in shape):
            raise Stop("joblib array with a dtype or shape that cannot be determined")
        count = 1
        for x in shape:
            count *= x
        region = self.pos
        if b"numpy_array_alignment_bytes" in state:
            pad = self._take(1)[0]
            self._skip(pad)
        size = count * itemsize
        if self.pos + size > self.end:
            raise Stop("joblib array data runs past the end of the file")
        self._skip(size)
        r.elided.append((region, self.pos - region, b""))

    def walk_stream_one(self) -> WalkResult:
        self.walk_one()
        self.result.pickles = 1
        self.result.end = self.pos
        return self.result

    def _skip_to(self, absolute: int) -> None:
        self._skip(absolute - self.pos)


def _placeholder(text: bool, n: int) -> bytes:
    """A short string or bytes opcode standing in for an elided payload."""
    note = f"<{n} bytes elided by mlsecops>".encode()
    return (b"\x8c" if text else b"C") + bytes([len(note)]) + note


def _int(line: bytes) -> int:
    try:
        return int(line)
    except ValueError:
        raise Stop(f"not an integer: {line[:40]!r}") from None


def _unrepr(line: bytes) -> bytes:
    """STRING's argument is a quoted Python 2 str literal."""
    if len(line) >= 2 and line[:1] == line[-1:] and line[:1] in (b"'", b'"'):
        try:
            return codecs.escape_decode(line[1:-1])[0]
        except ValueError:
            raise Stop("bad STRING literal") from None
    raise Stop("STRING argument is not quoted")


def _describe(value: object) -> str:
    if isinstance(value, bytes):
        return repr(value.decode("utf-8", "replace"))[:60]
    if isinstance(value, Global):
        return f"global {value.module}.{value.name}"
    if isinstance(value, Obj):
        return "result of a call"
    return type(value).__name__


def _is_pickle_start(data: bytes) -> bool:
    return len(data) >= 4 and data[0] == PROTO and 2 <= data[1] <= 5 and data[-1:] == b"."


def _dtype_info(dtype: object) -> tuple[str | None, int | None]:
    """(kind, itemsize) of a symbolic numpy.dtype(...) call, without calling numpy on it."""
    if not isinstance(dtype, Obj) or not isinstance(dtype.args, tuple) or not dtype.args:
        return None, None
    spec = dtype.args[0]
    if not isinstance(spec, bytes):
        return None, None
    text = spec.decode("ascii", "replace").lstrip("<>|=")
    m = re.match(r"^([a-zA-Z])(\d*)$", text)
    if not m:
        return None, None
    kind, digits = m.group(1), m.group(2)
    if kind == "O":
        return "O", None
    if digits:
        size = int(digits)
        if kind == "U":
            size *= 4
        return kind, size
    if kind in ("V",) and isinstance(dtype.state, tuple) and len(dtype.state) > 5 and isinstance(dtype.state[5], int):
        return kind, dtype.state[5]
    sizes = {"b": 1, "B": 1, "?": 1, "h": 2, "H": 2, "i": 4, "I": 4, "l": 8, "L": 8, "q": 8, "Q": 8,
             "e": 2, "f": 4, "d": 8, "g": 16, "F": 8, "D": 16, "G": 32}
    return kind, sizes.get(kind)


def is_identifier_path(text: str) -> bool:
    return bool(_IDENT.match(text))


def _data_op_regex() -> re.Pattern[bytes]:
    """One opcode that can neither import, call, nor build anything (C-speed tokenizer).

    Short strings are length-prefixed, which a regex can only express as one
    alternative per length; the common lengths come first because `re` tries
    alternatives in order.
    """
    order = list(range(1, 48)) + [0] + list(range(48, 256))
    short = b"(?:" + b"|".join(re.escape(bytes([n])) + (b".{%d}" % n if n else b"") for n in order) + b")"
    one = (
        rb"(?:\x8c" + short + rb"\x94?|K.|M..|J....|\x94|[CU]" + short
        + rb"|G.{8}|[N\x88\x89(ue}\])\x85\x86\x87\x8f\x90\x91\x30\x31\x32sald]|[hq].|[jr]....|\x95.{8})"
    )
    return re.compile(one + rb"+", re.DOTALL)


_DATA_RUN = _data_op_regex()
# A short string or bytes payload that could be a nested pickle (raw, base64 or hex).
_NESTED_HINT = re.compile(rb"[\x8cCU][\x11-\xff](?:\x80[\x02-\x05]|gA|800[2-5])")
_FAST_MIN = 256 * 1024
_MAX_OP = 260
_MATCH_WINDOW = 64 * 1024


def fast_data_only(fh: BinaryIO, start: int, end: int) -> WalkResult | None:
    """Prove at C speed that one pickle holds only data (no import, call, build or
    nested-pickle hint), seeking over large payloads. None means "not proven":
    the caller must walk the pickle opcode by opcode."""
    r = WalkResult(pickles=1)
    fh.seek(start)
    head = fh.read(2)
    if len(head) < 2 or head[0] != PROTO:
        return None
    r.protocol = head[1]
    pos = start + 2
    buf = b""
    base = pos
    while True:
        i = pos - base
        if len(buf) - i < 2 * _MAX_OP and base + len(buf) < end:
            fh.seek(pos)
            buf = fh.read(min(CHUNK, end - pos))
            base, i = pos, 0
        if i >= len(buf):
            return None
        at_eof = base + len(buf) >= end
        limit = len(buf) if at_eof else len(buf) - _MAX_OP
        stop = max(i, limit)
        # `re` keeps state for every repetition of a match: one match over megabytes of
        # one-byte opcodes costs ~50x their size in memory. Windows keep it to a few MB.
        cut = stop - i > _MATCH_WINDOW
        if cut:
            stop = i + _MATCH_WINDOW
        m = _DATA_RUN.match(buf, i, stop)
        if m and m.end() > i:
            if _NESTED_HINT.search(buf, i, m.end()):
                return None
            pos = base + m.end()
            if (cut or not at_eof) and m.end() >= stop - _MAX_OP:
                continue  # the run may go on past the window: refill and resume
            i = m.end()
        op = buf[i]
        if op == STOP:
            r.end = base + i + 1
            r.spans.append((start, r.end))
            r.complete = True
            r.data_only_proof = True
            return r
        width = _STR_OPS.get(op) or _BYTES_OPS.get(op)
        if width is None or op in (SHORT_BINUNICODE, SHORT_BINSTRING, SHORT_BINBYTES) or i + 1 + width > len(buf):
            return None
        (n,) = struct.unpack_from(_LEN_FMT[width], buf, i + 1)
        payload = base + i + 1 + width
        if payload + n > end:
            return None
        fh.seek(payload)
        peek = fh.read(min(n, 8))
        if peek[:1] == b"\x80" or peek[:2] == b"gA" or peek[:3] == b"800":
            return None
        if n >= BIG:
            r.elided.append((base + i, 1 + width + n, _placeholder(op in _STR_OPS, n)))
        pos = payload + n
        buf, base = b"", pos


def walk(fh: BinaryIO, start: int, end: int, max_opcodes: int, legacy_torch: bool = False) -> WalkResult:
    """Walk every pickle stacked in fh[start:end]: the C-speed proof of a data-only
    pickle when it applies, else the opcode-by-opcode walk."""
    if end - start >= _FAST_MIN and not legacy_torch:
        fast = fast_data_only(fh, start, end)
        if fast is not None and fast.end == end:
            return fast
    return Walker(fh, start, end, max_opcodes).walk_stream(legacy_torch=legacy_torch)
