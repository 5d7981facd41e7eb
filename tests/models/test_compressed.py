"""Compressed streams: every codec joblib or pandas opens is recognised by content and read;
a codec the gate lacks fails closed; bombs stop at their ratio, and large streams are
walked as they decode instead of being expanded to disk."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import struct
import sys
import zlib
from pathlib import Path

import pytest

from mlsecops import fixtures as fx
from tests.models.helpers import blocks, keys, rules, scan_bytes

MB = 1 << 20
EVIL = fx.malicious_pickle()
CALL = fx.call(fx.glob4("os", "system"), fx.s(fx.HARMLESS))


def _zfile(data: bytes) -> bytes:
    from joblib.numpy_pickle_compat import write_zfile

    out = io.BytesIO()
    write_zfile(out, data)
    return out.getvalue()


def _lzma_alone(data: bytes, dict_size: int) -> bytes:
    return lzma.compress(data, format=lzma.FORMAT_ALONE, filters=[{"id": lzma.FILTER_LZMA1, "dict_size": dict_size}])


def _codecs() -> dict[str, bytes]:
    import lz4.frame
    import zstandard

    zstd = zstandard.ZstdCompressor().compress
    return {
        "gzip": gzip.compress(EVIL),
        "gzip, the pickle split over two members": gzip.compress(b"\x80\x04" + CALL[:7]) + gzip.compress(CALL[7:] + b"."),
        "bz2": bz2.compress(EVIL),
        "bz2, an empty stream first": bz2.compress(b"") + bz2.compress(EVIL),
        "xz": lzma.compress(EVIL),
        "lzma (joblib), 8 MiB dictionary": _lzma_alone(EVIL, 8 << 20),
        "lzma (joblib), 64 KiB dictionary": _lzma_alone(EVIL, 1 << 16),
        "lzma with other properties (pandas' xz reader)": lzma.compress(
            EVIL, format=lzma.FORMAT_ALONE, filters=[{"id": lzma.FILTER_LZMA1, "lc": 0, "lp": 2, "pb": 0}]),
        "zlib (joblib)": zlib.compress(EVIL),
        "zlib, empty stored blocks first": b"\x78\x9c" + b"\x00\x00\x00\xff\xff" * 200 + zlib.compress(EVIL)[2:],
        "zstd (pandas)": zstd(EVIL),
        "zstd after a skippable frame": struct.pack("<II", 0x184D2A50, 8) + b"\0" * 8 + zstd(EVIL),
        "lz4 (joblib)": lz4.frame.compress(EVIL),
        "joblib < 0.10 ZF file": _zfile(EVIL),
    }


@pytest.mark.parametrize("label", list(_codecs()))
def test_every_codec_a_loader_opens_is_read(tmp_path: Path, label: str) -> None:
    data = _codecs()[label]
    res = scan_bytes(tmp_path, "model.bin", data)
    assert "MLS101" in rules(res) and blocks(res), (label, res.formats, res.findings, res.notes)


def test_a_codec_the_gate_lacks_fails_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import zstandard

    data = zstandard.ZstdCompressor().compress(EVIL)
    monkeypatch.setitem(sys.modules, "zstandard", None)
    res = scan_bytes(tmp_path, "frame.pkl.zst", data)
    [hit] = [f for f in res.findings if f.rule_id == "MLS115"]
    assert hit.severity.value == "high" and "could not read" in hit.message and "zstd" in hit.message
    assert not res.errors


def test_a_zip_member_in_a_method_the_gate_lacks_fails_closed(tmp_path: Path) -> None:
    out = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("data.pkl", EVIL)
    data = bytearray(out.getvalue())
    for sig, at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):  # compression method := 9 (deflate64)
        pos = data.index(sig)
        data[pos + at : pos + at + 2] = struct.pack("<H", 9)
    res = scan_bytes(tmp_path, "a.zip", bytes(data))
    assert any(f.rule_id == "MLS115" and "compression method 9" in f.message for f in res.findings), res.findings
    assert blocks(res)


def _pickle_with_payload(n: int, filler: bytes, call: bool = True) -> list[bytes]:
    """A protocol-4 pickle: a list holding a BINBYTES8 payload of n bytes, then (maybe) os.system."""
    parts = [b"\x80\x04](\x8e" + struct.pack("<Q", n)]
    parts += [filler] * (n // len(filler))
    parts.append(CALL if call else b"N")
    parts.append(b"e.")
    return parts


def _gzip_parts(parts: list[bytes], level: int = 1) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    return b"".join(c.compress(p) for p in parts) + c.flush()


def test_a_large_pickle_is_walked_as_it_decodes(tmp_path: Path) -> None:
    """72 MiB of payload (more than is decoded up front, well under any bomb ratio), then the call."""
    data = _gzip_parts(_pickle_with_payload(72 * MB, os.urandom(1024) * 1024))
    res = scan_bytes(tmp_path, "big.pkl.gz", data)
    assert "MLS101" in rules(res) and "decompression-bomb" not in keys(res)
    assert not any(f.rule_id == "MLS105" and f.severity.value != "high" for f in res.findings)


def test_a_pickle_bomb_stops_at_its_ratio_not_at_the_budget(tmp_path: Path) -> None:
    from tests.adversarial.attacks import pickle_bomb

    data = pickle_bomb(1024 * MB)
    res = scan_bytes(tmp_path, "bomb.pkl.gz", data)
    [hit] = [f for f in res.findings if f.rule_id == "MLS115"]
    assert "500:1" in hit.message and hit.severity.value == "high"


def test_a_gzip_of_zeros_stops_at_its_ratio(tmp_path: Path) -> None:
    from tests.adversarial.attacks import gzip_bomb

    res = scan_bytes(tmp_path, "weights.pkl.gz", gzip_bomb(1024 * MB))
    assert keys(res) == {"decompression-bomb"} and blocks(res), res.findings


def test_a_large_stream_no_loader_reads_is_not_decoded_past_its_head(tmp_path: Path) -> None:
    """200 MiB of text at about 200:1 (no bomb by ratio): nothing a loader reads as a model,
    so only its first 64 MiB are decoded."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    # 4 KiB of text, repeated. Not opening with `c` (GLOBAL, a 1-in-16 chance for hex): a name
    # longer than the walker reads fails closed (test_containers_with_walker.py has that case).
    line = b"#" + os.urandom(2048).hex().encode()[1:]
    block = comp.compress(line * 256) + comp.flush(zlib.Z_FULL_FLUSH)
    data = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + block * 200
    res = scan_bytes(tmp_path, "corpus.txt.gz", data)
    assert not res.findings and not res.errors, (res.findings, res.errors)
    assert any("not decoded further" in n for n in res.notes), res.notes


def test_skipped_payloads_are_not_written_to_disk(tmp_path: Path) -> None:
    from mlsecops.formats.codecs import Counting, open_decoder
    from mlsecops.formats.expansion import Expansion

    data = _gzip_parts([b"head", b"\1" * (80 * MB), b"tail"], level=1)
    used: list[int] = []
    spill = tmp_path / "spill"

    def opener():  # type: ignore[no-untyped-def]
        c = Counting(io.BytesIO(data), 0, len(data))
        return open_decoder("gzip", c), c

    with Expansion(opener, spill, used.append, limit=1 << 30, max_ratio=10_000) as exp:
        assert exp.read(4) == b"head"
        exp.seek(4 + 80 * MB)
        assert exp.read(10) == b"tail"
        assert exp.holes and spill.stat().st_blocks * 512 < 8 * MB
        exp.seek(4 + 40 * MB)
        assert exp.read(3) == b"\1\1\1"  # inside the hole: decoded again, still right
        assert exp.redecoded > 0
    assert sum(used) >= 80 * MB and not spill.exists()


def test_the_ratio_guard_counts_what_the_decoder_consumed(tmp_path: Path) -> None:
    from mlsecops.formats.codecs import Counting, open_decoder
    from mlsecops.formats.expansion import Expansion, ExpansionLimit

    data = bz2.compress(b"\0" * (8 * MB)) * 25  # 25 streams, read back to back like BZ2File

    def opener():  # type: ignore[no-untyped-def]
        c = Counting(io.BytesIO(data), 0, len(data))
        return open_decoder("bz2", c), c

    with Expansion(opener, tmp_path / "s", lambda n: None, limit=1 << 30, max_ratio=50) as exp:
        with pytest.raises(ExpansionLimit, match="50:1"):
            exp.fill(1 << 30, keep=False)
        assert exp.frontier <= 64 * MB + MB


def test_a_bad_checksum_does_not_hide_the_last_block(tmp_path: Path) -> None:
    """GzipFile hands the last block to the unpickler before it checks the CRC: so does the gate."""
    good = gzip.compress(EVIL)
    bad = good[:-8] + b"\0" * 8
    res = scan_bytes(tmp_path, "m.pkl.gz", bad)
    assert "MLS101" in rules(res) and "checksum" in keys(res), res.findings
