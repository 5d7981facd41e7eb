"""The pickle opcodes, taken from the standard library's own table (`pickletools.opcodes`).

Nothing here is typed in by hand: the byte of each opcode and the shape of its
argument (fixed size, newline-terminated text, or a counted payload) come from
pickletools, which documents what `pickle` itself reads. The walker, the fast
path and the tests all use these names.
"""

from __future__ import annotations

import pickletools
from dataclasses import dataclass

# pickletools' ArgumentDescriptor.n: > 0 fixed size; these negative markers otherwise.
_UP_TO_NEWLINE = pickletools.UP_TO_NEWLINE
_COUNTED = {
    pickletools.TAKEN_FROM_ARGUMENT1: 1,
    pickletools.TAKEN_FROM_ARGUMENT4: 4,
    pickletools.TAKEN_FROM_ARGUMENT4U: 4,
    pickletools.TAKEN_FROM_ARGUMENT8U: 8,
}


@dataclass(frozen=True)
class OpInfo:
    """One opcode: its byte, its name and how its argument is laid out."""

    code: int
    name: str
    fixed: int = 0    # bytes of a fixed-size argument
    lines: int = 0    # newline-terminated text arguments (GLOBAL and INST have two)
    counted: int = 0  # width of the little-endian length before a counted payload


def _info(op: pickletools.OpcodeInfo) -> OpInfo:
    code = op.code.encode("latin-1")[0]
    arg = op.arg
    if arg is None:
        return OpInfo(code, op.name)
    if arg.n == _UP_TO_NEWLINE:
        return OpInfo(code, op.name, lines=2 if arg.name.endswith("_pair") else 1)
    if arg.n in _COUNTED:
        return OpInfo(code, op.name, counted=_COUNTED[arg.n])
    return OpInfo(code, op.name, fixed=arg.n)


OPCODES: dict[int, OpInfo] = {info.code: info for info in map(_info, pickletools.opcodes)}
CODE: dict[str, int] = {info.name: info.code for info in OPCODES.values()}
VALID = frozenset(OPCODES)
HIGHEST_PROTOCOL = max(pickletools.opcodes, key=lambda o: o.proto).proto

(MARK, STOP, POP, POP_MARK, DUP, FLOAT, INT, BININT, BININT1, LONG, BININT2, NONE, PERSID, BINPERSID, REDUCE,
 STRING, BINSTRING, SHORT_BINSTRING, UNICODE, BINUNICODE, APPEND, BUILD, GLOBAL, DICT, EMPTY_DICT, APPENDS, GET,
 BINGET, INST, LONG_BINGET, LIST, EMPTY_LIST, OBJ, PUT, BINPUT, LONG_BINPUT, SETITEM, TUPLE, EMPTY_TUPLE,
 SETITEMS, BINFLOAT, PROTO, NEWOBJ, EXT1, EXT2, EXT4, TUPLE1, TUPLE2, TUPLE3, NEWTRUE, NEWFALSE, LONG1, LONG4,
 BINBYTES, SHORT_BINBYTES, SHORT_BINUNICODE, BINUNICODE8, BINBYTES8, EMPTY_SET, ADDITEMS, FROZENSET, NEWOBJ_EX,
 STACK_GLOBAL, MEMOIZE, FRAME, BYTEARRAY8, NEXT_BUFFER, READONLY_BUFFER) = (CODE[n] for n in (
    "MARK", "STOP", "POP", "POP_MARK", "DUP", "FLOAT", "INT", "BININT", "BININT1", "LONG", "BININT2", "NONE",
    "PERSID", "BINPERSID", "REDUCE", "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "APPEND",
    "BUILD", "GLOBAL", "DICT", "EMPTY_DICT", "APPENDS", "GET", "BINGET", "INST", "LONG_BINGET", "LIST", "EMPTY_LIST",
    "OBJ", "PUT", "BINPUT", "LONG_BINPUT", "SETITEM", "TUPLE", "EMPTY_TUPLE", "SETITEMS", "BINFLOAT", "PROTO",
    "NEWOBJ", "EXT1", "EXT2", "EXT4", "TUPLE1", "TUPLE2", "TUPLE3", "NEWTRUE", "NEWFALSE", "LONG1", "LONG4",
    "BINBYTES", "SHORT_BINBYTES", "SHORT_BINUNICODE", "BINUNICODE8", "BINBYTES8", "EMPTY_SET", "ADDITEMS",
    "FROZENSET", "NEWOBJ_EX", "STACK_GLOBAL", "MEMOIZE", "FRAME", "BYTEARRAY8", "NEXT_BUFFER", "READONLY_BUFFER"))

# Counted payloads: opcode -> width of the length prefix.
COUNTED = {info.code: info.counted for info in OPCODES.values() if info.counted}
TEXT_PAYLOADS = frozenset({SHORT_BINUNICODE, BINUNICODE, BINUNICODE8, SHORT_BINSTRING, BINSTRING})
