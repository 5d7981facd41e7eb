"""Damaged zips are still read by their local headers; the member torch unpickles is the one
walked as its data.pkl; PyTorch's legacy tar streams are followed past their raw data."""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path

from mlsecops import fixtures as fx
from mlsecops.formats import ziparchive
from tests.models.helpers import blocks, keys, rules, scan_bytes

EVIL = fx.malicious_pickle()


def _zip(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=method) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return out.getvalue()


def test_a_truncated_checkpoint_is_read_by_its_local_headers(tmp_path: Path) -> None:
    from tests.adversarial.attacks import truncated_checkpoint

    res = scan_bytes(tmp_path, "cut.pt", truncated_checkpoint())
    assert "MLS101" in rules(res) and blocks(res), res.findings
    assert any(f.rule_id == "MLS120" and "local headers" in f.message for f in res.findings)


class _Unseekable(io.RawIOBase):
    """zipfile writes data descriptors (sizes after the data, as torch.save does) to a stream it cannot seek."""

    def __init__(self) -> None:
        self.out = io.BytesIO()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[no-untyped-def]
        return self.out.write(b)


def _streamed_zip(members: list[tuple[str, bytes]]) -> bytes:
    sink = _Unseekable()
    with zipfile.ZipFile(sink, "w") as zf:
        for name, data in members:
            with zf.open(name, "w") as f:
                f.write(data)
    return sink.out.getvalue()


def test_every_cut_of_a_checkpoint_still_finds_its_pickle(tmp_path: Path) -> None:
    """Members with data descriptors (sizes after the data): the walk finds each member's end."""
    data = _streamed_zip([("archive/data.pkl", fx.torch_state_dict_pickle({"w": 4}, extra=b"")[:-1] + b"0" + EVIL[2:]),
                          ("archive/data/0", b"PK\x07\x08" + b"\0" * 400), ("archive/version", b"3\n")])
    assert data[6] & 0x08
    end_of_pickle = data.index(b"PK\x07\x08") + 16
    for cut in range(end_of_pickle, len(data), 37):
        res = scan_bytes(tmp_path, f"c{cut}.pt", data[:cut])
        assert "MLS101" in rules(res), (cut, res.findings)


def test_a_deflated_member_without_sizes_is_read(tmp_path: Path) -> None:
    data = bytearray(_zip([("m/data.pkl", EVIL), ("m/version", b"3\n")], zipfile.ZIP_DEFLATED))
    first = data.index(b"PK\x03\x04")
    data[first + 6] |= 0x08
    data[first + 18 : first + 26] = b"\0" * 8  # sizes unknown in the local header
    cut = bytes(data[: data.index(b"PK\x01\x02")])
    entries = ziparchive.local_entries(io.BytesIO(cut), len(cut), 100)
    assert [e.name for e in entries] == ["m/data.pkl", "m/version"]
    assert "MLS101" in rules(scan_bytes(tmp_path, "d.zip", cut))


def test_a_member_left_out_of_the_central_directory_is_found(tmp_path: Path) -> None:
    """The directory lists a benign member; a local entry before it holds the exploit."""
    hidden = _zip([("evil.pkl", EVIL)])
    hidden_local = hidden[: hidden.index(b"PK\x01\x02")]
    benign = _zip([("notes.txt", b"hello")])
    cd_at = benign.index(b"PK\x01\x02")
    body = hidden_local + benign[:cd_at]
    cd = bytearray(benign[cd_at:])
    struct.pack_into("<I", cd, 42, len(hidden_local))  # the benign member's local header moved
    eocd = cd.index(b"PK\x05\x06")
    struct.pack_into("<I", cd, eocd + 16, len(body))
    res = scan_bytes(tmp_path, "hidden.zip", body + bytes(cd))
    assert any(k.startswith("zip-hidden:") for k in keys(res)) and "MLS101" in rules(res), res.findings
    assert zipfile.ZipFile(io.BytesIO(body + bytes(cd))).namelist() == ["notes.txt"]  # zipfile never sees it


def test_a_directory_pointing_at_nothing_still_scans_the_data(tmp_path: Path) -> None:
    data = bytearray(_zip([("a/data.pkl", EVIL), ("a/version", b"3\n")]))
    cd = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, cd + 42, 7)  # the first member's local header offset now points at garbage
    res = scan_bytes(tmp_path, "bad.zip", bytes(data))
    assert {"MLS111", "MLS101"} <= rules(res), res.findings


def test_a_benign_damaged_zip_is_advisory(tmp_path: Path) -> None:
    data = fx.torch_zip({"w": 4})
    res = scan_bytes(tmp_path, "cut.pt", data[: data.index(b"PK\x01\x02")])
    assert rules(res) == {"MLS120"} and not blocks(res), res.findings


def test_the_member_torch_unpickles_is_walked_whatever_it_looks_like(tmp_path: Path) -> None:
    """miniz looks records up case-insensitively: `archive/DATA.PKL` is torch's data.pkl."""
    data = _zip([("archive/DATA.PKL", EVIL), ("archive/version", b"3\n")])
    res = scan_bytes(tmp_path, "ckpt.pt", data)
    assert "MLS101" in rules(res), res.findings
    assert ziparchive.read_directory(io.BytesIO(data), len(data), 10).entries[0].name == "archive/DATA.PKL"


def test_torch_pickles_follow_the_first_members_folder() -> None:
    from mlsecops.stages.models.analyzers.zips import torch_pickles

    def entries(*names: str) -> list[ziparchive.ZipEntry]:
        return [ziparchive.ZipEntry(name=n, method=0, flags=0, compressed_size=0, size=0, crc=0, header_offset=0) for n in names]

    assert torch_pickles(entries("a/version", "a/data.pkl", "b/data.pkl")) == {"a/data.pkl"}
    assert torch_pickles(entries("x/Data.Pkl", "x/constants.pkl")) == {"x/Data.Pkl", "x/constants.pkl"}
    assert torch_pickles(entries("data.pkl")) == set()  # not in a folder: torch refuses the archive


def _legacy_tar(storages: bytes) -> bytes:
    out = io.BytesIO()
    members = {"sys_info": pickle.dumps({"little_endian": True}, protocol=2), "storages": storages,
               "tensors": pickle.dumps(0, protocol=2), "pickle": pickle.dumps({"a": 1}, protocol=2)}
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _storage(key: str, kind: str, count: int, size: int) -> bytes:
    args = b"\x80\x02(X" + struct.pack("<I", len(key)) + key.encode() + b"X\x03\x00\x00\x00cpuctorch\n" + kind.encode() + b"\nt."
    return args + struct.pack("<q", count) + b"\0" * (count * size)


def test_a_legacy_torch_tar_is_read_past_its_raw_storages(tmp_path: Path) -> None:
    benign = pickle.dumps(2, protocol=2) + _storage("0", "FloatStorage", 3, 4) + _storage("1", "DoubleStorage", 2, 8) \
        + pickle.dumps([], protocol=2)
    res = scan_bytes(tmp_path, "old.pt", _legacy_tar(benign))
    assert not blocks(res), res.findings
    evil = pickle.dumps(2, protocol=2) + _storage("0", "FloatStorage", 3, 4) + EVIL + struct.pack("<q", 0) \
        + pickle.dumps([], protocol=2)
    res = scan_bytes(tmp_path, "old2.pt", _legacy_tar(evil))
    assert "MLS101" in rules(res) and blocks(res), res.findings
