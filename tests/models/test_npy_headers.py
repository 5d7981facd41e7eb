"""`.npy` headers are judged as numpy judges them: every spelling of an object dtype numpy
accepts makes the payload a pickle; a dtype the gate's numpy cannot build fails closed."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest

from mlsecops import fixtures as fx
from tests.models.helpers import blocks, keys, rules, scan_bytes

EVIL = fx.malicious_pickle()


def npy(header: str, version: tuple[int, int] = (1, 0), payload: bytes = EVIL) -> bytes:
    text = header.encode("utf8" if version >= (3, 0) else "latin1")
    text += b" " * (63 - (len(text) + 12) % 64) + b"\n"
    width = "<H" if version == (1, 0) else "<I"
    return b"\x93NUMPY" + bytes(version) + struct.pack(width, len(text)) + text + payload


OBJECT_SPELLINGS = ["'object'", "'O'", "'|O'", "'<O'", "'O8'", "[('a', '<f8'), ('b', 'O')]",
                    "[('a', [('b', '|O')])]", "[(('title', 'a'), 'O')]", "('O', (2,))", "[('a', '<i4', (2,)), ('b', 'O', (3,))]"]


@pytest.mark.parametrize("descr", OBJECT_SPELLINGS)
def test_every_object_spelling_numpy_accepts_is_a_pickle(tmp_path: Path, descr: str) -> None:
    data = npy(f"{{'descr': {descr}, 'fortran_order': False, 'shape': (1,), }}")
    with pytest.raises(ValueError, match="Object arrays cannot be loaded"):
        np.load(io.BytesIO(data), allow_pickle=False)  # numpy: this payload is a pickle
    res = scan_bytes(tmp_path, "a.npy", data)
    assert "MLS101" in rules(res) and blocks(res), (descr, res.findings)


def test_python2_and_version_3_headers(tmp_path: Path) -> None:
    old = npy("{'descr': '|O', 'fortran_order': False, 'shape': (1L,), }")
    new = npy("{'descr': [('é', '|O')], 'fortran_order': False, 'shape': (1,), }", version=(3, 0))
    for name, data in (("old.npy", old), ("new.npy", new)):
        assert "MLS101" in rules(scan_bytes(tmp_path, name, data)), name


def test_a_dtype_numpy_cannot_build_fails_closed(tmp_path: Path) -> None:
    res = scan_bytes(tmp_path, "a.npy", npy("{'descr': 'Z9', 'fortran_order': False, 'shape': (1,), }"))
    assert "npy-unreadable" in keys(res) and "MLS101" in rules(res) and blocks(res)


def test_headers_numpy_refuses_are_corrupt_not_blocking(tmp_path: Path) -> None:
    for header, version in (("{'descr': '|O', 'shape': (1,), }", (1, 0)),                      # a key missing
                            ("{'descr': '|O', 'fortran_order': 0, 'shape': (1,), }", (1, 0)),   # not a bool
                            ("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", (4, 0)),  # unknown version
                            ("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", (1, 1))):
        res = scan_bytes(tmp_path, "bad.npy", npy(header, version))
        assert rules(res) == {"MLS120"} and not blocks(res), (header, version, res.findings)


def test_a_plain_array_is_not_a_pickle(tmp_path: Path) -> None:
    buf = io.BytesIO()
    np.save(buf, np.zeros((3, 4), dtype=[("a", "<f4"), ("b", "S3")]))
    res = scan_bytes(tmp_path, "ok.npy", buf.getvalue())
    assert not res.findings and res.formats == ["numpy"]
