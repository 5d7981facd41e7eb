"""`.npy` headers against numpy: for every generated header, numpy's answer (does it accept
the header, and does it unpickle the payload) is mlsecops's answer.

numpy is the oracle: `numpy.load(..., allow_pickle=False)` raises "Object arrays cannot be
loaded" exactly when it would unpickle the payload (it never does here), and
`numpy.lib.format` says whether the header is accepted. The payload is an os.system
pickle; mlsecops must find it (MLS101) iff numpy would run it, report a refused header as
corrupt (MLS120, advisory), and may only fail closed (MLS115) on a dtype it cannot build.
"""

from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.lib import format as npf

from mlsecops import fixtures as fx
from tests.differential.oracle import rules, scan

EXAMPLES = 1200
PAYLOAD = fx.malicious_pickle()
SCALARS = ["'<f8'", "'|b1'", "'<i4'", "'>i2'", "'u1'", "'<c16'", "'|S10'", "'<U3'", "'<M8[ns]'", "'<m8[s]'", "'|V8'",
           "'f2'", "'d'", "'l'", "'?'", "'int'", "'float'", "'bool'", "'str'", "'bytes'", "'object'", "'O'", "'|O'",
           "'<O'", "'=O'", "'O8'", "'O4'", "'object_'", "'Z9'", "'xyz'", "''", "'<f8 '", "'T'", "'a5'", "'b'", "'g'"]


@st.composite
def descr(draw: st.DrawFn, depth: int = 0) -> str:
    kind = draw(st.integers(0, 5 if depth < 2 else 0))
    if kind <= 1:
        return draw(st.sampled_from(SCALARS))
    if kind == 2:
        return f"({draw(descr(depth + 1))}, ({draw(st.integers(-1, 3))},))"
    fields = []
    for i in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from([f"'f{i}'", "''", f"('t{i}', 'f{i}')", f"'é{i}'", "1"]))
        sub = draw(descr(depth + 1))
        fields.append(f"({name}, {sub}, ({draw(st.integers(1, 2))},))" if draw(st.booleans()) else f"({name}, {sub})")
    return "[" + ", ".join(fields) + "]"


@st.composite
def header(draw: st.DrawFn) -> tuple[bytes, str]:
    d = draw(descr())
    shape = draw(st.sampled_from(["(1,)", "()", "(2, 3)", "(0,)", "(1L,)", "[1]", "(1.0,)", "(-1,)", "(True,)"]))
    fortran = draw(st.sampled_from(["False", "True", "0", "None"]))
    keys = [f"'descr': {d}", f"'fortran_order': {fortran}", f"'shape': {shape}"]
    keys = draw(st.permutations(keys))
    if draw(st.integers(0, 9)) == 0:
        keys = keys[:2]
    if draw(st.integers(0, 9)) == 0:
        keys.append("'extra': 1")
    text = "{" + ", ".join(keys) + ", }"
    version = draw(st.sampled_from([(1, 0), (1, 0), (2, 0), (3, 0), (1, 1), (4, 0), (0, 0)]))
    raw = text.encode("utf8", "replace") if version == (3, 0) else text.encode("latin1", "replace")
    raw += b" " * draw(st.integers(0, 40)) + b"\n"
    width = "<H" if version[0] <= 1 else "<I"
    declared = len(raw) + draw(st.sampled_from([0, 0, 0, 0, 1, -1, 5000]))
    return b"\x93NUMPY" + bytes(version) + struct.pack(width, max(0, declared) & (0xFFFF if width == "<H" else 0xFFFFFFFF)) \
        + raw + PAYLOAD, text


def numpy_says(data: bytes) -> tuple[str, int]:
    """('pickle' | 'array' | 'rejected', where numpy's pickle.load would start), from numpy itself."""
    fh = io.BytesIO(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            version = npf.read_magic(fh)
            npf._check_version(version)
            _, _, dtype = npf._read_array_header(fh, version, max_header_size=2**64)
    except Exception:  # noqa: BLE001 - any refusal is the answer
        return "rejected", -1
    start = fh.tell()
    if dtype.hasobject:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                np.load(io.BytesIO(data), allow_pickle=False)
        except ValueError as exc:
            assert "Object arrays cannot be loaded" in str(exc)  # the oracle agrees with itself
        else:
            raise AssertionError("numpy loaded an object array without allow_pickle")
        return "pickle", start
    return "array", start


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(header())
def test_npy_headers_agree_with_numpy(tmp_path_factory, sample: tuple[bytes, str]) -> None:  # type: ignore[no-untyped-def]
    data, text = sample
    work = tmp_path_factory.getbasetemp() / "npy"
    work.mkdir(exist_ok=True)
    path = work / "x.npy"
    path.write_bytes(data)
    found = rules(scan(path, work / "w"))
    expected, start = numpy_says(data)
    if expected == "pickle" and data[start:] == PAYLOAD:
        assert "MLS101" in found, (text, found)
    elif expected == "pickle":
        # numpy unpickles from inside the header's padding or the payload's second byte:
        # an invalid opcode, nothing runs; mlsecops walks from the same place.
        assert "MLS101" not in found and "MLS105" in found, (text, found)
    elif expected == "array":
        assert "MLS101" not in found and "MLS120" not in found, (text, found)
    else:
        assert "MLS120" in found or "MLS115" in found, (text, found)
        assert "MLS101" not in found or "MLS115" in found, (text, found)
