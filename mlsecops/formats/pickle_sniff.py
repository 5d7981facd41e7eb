"""Is this the start of a protocol 0/1 pickle? Text pickles have no magic number.

A pickle written with protocol 2+ starts with PROTO (0x80). Older protocols, and
hand-made exploits, start with any opcode, often a printable one. This decides by
structure: the head must parse as opcodes up to STOP, or far enough to import a
global with identifier-like names, the part that makes a pickle dangerous.
"""

from __future__ import annotations

import io
import pickletools
import re

_OPENERS = set(b"(c]})ILFSVNiKJMXUTGdlt")
_IDENT = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


def looks_like_pickle(head: bytes) -> bool:
    if not head or head[0] not in _OPENERS:
        return False
    count = 0
    saw_global = False
    try:
        for op, arg, _pos in pickletools.genops(io.BytesIO(head)):
            count += 1
            if op.name in ("GLOBAL", "INST"):
                parts = str(arg).split(" ")
                if len(parts) != 2 or not all(_IDENT.match(p) for p in parts):
                    return False
                saw_global = True
            if op.name == "STOP":
                return count >= 2 or saw_global
    except (ValueError, UnicodeDecodeError, OverflowError, struct_error()):
        return saw_global and count >= 2
    return count >= 8


def struct_error() -> type[Exception]:
    import struct

    return struct.error
