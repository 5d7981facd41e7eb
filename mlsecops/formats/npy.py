"""The header of a numpy `.npy` file, read by numpy's own code, as `numpy.load` reads it.

`numpy.lib.format.read_array`: the magic, a version numpy supports (1.0, 2.0, 3.0), the
header length (2 or 4 bytes), the header text (latin-1, or UTF-8 for 3.0), parsed with
`ast.literal_eval` (with Python 2 `L` suffixes filtered for versions up to 2.0), which
evaluates literals only and executes nothing, then `descr_to_dtype`. The payload is a
pickle exactly when `dtype.hasobject`: an object field anywhere in a structured, nested
or subarray dtype counts. With `allow_pickle=True` numpy puts no limit on the header
size; this reader stops at `max_header` and says so (the caller fails closed).
"""

from __future__ import annotations

import ast
import struct
import warnings
from dataclasses import dataclass
from typing import BinaryIO

MAGIC = b"\x93NUMPY"


@dataclass
class NpyHeader:
    version: tuple[int, int] | None = None
    data_offset: int = 0
    hasobject: bool = False
    descr: object = None
    corrupt: str | None = None      # numpy.load fails here, before reading any payload
    unreadable: str | None = None   # the header is valid, but the gate cannot tell what the payload is
    dtype_unknown: bool = False     # ... because this numpy cannot build its dtype


def read_header(fh: BinaryIO, size: int, max_header: int) -> NpyHeader:
    """What numpy makes of the header at the start of `fh` (never raises on content)."""
    from numpy.lib import format as npf

    out = NpyHeader()
    fh.seek(0)
    try:
        out.version = npf.read_magic(fh)
        npf._check_version(out.version)
    except (ValueError, EOFError) as exc:
        out.corrupt = str(exc)
        return out
    hlength_type, _ = npf._header_size_info[out.version]
    width = struct.calcsize(hlength_type)
    raw = fh.read(width)
    if len(raw) < width:
        out.corrupt = "the header length is cut off"
        return out
    (hlen,) = struct.unpack(hlength_type, raw)
    out.data_offset = npf.MAGIC_LEN + width + hlen
    if out.data_offset > size:
        out.corrupt = f"the header claims {hlen} bytes, past the end of the file"
        return out
    if hlen > max_header:
        out.unreadable = f"a header of {hlen} bytes, more than the {max_header} the gate reads"
        return out
    fh.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy warns about Python 2 headers
            _, _, dtype = npf._read_array_header(_Skip(fh, npf.MAGIC_LEN), out.version, max_header_size=max_header + 1)
    except Exception as exc:  # noqa: BLE001 - literal_eval and numpy's dtype constructor raise many types on hostile headers
        return _classify(fh, out, hlen, width, f"{type(exc).__name__}: {exc}")
    out.hasobject = bool(dtype.hasobject)
    return out


class _Skip:
    """`fh` positioned after the magic (numpy reads the header from there)."""

    def __init__(self, fh: BinaryIO, at: int) -> None:
        fh.seek(at)
        self.fh = fh

    def read(self, n: int) -> bytes:
        return self.fh.read(n)


def _classify(fh: BinaryIO, out: NpyHeader, hlen: int, width: int, why: str) -> NpyHeader:
    """numpy refused the header: a header numpy accepts up to the dtype, whose dtype this
    numpy cannot build, is unreadable (another numpy may build it and unpickle the payload);
    anything else is corrupt (numpy.load fails before the payload)."""
    from numpy.lib import format as npf

    fh.seek(len(MAGIC) + 2 + width)
    text = fh.read(hlen)
    encoding = npf._header_size_info[out.version][1]  # type: ignore[index]
    try:
        header = text.decode(encoding)
        try:
            d = ast.literal_eval(header)
        except SyntaxError:
            if out.version is None or out.version > (2, 0):
                raise
            d = ast.literal_eval(npf._filter_header(header))
    except Exception:  # noqa: BLE001 - same parse numpy just failed: it is corrupt
        out.corrupt = why
        return out
    ok = (isinstance(d, dict) and d.keys() == npf.EXPECTED_KEYS and isinstance(d["shape"], tuple)
          and all(isinstance(x, int) for x in d["shape"]) and isinstance(d["fortran_order"], bool))
    if not ok:
        out.corrupt = why
        return out
    out.descr = d["descr"]
    out.dtype_unknown = True
    out.unreadable = f"numpy cannot build the dtype {str(d['descr'])[:120]} ({why[:120]})"
    return out

