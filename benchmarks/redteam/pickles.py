"""Pickle opcodes for hand-assembled samples (the strings, globals and calls of mlsecops.fixtures, plus
the spellings CPython's unpickler accepts that a re-implementation may not)."""

from __future__ import annotations

import struct

from mlsecops.fixtures import b, call, glob2, glob4, i, s, s2  # noqa: F401 - re-exported for the families

from benchmarks.redteam.sample import PROC_ARGV, PROC_CMD

PROTO2, PROTO4 = b"\x80\x02", b"\x80\x04"
STOP, MARK, TUPLE, REDUCE, BUILD, POP, DUP = b".", b"(", b"t", b"R", b"b", b"0", b"2"
MEMOIZE, STACK_GLOBAL, EMPTY_DICT, SETITEMS, SETITEM, EMPTY_TUPLE = b"\x94", b"\x93", b"}", b"u", b"s", b")"
TUPLE1, TUPLE2, TUPLE3, NEWOBJ, NONE, NEWTRUE, NEWFALSE, EMPTY_LIST, APPEND = (
    b"\x85", b"\x86", b"\x87", b"\x81", b"N", b"\x88", b"\x89", b"]", b"a")


def binput(n: int) -> bytes:
    return b"q" + bytes([n]) if n < 256 else b"r" + struct.pack("<I", n)


def binget(n: int) -> bytes:
    return b"h" + bytes([n]) if n < 256 else b"j" + struct.pack("<I", n)


def frame(body: bytes) -> bytes:
    return b"\x95" + struct.pack("<Q", len(body)) + body


def text_str(value: str) -> bytes:
    """Protocol 0 STRING with a quoted literal."""
    return b"S" + repr(value).encode("ascii") + b"\n"


def system_call() -> bytes:
    """os.system(PROC_CMD) as protocol 4 opcodes (no PROTO, no STOP)."""
    return call(glob4("os", "system"), s(PROC_CMD))


def system_pickle() -> bytes:
    return PROTO4 + system_call() + STOP


def argv_tuple() -> bytes:
    return MARK + b"".join(s(a) for a in PROC_ARGV) + TUPLE


def exec_call(code: str) -> bytes:
    return call(glob4("builtins", "exec"), s(code))


def dict_state(items: dict[str, bytes]) -> bytes:
    """An EMPTY_DICT filled with string keys and already-encoded values."""
    return EMPTY_DICT + MARK + b"".join(s(k) + v for k, v in items.items()) + SETITEMS
