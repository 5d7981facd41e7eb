"""The fast path: prove at C speed that a large pickle only holds data, seeking over payloads.

A pickle without GLOBAL, STACK_GLOBAL, INST, EXT, PERSID or any call opcode
cannot import or run anything: every value in it is plain data. A regular
expression over the opcode stream (exact argument lengths, from the opcode
table) recognises runs of such opcodes; counted payloads are seeked over. The
answer is a proof or nothing: None sends the pickle to the opcode-by-opcode
walk. It proves the absence of imports and calls, not that the data would load.
"""

from __future__ import annotations

import re
import struct
from typing import BinaryIO

from mlsecops.formats.pickle import nested
from mlsecops.formats.pickle.opcodes import (
    APPEND, APPENDS, ADDITEMS, BINFLOAT, BINGET, BININT, BININT1, BININT2, BINPUT, COUNTED, DICT, DUP, EMPTY_DICT,
    EMPTY_LIST, EMPTY_SET, EMPTY_TUPLE, FRAME, FROZENSET, LIST, LONG_BINGET, LONG_BINPUT, MARK, MEMOIZE, NEWFALSE,
    NEWTRUE, NONE, POP, POP_MARK, PROTO, SETITEM, SETITEMS, SHORT_BINBYTES, SHORT_BINSTRING, SHORT_BINUNICODE, STOP,
    TEXT_PAYLOADS, TUPLE, TUPLE1, TUPLE2, TUPLE3,
)
from mlsecops.formats.pickle.reader import CHUNK
from mlsecops.formats.pickle.results import WalkResult

FAST_MIN = 256 * 1024  # smaller pickles are walked directly
_BIG = 1 << 20
_MAX_OP = 260
_MATCH_WINDOW = 64 * 1024
_LEN_FMT = {1: "<B", 4: "<I", 8: "<Q"}
_ONE_BYTE = (NONE, NEWTRUE, NEWFALSE, MARK, SETITEMS, APPENDS, EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE, TUPLE1, TUPLE2,
             TUPLE3, EMPTY_SET, ADDITEMS, FROZENSET, POP, POP_MARK, DUP, SETITEM, APPEND, LIST, DICT, TUPLE, MEMOIZE)
_FIXED = {BININT1: 1, BININT2: 2, BININT: 4, BINFLOAT: 8, BINGET: 1, BINPUT: 1, LONG_BINGET: 4, LONG_BINPUT: 4,
          FRAME: 8}


def _byte(code: int) -> bytes:
    return re.escape(bytes([code]))


def _data_op_regex() -> re.Pattern[bytes]:
    """One or more opcodes that can neither import, call, nor build anything.

    Short strings are length-prefixed, which a regex can only express as one
    alternative per length; the common lengths come first because `re` tries
    alternatives in order, and so do the common opcodes (a dict's keys are short
    strings, each followed by MEMOIZE; its values small ints).
    """
    order = list(range(1, 48)) + [0] + list(range(48, 256))
    short = b"(?:" + b"|".join(re.escape(bytes([n])) + (b".{%d}" % n if n else b"") for n in order) + b")"
    fixed = [_byte(c) + b".{%d}" % n for c, n in _FIXED.items()]
    single = b"[" + b"".join(_byte(c) for c in _ONE_BYTE) + b"]"
    alternatives = [_byte(SHORT_BINUNICODE) + short + _byte(MEMOIZE) + b"?", *fixed[:4], _byte(MEMOIZE),
                    b"[" + _byte(SHORT_BINBYTES) + _byte(SHORT_BINSTRING) + b"]" + short, single, *fixed[4:]]
    return re.compile(b"(?:" + b"|".join(alternatives) + b")+", re.DOTALL)


_DATA_RUN = _data_op_regex()
# A short string payload that could be a nested pickle (raw, base64 or hex).
_NESTED_HINT = re.compile(rb"[\x8cCU][\x11-\xff](?:\x80[\x02-\x05]|gA|800[2-5])")


def data_only(fh: BinaryIO, start: int, end: int | None) -> WalkResult | None:
    """A proof that the pickle at `start` holds plain data only, or None. It must end by
    `end`; with end=None (a stream decoded as it is read) wherever the stream ends."""
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
        if len(buf) - i < 2 * _MAX_OP and (end is None or base + len(buf) < end):
            fh.seek(pos)
            want = CHUNK if end is None else min(CHUNK, end - pos)
            buf = fh.read(want)
            base, i = pos, 0
            if end is None and 0 < len(buf) < want:
                end = pos + len(buf)  # a short read: the stream ends here
        if i >= len(buf):
            return None
        at_eof = end is not None and base + len(buf) >= end
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
        if i >= len(buf):
            return None  # the stream ends without a STOP
        op = buf[i]
        if op == STOP:
            r.end = base + i + 1
            r.spans.append((start, r.end))
            r.complete = True
            r.data_only_proof = True
            return r
        width = COUNTED.get(op)
        if width is None or width == 1 or i + 1 + width > len(buf):
            return None
        (n,) = struct.unpack_from(_LEN_FMT[width], buf, i + 1)
        payload = base + i + 1 + width
        if end is not None and payload + n > end:
            return None  # (in an open stream, the read after the payload finds out)
        fh.seek(payload)
        if nested.suspect(fh.read(min(n, 8))):
            return None
        if n >= _BIG:
            note = f"<{n} bytes elided by mlsecops>".encode()
            code = b"\x8c" if op in TEXT_PAYLOADS else b"C"
            r.elided.append((base + i, 1 + width + n, code + bytes([len(note)]) + note))
        pos = payload + n
        buf, base = b"", pos
