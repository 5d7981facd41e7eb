"""Inputs for the differential test of reporters/line_hash.py against codeql-action's own hash:
generated from seeds, so only the expected hashes are stored (tests/data/codeql_line_hashes.json)."""

from __future__ import annotations

import random

# Pieces that stress what the hash normalises: blanks, CR/LF/CRLF, multi-byte and astral
# characters (UTF-16 surrogate pairs), invalid UTF-8 (U+FFFD), a BOM, NUL, the end marker U+FFFF.
_PIECES = [b"a", b"b", b" ", b"\t", b"\n", b"\r", b"\r\n", b"xyz", "\u00e9".encode(), "\U0001f600".encode(),
           b"\xff", b"\xed\xa0\x80", b"\xe2\x82", b"\xef\xbb\xbf", b"==", b"\x00", "\uffff".encode(), b"requests==2.0\n"]


def cases() -> dict[str, bytes]:
    rng = random.Random(20261207)
    out: dict[str, bytes] = {
        "empty": b"",
        "one-line-no-newline": b"requests==2.31.0",
        "requirements": b"# pinned\nrequests==2.31.0\njinja2==2.10 ; python_version < '3.12'\n\n\ttorch==2.13.0\r\n",
        "repeated-lines": b"same\n" * 300,
        "blank-lines": b"\n" * 250,
        "crlf-only": b"\r\n" * 120,
        "cr-only": b"x\r" * 120,
        # a 3-byte character split across the 64 KiB chunks the uploader reads the file in
        "chunk-boundary-3": b"a" * 65535 + "\u20ac".encode() + b"\nb\n",
        "chunk-boundary-4": b"a" * 65534 + "\U0001f600".encode() + b"\nb\n",
        "chunk-boundary-invalid": b"a" * 65535 + b"\xe2\x82\nb\n",
    }
    for i in range(60):
        n = rng.choice([1, 5, 50, 99, 100, 101, 250, 2000, 20000])
        out[f"pieces-{i}"] = b"".join(rng.choice(_PIECES) for _ in range(n))
    for i in range(20):
        out[f"bytes-{i}"] = bytes(rng.randrange(256) for _ in range(rng.choice([10, 300, 5000])))
    return out
