"""Text arguments (protocol 0) read the way each unpickler reads them.

CPython has two unpicklers and they disagree on text: `pickle.load` (the C
module `_pickle`) parses INT with C's `strtol` (base 0, so `017` is octal and a
NUL byte ends the number) and falls back to `PyLong_FromString` on a C string;
the pure-Python `pickle._Unpickler` (joblib, dill) calls `int(data, 0)` and
`float(data)`, and takes a last line without its newline at the end of the
file. Each function returns the value, or None where that unpickler raises.
`raw` is the line as read, with its newline when it has one.
"""

from __future__ import annotations

import codecs
import warnings

_C_SPACE = b" \t\n\v\f\r"
_DIGITS = {8: b"01234567", 10: b"0123456789", 16: b"0123456789abcdefABCDEF"}
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1


def _cstring(raw: bytes) -> bytes:
    """What C string functions see: everything up to the first NUL byte."""
    nul = raw.find(b"\0")
    return raw if nul < 0 else raw[:nul]


def _int(text: bytes, base: int) -> int | None:
    """PyLong_FromString on the whole of `text` (int() on bytes is that function)."""
    try:
        return int(text, base)
    except ValueError:
        return None


def _strtol(s: bytes) -> tuple[int, int, bool]:
    """glibc strtol(s, &end, 0): (value, index of end, overflowed)."""
    i, n = 0, len(s)
    while i < n and s[i] in _C_SPACE:
        i += 1
    negative = False
    if i < n and s[i] in b"+-":
        negative = s[i] == 0x2D
        i += 1
    base = 10
    if i < n and s[i] == 0x30:
        if i + 2 < n and s[i + 1] in b"xX" and s[i + 2] in _DIGITS[16]:
            base, i = 16, i + 2
        else:
            base = 8
    start = i
    digits = _DIGITS[base]
    while i < n and s[i] in digits:
        i += 1
    if i == start:
        return 0, 0, False  # no conversion: end points at the start of the string
    digits_text = s[start:i].lstrip(b"0") or b"0"
    if len(digits_text) > 22:  # beyond any 64-bit value in every base
        return 0, i, True
    value = int(digits_text, base)
    value = -value if negative else value
    return value, i, not _LONG_MIN <= value <= _LONG_MAX


def c_int(raw: bytes) -> int | None:
    """_pickle.c load_int (a bool for 0/1 spelled in two characters)."""
    if len(raw) < 2:
        return None
    s = _cstring(raw)
    value, end, overflow = _strtol(s)
    if overflow or (end < len(s) and s[end] != 0x0A):
        return _int(s, 0)
    if len(raw) == 3 and value in (0, 1):
        return bool(value)
    return value


def p_int(raw: bytes) -> int | None:
    if raw == b"00\n":
        return False
    if raw == b"01\n":
        return True
    return _int(raw, 0)


def c_long(raw: bytes) -> int | None:
    if len(raw) < 2:
        return None
    if raw[-2:-1] == b"L":
        raw = raw[:-2]
    return _int(_cstring(raw), 0)


def p_long(raw: bytes) -> int | None:
    val = raw[:-1]
    if val[-1:] == b"L":
        val = val[:-1]
    return _int(val, 0)


def c_float(raw: bytes) -> float | None:
    """PyOS_string_to_double with OverflowError: no surrounding spaces, no underscores,
    no overflow to infinity; the number must end at the newline or a NUL."""
    if len(raw) < 2:
        return None
    s = _cstring(raw)
    if s.endswith(b"\n"):
        s = s[:-1]
    if not s or s[:1] in _C_SPACE or s[-1:] in _C_SPACE or b"_" in s:
        return None
    try:
        value = float(s)
    except ValueError:
        return None
    if value in (float("inf"), float("-inf")) and b"inf" not in s.lower():
        return None  # overflow
    return value


def p_float(raw: bytes) -> float | None:
    try:
        return float(raw[:-1])
    except ValueError:
        return None


def c_memo_key(raw: bytes) -> int | None:
    """GET/PUT: PyLong_FromString(s, NULL, 10) on the C string."""
    if len(raw) < 2:
        return None
    return _int(_cstring(raw), 10)


def p_memo_key(raw: bytes) -> int | None:
    return _int(raw[:-1], 10)


def string_literal(content: bytes) -> bytes | None:
    """STRING: a quoted Python 2 literal, unescaped (both unpicklers use the same decoder)."""
    if len(content) >= 2 and content[:1] == content[-1:] and content[:1] in (b"'", b'"'):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return codecs.escape_decode(content[1:-1])[0]
        except ValueError:
            return None
    return None


def raw_unicode(content: bytes) -> str | None:
    """UNICODE: raw-unicode-escape, as both unpicklers decode it."""
    try:
        return codecs.decode(content, "raw_unicode_escape")
    except UnicodeDecodeError:
        return None


def text(content: bytes, encoding: str) -> str | None:
    try:
        return content.decode(encoding)
    except UnicodeDecodeError:
        return None
