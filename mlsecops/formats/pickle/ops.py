"""Every opcode as CPython's unpicklers execute it: the reference semantics of the walk.

Each handler takes (machine, opcode, offset, is-first-opcode), reads its argument
through the machine (which applies each reader's rules for frames and the end of
the stream), checks what each reader checks, and returns True at STOP. Where the
C and the pure-Python unpickler differ, the handler removes the reader that would
raise (`Machine.kill`); where the outcome depends on what a symbolic value is at
run time, it goes on and says so (`Machine.assume`). hotloop.py inlines the
common cases of the common opcodes; the differential tests hold both to CPython.
"""

from __future__ import annotations

import struct

from mlsecops.formats.pickle import joblib_arrays, nested, numpy_values, resolve, textargs
from mlsecops.formats.pickle.opcodes import (
    BINBYTES, BINBYTES8, BINFLOAT, BINGET, BININT, BININT1, BININT2, BINPERSID, BINPUT, BINSTRING, BINUNICODE,
    BINUNICODE8, BUILD, BYTEARRAY8, DICT, DUP, EMPTY_DICT, EMPTY_LIST, EMPTY_SET, EMPTY_TUPLE, EXT1, EXT2, EXT4, FLOAT,
    FRAME, FROZENSET, GET, GLOBAL, HIGHEST_PROTOCOL, INST, INT, LIST, LONG, LONG1, LONG4, LONG_BINGET, LONG_BINPUT,
    MARK, MEMOIZE, NEWFALSE, NEWOBJ, NEWOBJ_EX, NEWTRUE, NEXT_BUFFER, NONE, OBJ, OPCODES, PERSID, POP, POP_MARK,
    PROTO, PUT, READONLY_BUFFER, REDUCE, SETITEM, SETITEMS, SHORT_BINBYTES, SHORT_BINSTRING, SHORT_BINUNICODE,
    STACK_GLOBAL, STOP, STRING, TUPLE, TUPLE1, TUPLE2, TUPLE3, UNICODE, APPEND, APPENDS, ADDITEMS,
)
from mlsecops.formats.pickle.results import Issue
from mlsecops.formats.pickle.values import (
    HUGE_INT, NOT_ITERABLE_TYPES, BigText, BigTuple, Blob, ByteArr, Dct, Global, Lst, MemView, Obj, Py2Str, St,
    Unknown, describe, is_symbolic, truthy,
)
from mlsecops.formats.pickle.vm import (
    _MAXSIZE, _SSIZE_MAX, BARE, BYTES, C, HUGE_LONG, P, STR, Blind, Machine,
)


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
    if ex:
        # Engines see POP + NEWOBJ: fickling cannot parse NEWOBJ_EX with keywords (its AST wants a list of
        # keywords, not a dict), which protocol 4 writes for every __getnewargs_ex__ (scipy's result tuples).
        m.r.elided.append((off, 1, b"0\x81"))
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
        m.record_state(inst, state)
        if numpy_values.is_numpy_dtype(inst):
            m.assume()  # numpy checks a dtype's state here; the walker does when joblib sizes an array
        elif joblib_arrays.wrapper_kind(inst) != "no":
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
    loaded = resolve.persistent_value(pid, m.persistent)
    m.stack.append(Obj(None, pid, "persistent", "persid") if loaded is resolve.NOT_KNOWN else loaded)


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
    fits = n <= _SSIZE_MAX and m.win.reaches(start + n)
    if not fits:
        m.kill(C, "a FRAME longer than the rest of the stream")
    if n > _MAXSIZE:
        m.kill(P, "a FRAME longer than sys.maxsize")
    # The pure-Python unpickler reads what there is: its frame ends where the stream does.
    m.frame_end = start + n if fits or m.win.end is None else min(start + n, m.win.end)


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


HANDLERS = {
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
assert set(HANDLERS) == set(OPCODES), "every opcode pickletools lists has a handler"
