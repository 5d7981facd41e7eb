"""CPython's unpickler (Modules/_pickle.c): argument spellings it accepts that a re-implementation may not.

load_int: `strtol(s, &end, 0)` then, on failure, `PyLong_FromString(s, NULL, 0)`:
base 0 (hex, a leading-zero octal, 0b/0o), and the argument may end at a NUL
instead of the newline. load_long: `PyLong_FromString(s, NULL, 0)` after one
trailing L. load_float: `PyOS_string_to_double`, which also stops at a NUL.
Text arguments have no length limit. Each sample puts the odd spelling *before*
the call, so a walker that stops there never sees the call.
"""

from __future__ import annotations

from benchmarks.redteam.pickles import PROTO2, system_call
from benchmarks.redteam.sample import PROC_CMD, Sample

F = "pickle-spelling"
TEXT_CALL = b"cos\nsystem\n(S'" + PROC_CMD.encode() + b"'\ntR."
BIN_CALL = system_call() + b"."
BIG = 5 * 1024 * 1024  # above a 4 MiB line window


def _p(name: str, data: bytes) -> dict[str, bytes]:
    return {name: data}


SAMPLES = [
    Sample("int_hex_protocol0", F, "pickle.load", "process",
           "INT 0x1f: strtol with base 0 reads hex; int() does not. The call follows a POP (issue 12's example)",
           lambda: _p("model.pkl", b"I0x1f\n0" + TEXT_CALL), fast=True),
    Sample("int_hex_after_proto", F, "pickle.load", "process",
           "the same hex INT inside a protocol 2 pickle that is recognised by its magic",
           lambda: _p("model.pkl", PROTO2 + b"I0x1f\n0" + BIN_CALL)),
    Sample("int_leading_zero_octal", F, "pickle.load", "process",
           "INT 017 is octal 15 for strtol; Python's int() refuses leading zeros",
           lambda: _p("model.pkl", PROTO2 + b"I017\n0" + BIN_CALL)),
    Sample("int_binary_fallback", F, "pickle.load", "process",
           "INT 0b101: strtol stops at b, the PyLong_FromString fallback reads binary",
           lambda: _p("model.pkl", PROTO2 + b"I0b101\n0" + BIN_CALL)),
    Sample("int_nul_terminated", F, "pickle.load", "process",
           "INT 5<NUL>junk: strtol's end pointer at a NUL is accepted, the rest of the line ignored",
           lambda: _p("model.pkl", PROTO2 + b"I5\x00not a number\n0" + BIN_CALL), fast=True),
    Sample("long_hex_with_L", F, "pickle.load", "process",
           "LONG 0x1fL: one trailing L dropped, then base 0",
           lambda: _p("model.pkl", PROTO2 + b"L0x1fL\n0" + BIN_CALL)),
    Sample("float_nul_terminated", F, "pickle.load", "process",
           "FLOAT 1.5<NUL>junk: PyOS_string_to_double stops at the NUL, which load_float accepts",
           lambda: _p("model.pkl", PROTO2 + b"F1.5\x00junk\n0" + BIN_CALL)),
    Sample("unicode_line_5mib_protocol2", F, "pickle.load", "process",
           "a 5 MiB UNICODE text line before the call: no length limit in the unpickler",
           lambda: _p("model.pkl", PROTO2 + b"V" + b"A" * BIG + b"\n0" + BIN_CALL)),
    Sample("unicode_line_5mib_no_proto", F, "pickle.load", "process",
           "the same without PROTO: nothing in the first bytes says pickle, and the first line is huge",
           lambda: _p("model.pkl", b"V" + b"A" * BIG + b"\n0" + TEXT_CALL), fast=True),
    Sample("string_line_5mib", F, "pickle.load", "process",
           "a 5 MiB quoted STRING line before a protocol 0 call",
           lambda: _p("model.pkl", b"S'" + b"A" * BIG + b"'\n0" + TEXT_CALL)),
    Sample("long_hex_5mib", F, "pickle.load", "process",
           "a 5 MiB hexadecimal LONG before the call (powers of two are exempt from int's digit limit)",
           lambda: _p("model.pkl", b"L0x" + b"f" * BIG + b"\n0" + TEXT_CALL)),
]
