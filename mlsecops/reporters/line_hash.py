"""`primaryLocationLineHash` exactly as github/codeql-action's upload-sarif computes it.

upload-sarif (`src/fingerprints.ts`) reads every file a result with a `region.startLine`
points at, hashes it, and warns for each result whose own `primaryLocationLineHash`
differs. Its hash, ported here: the file is decoded as UTF-8 (invalid bytes become U+FFFD)
and walked in UTF-16 code units; spaces and tabs are skipped, CR and CRLF become LF; an
end marker (65535) follows the last unit. The hash of a line is the polynomial
`sum(c[j] * 37**(99-j)) mod 2**64` over the 100 units that start at the line's first
kept unit (zeros past the end), printed as unsigned hex, then `:n` where n counts how
often that value occurred on this line and the lines before it. The end marker opens one
more line, as in upload-sarif. Verified against codeql-action's own module
(tests/data/codeql_line_hashes.json, benchmarks/upload_sarif.py).

Only small text files are worth hashing: upload-sarif reads the whole file to hash one
line, so a result in a large or binary file gets no line at all (see reporters/sarif.py).
"""

from __future__ import annotations

import os
import stat
from functools import cache
from pathlib import Path

BLOCK_SIZE = 100
_MOD = 37
_EOF = 65535
_SPACE, _TAB, _LF, _CR = 32, 9, 10, 13
_ROWS = 8192  # lines hashed per numpy batch: bounds memory to _ROWS * BLOCK_SIZE * 8 bytes


@cache
def _powers() -> list[int]:
    return [pow(_MOD, BLOCK_SIZE - 1 - j, 1 << 64) for j in range(BLOCK_SIZE)]


def line_hashes(data: bytes) -> list[str]:
    """`<hex>:<occurrence>` for every line of `data`, as upload-sarif numbers them (index 0 is line 1)."""
    import numpy as np  # only when a text file has a finding: the CLI starts faster without it

    powers = np.array(_powers(), dtype=np.uint64)
    units = np.frombuffer(data.decode("utf-8", errors="replace").encode("utf-16-le"), dtype="<u2")
    after_cr = np.zeros(len(units), dtype=bool)
    after_cr[1:] = units[:-1] == _CR
    kept = units[~((units == _SPACE) | (units == _TAB) | ((units == _LF) & after_cr))]
    kept = np.where(kept == _CR, _LF, kept).astype(np.uint16)
    stream = np.concatenate([kept, np.array([_EOF], dtype=np.uint16), np.zeros(BLOCK_SIZE, dtype=np.uint16)])
    real = len(kept) + 1  # the units that were read, the end marker included
    starts = np.flatnonzero(np.concatenate([[True], stream[: real - 1] == _LF]))
    window = np.arange(BLOCK_SIZE)
    values: list[int] = []
    for i in range(0, len(starts), _ROWS):
        block = stream[starts[i : i + _ROWS, None] + window].astype(np.uint64)
        with np.errstate(over="ignore"):
            values.extend((block * powers).sum(axis=1, dtype=np.uint64).tolist())
    seen: dict[int, int] = {}
    out = []
    for value in values:
        seen[value] = seen.get(value, 0) + 1
        out.append(f"{value:x}:{seen[value]}")
    return out


def read_text(path: Path, limit: int) -> bytes | None:
    """The bytes of a regular UTF-8 text file of at most `limit` bytes; None for anything else
    (missing, a link, a FIFO or device, too large, binary, unreadable). Links are not followed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = fh.read(limit + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) > limit or b"\0" in data:
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None  # not text: a pickle, weights, an archive
    return data
