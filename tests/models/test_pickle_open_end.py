"""A walk that does not know where its stream ends reports what the walk with the end given reports.

`walk(fh, start, None, ...)` is how the models stage walks a large compressed pickle as it
decodes (a gzip'd or lz4'd joblib file): the end is found by reading. Checked here on the
differential oracle's generated pickles (test_pickle_oracle.py proves the walk with its end
given against CPython's unpicklers), with the walker's read window shrunk to a few bytes so
every refill, skip over a payload and FRAME decision meets the edge of what was read; on a
plain stream and on a gzip stream decoded lazily (formats.expansion), as the stage reads one;
and on large streams that take the fast path, seek over payloads and read joblib arrays.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest
from hypothesis import HealthCheck, given, settings

from mlsecops import fixtures as fx
from mlsecops.formats.codecs import Counting, open_decoder
from mlsecops.formats.expansion import Expansion
from mlsecops.formats.pickle import Options, WalkResult, reader, walk
from tests.models.pickle_grammar import EXTENSIONS, seeded_pickles

EXAMPLES = int(os.environ.get("MLSECOPS_ORACLE_EXAMPLES", "5000")) // 2
SMALL = Options(extensions=EXTENSIONS, big=8, first_read=3)
MB = 1 << 20


@pytest.fixture
def tiny_window(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(reader, "CHUNK", 5)
    yield


def _expansion(data: bytes, spill: Path) -> Expansion:
    comp = gzip.compress(data, compresslevel=1)

    def opener():  # type: ignore[no-untyped-def]
        counter = Counting(io.BytesIO(comp), 0, len(comp))
        return open_decoder("gzip", counter), counter

    return Expansion(opener, spill, lambda n: None, limit=1 << 34, max_ratio=1 << 20)


def _same(data: bytes, open_fh: BinaryIO, opts: Options | None = None) -> tuple[WalkResult, WalkResult]:
    given_end = walk(io.BytesIO(data), 0, len(data), 2_000_000, opts=opts)
    open_end = walk(open_fh, 0, None, 2_000_000, opts=opts)
    return given_end, open_end


def test_generated_pickles_walk_the_same_without_their_end(tiny_window: None, tmp_path: Path) -> None:
    differ: list[str] = []
    count = [0]

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(seeded_pickles())
    def check(data: bytes) -> None:
        count[0] += 1
        a, b = _same(data, io.BytesIO(data), SMALL)
        if a != b:
            differ.append(f"{data!r}: {a} != {b}")
        if count[0] % 10 == 0:  # the same through a lazily decoded gzip stream
            with _expansion(data, tmp_path / "spill") as exp:
                c = walk(exp, 0, None, 2_000_000, opts=SMALL)
            if a != c:
                differ.append(f"{data!r} (gzip): {a} != {c}")

    check()
    assert not differ, f"{len(differ)} differ, first: " + "\n".join(differ[:2])


def _joblib_array_file() -> bytes:
    joblib = pytest.importorskip("joblib")
    np = pytest.importorskip("numpy")
    out = io.BytesIO()
    joblib.dump({"w": np.arange(2 * MB, dtype=np.float32), "t": "x"}, out)
    return out.getvalue()


def _large_streams() -> dict[str, bytes]:
    payload = os.urandom(MB) * 6
    big_bytes = b"\x80\x04\x95" + struct.pack("<Q", 9 + len(payload) + 2) + b"](\x8e" + struct.pack("<Q", len(payload))
    second = b"\x8e" + struct.pack("<Q", len(payload)) + payload + b"."
    framed = b"K\x01." + second  # two pickles in one FRAME
    frame = b"\x80\x04\x95" + struct.pack("<Q", len(framed)) + framed
    return {
        "two pickles in one FRAME that ends the stream": frame,
        "two pickles in one FRAME, then more": frame + fx.malicious_pickle(),
        "6 MiB payload seeked over, then os.system": fx.pickle4(b"(\x8e" + struct.pack("<Q", len(payload)) + payload
                                                               + fx.call(fx.glob4("os", "system"), fx.s("x")) + b"t"),
        "data only, proven at C speed": pickle.dumps({f"k{i}": [i, float(i), "v" * 20] for i in range(40_000)}, 4),
        "data only, then bytes no unpickler reads": pickle.dumps(list(range(100_000)), 4) + b"\xff" * 100,
        "data only, then a second pickle that calls": pickle.dumps(list(range(100_000)), 4) + fx.malicious_pickle(),
        "a FRAME that claims more than the stream holds": big_bytes[:-1000],
        "a payload cut short by the end of the stream": fx.pickle4(b"\x8e" + struct.pack("<Q", 8 * MB) + payload),
        "joblib inline array": _joblib_array_file(),
    }


@pytest.mark.parametrize("label", list(_large_streams()))
def test_large_streams_walk_the_same_without_their_end(tmp_path: Path, label: str) -> None:
    data = _large_streams()[label]
    with _expansion(data, tmp_path / "spill") as exp:
        given_end, open_end = _same(data, exp)
    assert open_end == given_end, label
