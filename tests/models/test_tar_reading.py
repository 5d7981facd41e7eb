"""Tar archives read as tarfile reads them (pandas' `.tar` and torch.load's legacy tar both use it).

The reference is tarfile itself: a file is a tar when tarfile reads a first member from it
(V7 headers carry no `ustar` magic; a ustar magic with a bad checksum is no tar), and a
member's content is what `extractfile` hands out: sparse members with their holes put back,
members of types tarfile does not know as regular files, a member cut off by the end of the
archive up to where it stops. Generated archives, every member a pickle that imports a marker:
every marker in what extractfile returns, the gate reports.
"""

from __future__ import annotations

import io
import pickletools
import random
import tarfile
from pathlib import Path

from benchmarks.redteam.archives import gnu_sparse_tar, v7
from mlsecops.formats.detect import detect, tar_header
from mlsecops.formats.kinds import Format
from tests.differential.oracle import MARKERS, markers
from tests.models.helpers import scan_bytes

KINDS = [tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE, b"Z", b"9", b"S"]


def _pickle(i: int, pad: int = 0) -> bytes:
    """A pickle importing marker Mi, with a BINBYTES payload of `pad` bytes before the import."""
    payload = b"B" + pad.to_bytes(4, "little") + b"\x01" * pad + b"0" if pad else b""
    return b"\x80\x02" + payload + b"c" + MARKERS.encode() + b"\nM%d\n." % i


def _archive(rng: random.Random, n: int) -> tuple[bytes, str]:
    kind = rng.choice(KINDS)
    if kind == b"S":
        # A sparse member: the hole falls inside a payload of zeros, so the rebuilt content is a
        # pickle and the stored bytes alone (the hole left out) read as a different one.
        pad = rng.randrange(8, 64)
        full = b"\x80\x02B" + pad.to_bytes(4, "little") + b"\0" * pad + b"0c" + MARKERS.encode() + b"\nM%d\n." % n
        at, hole = 7 + rng.randrange(0, pad - 4), rng.randrange(1, 5)
        return gnu_sparse_tar(f"m{n}.pkl", [(0, full[:at]), (at + hole, full[at + hole:])], len(full)), "sparse"
    out = io.BytesIO()
    fmt = rng.choice([tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, "v7"])
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT if fmt == "v7" else fmt) as tf:
        data = _pickle(n, rng.choice([0, 0, 300, 5000]))
        info = tarfile.TarInfo(f"m{n}.pkl")
        info.type = kind
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    raw = v7(out.getvalue()) if fmt == "v7" else out.getvalue()
    if rng.random() < 0.2:
        raw = raw[: rng.randrange(512 + 8, 512 + len(data))]  # cut inside the member
        return raw, "cut"
    return raw, str(fmt)


def _what_extractfile_gives(raw: bytes) -> set[str]:
    """The markers imported by the pickles tarfile's extractfile hands out (read by opcodes)."""
    found = set()
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            for info in tar:
                if not (info.isreg() or info.type not in tarfile.SUPPORTED_TYPES):
                    continue
                fh = tar.extractfile(info)
                data = b""
                try:
                    while chunk := fh.read(1):  # type: ignore[union-attr]
                        data += chunk
                except tarfile.ReadError:
                    pass  # a cut member: what came before the error is what a loader reads
                try:
                    for op, arg, _ in pickletools.genops(io.BytesIO(data)):
                        if op.name == "GLOBAL" and str(arg).startswith(MARKERS + " "):
                            found.add(str(arg).split(" ")[1])
                except ValueError:
                    pass
    except tarfile.ReadError:
        pass
    return found


def test_every_member_extractfile_hands_out_is_scanned(tmp_path: Path) -> None:
    rng = random.Random(20261207)
    problems, kinds = [], set()
    for n in range(160):
        raw, how = _archive(rng, n)
        kinds.add(how)
        expected = _what_extractfile_gives(raw)
        found = markers(scan_bytes(tmp_path, f"a{n}.tar", raw))
        if not expected <= found:
            problems.append(f"a{n} ({how}): extractfile gives {sorted(expected)}, mlsecops reported {sorted(found)}")
    assert {"sparse", "cut", "v7"} <= kinds
    assert not problems, "\n".join(problems[:10])


def test_a_file_is_a_tar_exactly_when_tarfile_reads_a_first_member() -> None:
    rng = random.Random(7)
    base = io.BytesIO()
    with tarfile.open(fileobj=base, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        info = tarfile.TarInfo("storages")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"K\x01."))
    samples = [base.getvalue(), v7(base.getvalue())]
    for _ in range(400):  # damage anywhere in the first header, then often a checksum that matches it
        raw = bytearray(rng.choice(samples[:2]))
        for _ in range(rng.randrange(1, 4)):
            raw[rng.randrange(0, 512)] = rng.choice([0, 0x20, 0x30, 0x37, 0x38, rng.randrange(256)])
        if rng.random() < 0.6:
            raw[148:156] = b" " * 8
            total = sum(raw[:512])
            raw[148:156] = rng.choice([b"%06o\0 " % total, b"%07o\0" % total, b"%o " % total + b"\0" * 8,
                                       b" %06o\0" % total, b"%06o\0 " % (total - 1)])[:8].ljust(8, b"\0")
        samples.append(bytes(raw))
    agree = {True: 0, False: 0}
    for raw in samples:
        try:
            with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
                reads = tar.firstmember is not None
        except tarfile.ReadError:
            reads = False
        assert tar_header(raw[:4096]) == reads, raw[:512]
        agree[reads] += 1
        if reads:
            assert detect(io.BytesIO(raw), "x.bin", len(raw)) == Format.tar
    print(f"tar detection: {agree}")
    assert agree[True] > 20 and agree[False] > 20


def test_a_zip_that_is_also_a_tar_is_scanned_as_both(tmp_path: Path) -> None:
    """torch.load reads the zip; pandas reads a `.tar` with tarfile, which finds a member in the
    zip's extra field: both readings are scanned."""
    from benchmarks.redteam.families.pandas_files import zip_tar_polyglot

    raw = zip_tar_polyglot(_pickle(5))
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        assert len(tar.getnames()) == 1
    res = scan_bytes(tmp_path, "frame.tar", raw)
    assert "M5" in markers(res) and "polyglot-tar" in {f.properties.get("key") for f in res.findings}
