"""Archives and their tricks: every CVE-class zip evasion is a finding, bombs and
nesting are bounded, members are never written outside the temp folder."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import time
import zipfile
import zlib
from pathlib import Path

import py7zr

from mlsecops import fixtures as fx
from tests.models.helpers import blocks, rules, scan_bytes

EVIL = fx.malicious_pickle()


def zipped(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as zf:
        for k, v in members.items():
            zf.writestr(k, v)
    return out.getvalue()


def patch(data: bytes, fn) -> bytes:  # type: ignore[no-untyped-def]
    buf = bytearray(data)
    fn(buf, data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02"))
    return bytes(buf)


def test_zip_member_is_scanned_whatever_its_name(tmp_path: Path) -> None:
    res = scan_bytes(tmp_path, "a.zip", zipped({"weights/notes.txt": EVIL}))
    assert {"MLS101", "MLS110"} <= rules(res)
    assert any(f.member == "weights/notes.txt" for f in res.findings)


def test_local_and_central_names_disagree(tmp_path: Path) -> None:
    def rename(buf: bytearray, local: int, central: int) -> None:
        buf[local + 30 : local + 30 + 8] = b"datb.pkl"
    res = scan_bytes(tmp_path, "a.zip", patch(zipped({"data.pkl": EVIL}), rename))
    assert {"MLS111", "MLS101"} <= rules(res)


def test_fake_encryption_flag_vs_real_encryption(tmp_path: Path) -> None:
    def flag(buf: bytearray, local: int, central: int) -> None:
        buf[local + 6] |= 1
        buf[central + 8] |= 1
    res = scan_bytes(tmp_path, "a.zip", patch(zipped({"m/config.pkl": EVIL}), flag))
    assert {"MLS112", "MLS101"} <= rules(res)
    garbage = patch(zipped({"secret.bin": b"\x13\x37" * 40}), flag)
    def bad_crc(buf: bytearray, local: int, central: int) -> None:
        buf[central + 16 : central + 20] = b"\0\0\0\0"
    real = scan_bytes(tmp_path, "b.zip", patch(garbage, bad_crc))
    assert rules(real) == {"MLS121"} and not blocks(real)


def test_crc_mismatch_is_reported_and_the_member_still_scanned(tmp_path: Path) -> None:
    def crc(buf: bytearray, local: int, central: int) -> None:
        buf[local + 14 : local + 18] = b"\1\2\3\4"
        buf[central + 16 : central + 20] = b"\1\2\3\4"
    res = scan_bytes(tmp_path, "a.pt", patch(fx.torch_zip({"w": 2}, EVIL), crc))
    assert {"MLS113", "MLS101"} <= rules(res)


def test_duplicate_names_and_path_traversal(tmp_path: Path) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("data.pkl", fx.benign_dict_pickle())
        zf.writestr("data.pkl", EVIL)
        zf.writestr("../../etc/cron.d/x", b"* * * * * root id")
        zf.writestr("/abs/path.txt", b"x")
    res = scan_bytes(tmp_path, "a.zip", out.getvalue())
    msgs = " ".join(f.message for f in res.findings)
    assert {"MLS111", "MLS114", "MLS101"} <= rules(res)
    assert "two members share this name" in " ".join(e for f in res.findings for e in f.evidence) or "two members" in msgs
    assert not (tmp_path.parent / "etc").exists()


def test_torch_checkpoint_reads_only_its_pickle(tmp_path: Path) -> None:
    benign = scan_bytes(tmp_path, "ok.pt", fx.torch_zip({"w": 1000, "b": 10}))
    assert not benign.findings and benign.pickles == 1
    bad = scan_bytes(tmp_path, "bad.pt", fx.booby_trapped_torch_zip())
    [hit] = [f for f in bad.findings if f.rule_id == "MLS101"]
    assert "builtins.exec" in hit.message and hit.member == "archive/data.pkl"
    assert hit.engines == ["fickling", "mlsecops", "modelscan"]  # fickling via scan_zip_archive


def test_torchscript_code_in_a_checkpoint(tmp_path: Path) -> None:
    tensors = {"w": 4}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("ckpt/data.pkl", fx.torch_state_dict_pickle(tensors))
        zf.writestr("ckpt/code/__torch__/evil.py", "def forward(self): ...")
        zf.writestr("ckpt/data/0", b"\0" * 16)
    res = scan_bytes(tmp_path, "ckpt.pt", out.getvalue())
    assert any(f.rule_id == "MLS109" and f.severity.value == "high" for f in res.findings)


def test_tar_7z_and_compression_wrappers(tmp_path: Path) -> None:
    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w") as tf:
        info = tarfile.TarInfo("models/m.pkl")
        info.size = len(EVIL)
        tf.addfile(info, io.BytesIO(EVIL))
        link = tarfile.TarInfo("models/escape")
        link.type, link.linkname = tarfile.SYMTYPE, "../../../../etc/passwd"
        tf.addfile(link)
    res = scan_bytes(tmp_path, "a.tar", tbuf.getvalue())
    assert {"MLS101", "MLS114"} <= rules(res)
    seven = tmp_path / "a.7z"
    with py7zr.SevenZipFile(seven, "w") as z:
        z.writestr(EVIL, "inner/data.pkl")
    assert "MLS101" in rules(scan_bytes(tmp_path, "b.7z", seven.read_bytes()))
    for wrap in (gzip.compress, bz2.compress, lzma.compress, zlib.compress):
        assert "MLS101" in rules(scan_bytes(tmp_path, "m.joblib", wrap(EVIL))), wrap


def test_zip_and_gzip_bombs_are_bounded(tmp_path: Path) -> None:
    zeros = b"\0" * (64 * 1024 * 1024)
    bombs = (zipped({"a.bin": zeros, "b.bin": zeros}, zipfile.ZIP_DEFLATED), gzip.compress(zeros))
    start = time.process_time()  # the scans' CPU, not wall time: a loaded machine must not fail this
    res = scan_bytes(tmp_path, "bomb.zip", bombs[0], max_expanded_mb=32)
    assert "MLS115" in rules(res) and blocks(res)
    res = scan_bytes(tmp_path, "bomb.gz", bombs[1], max_expanded_mb=16)
    assert "MLS115" in rules(res)
    assert time.process_time() - start < 20


def test_deeply_nested_archives_stop_at_the_depth_limit(tmp_path: Path) -> None:
    data = EVIL
    for k in range(12):
        data = zipped({f"level{k}.zip": data})
    res = scan_bytes(tmp_path, "deep.zip", data, max_depth=5)
    assert "MLS115" in rules(res)
    shallow = scan_bytes(tmp_path, "ok.zip", zipped({"l1.zip": zipped({"evil.pkl": EVIL})}))
    assert "MLS101" in rules(shallow)


def test_member_count_limit(tmp_path: Path) -> None:
    res = scan_bytes(tmp_path, "many.zip", zipped({f"f{i}.txt": b"x" for i in range(300)}), max_members=100)
    assert "MLS115" in rules(res)


def test_pickle_that_is_also_a_zip(tmp_path: Path) -> None:
    res = scan_bytes(tmp_path, "poly.pkl", fx.benign_dict_pickle() + zipped({"data.pkl": EVIL}))
    assert {"MLS119", "MLS101"} <= rules(res)


def test_truncated_and_corrupt_archives_are_findings_not_crashes(tmp_path: Path) -> None:
    samples = {
        "cut.pt": fx.torch_zip({"w": 10})[:-40],
        "half.zip": zipped({"a.pkl": EVIL}, zipfile.ZIP_DEFLATED)[:60] + b"PK\x05\x06" + b"\0" * 18,
        "cut.tar": b"\0" * 100 + b"ustar" + b"\0" * 300,
        "cut.gz": gzip.compress(EVIL)[:-10],
        "cut.7z": b"7z\xbc\xaf\x27\x1c" + b"\x00\x04" + b"\xff" * 40,
    }
    for name, data in samples.items():
        res = scan_bytes(tmp_path, name, data)
        assert not res.errors, (name, res.errors)
