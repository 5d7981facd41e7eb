"""Is this the start of a pickle? Text pickles have no magic number, and the
unpickler needs none: it runs whatever opcodes it finds from the first byte.

A pickle written with protocol 2+ starts with PROTO (0x80). Older protocols, and
hand-made exploits, start with any opcode, often a printable one.
`looks_like_pickle` decides on the first few KiB by structure: the head must
parse as opcodes up to STOP, or far enough to import a global with
identifier-like names, the part that makes a pickle dangerous.

`would_run` is the loader's view, for everything the head check lets through:
a stream that starts with a binary opcode and no PROTO (`\\x8c`, a FRAME, PROTO 0
or 1), whose first argument is longer than the head, or that is also a GGUF,
safetensors or tar header (polyglots). It walks the stream from byte 0 with
the opcode walker, bounded, and says whether an unpickler reading this file
would call or mutate something it imported, or whether the stream is still a
valid pickle after the whole budget. Nothing is imported or run.
"""

from __future__ import annotations

import io
import pickletools
import re
from collections.abc import Callable
from typing import BinaryIO

_OPENERS = set(b"(c]})ILFSVNiKJMXUTGdlt")
_IDENT = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")
SNIFF_OPCODES = 200_000
SNIFF_BYTES = 16 * 1024 * 1024  # the most a sniff reads (it runs in the gate process, unlimited)
SNIFF_FIRST_READ = 64 * 1024
_TEXT_OPS = ("GLOBAL", "INST")
_RUNS_ISSUES = ("dynamic-global", "ext-opcode", "build-on-global")


def looks_like_pickle(head: bytes) -> bool:
    """A complete pickle in the head: printable opening, opcodes up to STOP, GLOBAL and INST
    names that are identifiers. Anything less is for `would_run` to decide: a text file
    that merely starts like a pickle (a word list beginning `cat`) must import *and call*
    something before it counts, or it would be a false alarm on every such file."""
    if not head or head[0] not in _OPENERS:
        return False
    count = 0
    try:
        for op, arg, _pos in pickletools.genops(io.BytesIO(head)):
            count += 1
            if op.name in ("GLOBAL", "INST"):
                parts = str(arg).split(" ")
                if len(parts) != 2 or not all(_IDENT.match(p) for p in parts):
                    return False
            if op.name == "STOP":
                return count >= 2
    except (ValueError, UnicodeDecodeError, OverflowError, struct_error()):
        return False
    return False


def would_run(fh: BinaryIO, size: int, max_opcodes: int = SNIFF_OPCODES,
              dangerous_import: Callable[[str, str], bool] | None = None) -> bool:
    """Would unpickling this stream from its first byte call or mutate an import?

    True as well when the stream is still a well-formed pickle after
    `max_opcodes` opcodes or `SNIFF_BYTES` bytes (the call may come later;
    the full walk in a worker decides).
    Text GLOBAL/INST names must look like identifiers, so a word list that
    happens to start with `c` is not a pickle.
    """
    from mlsecops.formats.pickle_walk import VALID, Walker

    if size < 2:
        return False
    fh.seek(0)
    first = fh.read(1)
    if not first or first[0] not in VALID:
        return False
    cap = min(size, SNIFF_BYTES)
    walk = Walker(fh, 0, cap, max_opcodes, first_read=SNIFF_FIRST_READ).walk_stream_one()
    if any(i.kind == "opcode-limit" for i in walk.issues):
        return True
    if cap < size and any(i.kind == "truncated" for i in walk.issues):
        return True  # well-formed up to where the sniff stopped reading
    if any(i.kind in _RUNS_ISSUES for i in walk.issues):
        return True
    # CPython's unpickler checks INST's MARK before it imports: a text file that
    # starts with `i` and two identifier lines is not a pickle that runs.
    no_mark = any(i.detail == "INST without MARK" for i in walk.issues)
    for n, ref in enumerate(walk.globals):
        if ref.opcode in _TEXT_OPS and not (_IDENT.match(ref.module) and _IDENT.match(ref.name)):
            continue
        if ref.opcode == "INST" and no_mark and n == len(walk.globals) - 1:
            continue
        if ref.called:
            return True
        if dangerous_import is not None and dangerous_import(ref.module, ref.name):
            return True  # importing it is the harm, call or not (a stream broken after the import)
    return False


def struct_error() -> type[Exception]:
    import struct

    return struct.error
