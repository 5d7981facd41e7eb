"""The walker's hot loop: the common opcodes, inlined, with the buffer and stack in locals.

This runs once per opcode and dominates the cost of scanning data-heavy pickles.
It implements only the easy case of each opcode it knows; anything unusual (an
empty stack, a container of another type, the end of the buffer or of a
FRAME, a special import being tracked) goes to `Machine.step`, which
re-executes the opcode from its start with every check. The two must agree:
the differential tests run both against CPython.
"""

from __future__ import annotations

from struct import unpack_from

from mlsecops.formats.pickle import nested
from mlsecops.formats.pickle.opcodes import (
    APPEND, APPENDS, BINFLOAT, BINGET, BININT, BININT1, BININT2, BINPUT, DICT, DUP, EMPTY_DICT, EMPTY_LIST, EMPTY_SET,
    EMPTY_TUPLE, FROZENSET, LIST, LONG_BINGET, LONG_BINPUT, MARK, MEMOIZE, NEWFALSE, NEWTRUE, NONE, POP, SETITEM,
    SETITEMS, SHORT_BINBYTES, SHORT_BINSTRING, SHORT_BINUNICODE, TUPLE, TUPLE1, TUPLE2, TUPLE3, ADDITEMS,
)
from mlsecops.formats.pickle.values import SMALL, BigTuple, Dct, FSet, Lst, Py2Str, St, unhashable
from mlsecops.formats.pickle.vm import BARE, Machine

_MISSING = object()
_HASHABLE = frozenset({str, int, bool, float, bytes, Py2Str, type(None)})
_SUSPECT_FIRST = frozenset(b"\x80g8")
_MARGIN = 9  # the longest fixed-size argument (BINFLOAT) plus its opcode
_CONSTANTS = {NONE: None, NEWTRUE: True, NEWFALSE: False}


def _keys_ok(items: list[object], step: int) -> bool:
    for k in range(0, len(items), step):
        key = items[k]
        if type(key) not in _HASHABLE and unhashable(key):
            return False
    return True


def run(m: Machine) -> None:
    """Walk one pickle to its STOP (raises Die or Blind where the vm says so)."""
    win = m.win
    budget = m.budget
    r = m.r
    cap = m.opts.memo_max
    while True:
        buf, i = win.buf, win.i
        avail = len(buf)
        fe = m.frame_end
        if fe is not None and fe - win.base < avail:
            avail = fe - win.base
        limit = avail - _MARGIN
        if i >= limit or m.careful or m.memo_lost or budget.left <= 0:
            if m.step():
                return
            continue
        stack, metastack, memo = m.stack, m.metastack, m.memo
        push = stack.append
        # Every opcode takes at least a byte: stopping `budget.left` bytes on bounds the count too.
        if limit - i > budget.left:
            limit = i + budget.left
        start = i
        ops = 0
        while i < limit:
            op = buf[i]
            if op == SHORT_BINUNICODE:
                n = buf[i + 1]
                j = i + 2 + n
                if j > avail:
                    break
                try:
                    v: object = buf[i + 2 : j].decode("utf-8", "surrogatepass")
                except UnicodeDecodeError:
                    break
                push(v)
                if n > 16 and buf[i + 2] in _SUSPECT_FIRST and nested.suspect(buf[i + 2 : i + 10]):
                    m.candidate(win.base + i, v, True)
                i = j
            elif op == MEMOIZE:
                if not stack or len(memo) >= cap:
                    break
                memo[len(memo)] = stack[-1]
                i += 1
            elif op == BININT1:
                push(buf[i + 1])
                i += 2
            elif op == BINGET:
                v = memo.get(buf[i + 1], _MISSING)
                if v is _MISSING:
                    break
                push(v)
                i += 2
            elif op == SHORT_BINSTRING or op == SHORT_BINBYTES:
                n = buf[i + 1]
                j = i + 2 + n
                if j > avail:
                    break
                if op == SHORT_BINSTRING:
                    v = Py2Str(buf[i + 2 : j])
                    if not v.isascii() and m.alive & BARE:
                        break
                else:
                    v = buf[i + 2 : j]
                push(v)
                if n > 16 and buf[i + 2] in _SUSPECT_FIRST and nested.suspect(buf[i + 2 : i + 10]):
                    m.candidate(win.base + i, v, op != SHORT_BINBYTES)
                i = j
            elif op == BINPUT:
                if not stack or len(memo) >= cap:
                    break
                memo[buf[i + 1]] = stack[-1]
                i += 2
            elif op == BININT2:
                push(buf[i + 1] | buf[i + 2] << 8)
                i += 3
            elif op == BININT:
                push(int.from_bytes(buf[i + 1 : i + 5], "little", signed=True))
                i += 5
            elif op == MARK:
                metastack.append(stack)
                stack = []
                push = stack.append
                i += 1
            elif op == SETITEMS or op == APPENDS or op == ADDITEMS:
                if not metastack or not metastack[-1]:
                    break
                target = metastack[-1][-1]
                t = type(target)
                if op == SETITEMS:
                    if t is not Dct or len(stack) % 2 or not _keys_ok(stack, 2):
                        break
                    if len(target) >= SMALL:
                        target.count += len(stack) // 2
                    else:
                        for k in range(0, len(stack), 2):
                            target.put(stack[k], stack[k + 1])
                elif op == APPENDS:
                    if t is not Lst:
                        break
                    target.n += len(stack)
                else:
                    if t is not St or not _keys_ok(stack, 1):
                        break
                    target.n += len(stack)
                stack = metastack.pop()
                push = stack.append
                i += 1
            elif op == EMPTY_DICT:
                push(Dct())
                i += 1
            elif op == EMPTY_LIST:
                push(Lst())
                i += 1
            elif op == EMPTY_TUPLE:
                push(())
                i += 1
            elif op == EMPTY_SET:
                push(St())
                i += 1
            elif op == TUPLE1 or op == TUPLE2 or op == TUPLE3:
                n = op - TUPLE1 + 1
                if len(stack) < n:
                    break
                t3 = tuple(stack[-n:])
                del stack[-n:]
                push(t3)
                i += 1
            elif op == APPEND:
                if len(stack) < 2 or type(stack[-2]) is not Lst:
                    break
                stack.pop()
                stack[-1].n += 1
                i += 1
            elif op == SETITEM:
                if len(stack) < 3 or type(stack[-3]) is not Dct:
                    break
                key = stack[-2]
                if type(key) not in _HASHABLE and unhashable(key):
                    break
                stack[-3].put(key, stack[-1])
                del stack[-2:]
                i += 1
            elif op == LONG_BINPUT:
                if not stack or len(memo) >= cap:
                    break
                idx = int.from_bytes(buf[i + 1 : i + 5], "little")
                if idx >= 1 << 24:
                    break  # the vm notes what such an index costs the C unpickler
                memo[idx] = stack[-1]
                i += 5
            elif op == LONG_BINGET:
                v = memo.get(int.from_bytes(buf[i + 1 : i + 5], "little"), _MISSING)
                if v is _MISSING:
                    break
                push(v)
                i += 5
            elif op == NONE or op == NEWTRUE or op == NEWFALSE:
                push(_CONSTANTS[op])
                i += 1
            elif op == BINFLOAT:
                push(unpack_from(">d", buf, i + 1)[0])
                i += 9
            elif op == POP:
                if stack:
                    stack.pop()
                elif metastack:
                    stack = metastack.pop()
                    push = stack.append
                else:
                    break
                i += 1
            elif op == DUP:
                if not stack:
                    break
                push(stack[-1])
                i += 1
            elif op == TUPLE or op == LIST or op == DICT or op == FROZENSET:
                if not metastack:
                    break
                if op == DICT:
                    if len(stack) % 2 or not _keys_ok(stack, 2):
                        break
                elif op == FROZENSET and not _keys_ok(stack, 1):
                    break
                items = stack
                stack = metastack.pop()
                push = stack.append
                if op == TUPLE:
                    push(tuple(items) if len(items) <= SMALL else BigTuple(len(items), _keys_ok(items, 1)))
                elif op == LIST:
                    push(Lst(len(items)))
                elif op == DICT:
                    d = Dct()
                    for k in range(0, len(items), 2):
                        d.put(items[k], items[k + 1])
                    push(d)
                else:
                    push(FSet(len(items)))
                i += 1
            else:
                break
            ops += 1
        win.i = i
        m.stack = stack
        budget.left -= ops
        r.opcodes += ops
        m.first = m.first and i == start
        if m.step():  # the opcode the loop left (or the budget's end): with every check
            return
