"""pandas.read_pickle: every compression it infers from the file name.

Read from pandas/io/common.py (get_handle): '.gz' gzip, '.bz2' bz2, '.zip' a zip
with exactly one member (zipfile), '.xz' lzma, '.zst' zstandard (when the
zstandard package is installed), '.tar'/'.tar.gz'/... tarfile with exactly one
member, mode 'r:*'. read_pickle then calls pickle.load on the handle.
"""

from __future__ import annotations

import bz2
import gzip
import lzma

from benchmarks.redteam.archives import tar_bytes, v7_tar, zip_bytes
from benchmarks.redteam.pickles import system_pickle
from benchmarks.redteam.sample import Sample

F = "pandas"


def _zst(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor().compress(data)


def _p(name: str, data: bytes) -> dict[str, bytes]:
    return {name: data}


SAMPLES = [
    Sample("pandas_zstd", F, "pandas.read_pickle", "process",
           "'.zst': zstandard, magic 28 b5 2f fd, a compression pandas reads and joblib does not",
           lambda: _p("frame.pkl.zst", _zst(system_pickle())), fast=True),
    Sample("pandas_tar_v7", F, "pandas.read_pickle", "process",
           "'.tar' with one V7 member (no ustar magic): tarfile reads it",
           lambda: _p("frame.tar", v7_tar({"frame.pkl": system_pickle()}))),
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
