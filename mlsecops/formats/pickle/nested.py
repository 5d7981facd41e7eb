"""Pickles carried inside byte strings: raw, base64 or hex.

A loader does not unpickle these by itself; the application that later calls
`pickle.loads` on the decoded string does. The walker notes every string whose
first bytes could start a pickle (`suspect`, cheap, on the hot path) and
decodes the candidates once the walk is done (`decode`).
"""

from __future__ import annotations

import base64
import binascii
import re

NESTED_MAX = 64 << 20  # largest string decoded and walked as a nested pickle
_B64 = re.compile(rb"^[A-Za-z0-9+/=\s]+$")
_HEX = re.compile(rb"^(?:[0-9a-fA-F]{2})+$")
_PROTO_STARTS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
_TEXT_STARTS = (b"gA", b"8002", b"8003", b"8004", b"8005")


def suspect(head: bytes) -> bool:
    """Could a string starting with `head` be a pickle, raw or encoded?"""
    return head[:2] in _PROTO_STARTS or head.startswith(_TEXT_STARTS)


def is_raw_pickle(data: bytes) -> bool:
    return len(data) >= 4 and data[:2] in _PROTO_STARTS


def decode(data: bytes) -> tuple[str, bytes] | None:
    """(encoding, pickle bytes) when the string is a pickle, raw or encoded."""
    if is_raw_pickle(data):
        return "raw", data
    if len(data) >= 24 and data[:2] == b"gA" and _B64.match(data[:64]):
        try:
            raw = base64.b64decode(data, validate=False)
        except (binascii.Error, ValueError):
            return None
        return ("base64", raw) if is_raw_pickle(raw) else None
    if len(data) >= 24 and data.startswith(_TEXT_STARTS[1:]) and _HEX.match(data):
        raw = binascii.unhexlify(data)
        return ("hex", raw) if is_raw_pickle(raw) else None
    return None
