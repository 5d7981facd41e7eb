"""numpy: `.npy`/`.npz` whose object payload numpy.load(allow_pickle=True) unpickles.

Read from numpy/lib/format.py: the header is `ast.literal_eval` of a dict whose
'descr' goes through `descr_to_dtype` (a str goes to `numpy.dtype(str)`, a tuple
is a subarray, a list is a structured dtype); `dtype.hasobject` decides that the
payload is a pickle. Headers of versions 1.0/2.0 that do not parse are retried
after `_filter_header`, which drops Python 2 `L` suffixes; with allow_pickle
the header size limit is lifted (2**64). A file that is neither npy nor zip is
handed to `pickle.load` whole.
"""

from __future__ import annotations

import struct

from benchmarks.redteam.archives import zip_bytes
from benchmarks.redteam.pickles import system_pickle
from benchmarks.redteam.sample import Sample

F = "numpy"


def npy(descr: str, shape: str = "(1,)", version: int = 1, pad_to: int = 0, payload: bytes | None = None) -> bytes:
    header = "{'descr': " + descr + ", 'fortran_order': False, 'shape': " + shape + ", }"
    total = max(pad_to, 0)
    prefix = 10 if version == 1 else 12
    body_len = len(header) + 1
    target = max(total, prefix + body_len)
    target += (-target) % 64
    header = header + " " * (target - prefix - body_len) + "\n"
    size = struct.pack("<H", len(header)) if version == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + size + header.encode("latin1") + (payload or system_pickle())


def _one(name: str, data: bytes) -> dict[str, bytes]:
    return {name: data}


SAMPLES = [
    Sample("npy_descr_object_word", F, "numpy.load", "process",
           "descr 'object' is numpy.dtype('object'): hasobject, but there is no capital O for a text check to find",
           lambda: _one("weights.npy", npy("'object'")), fast=True),
    Sample("npy_descr_subarray_object", F, "numpy.load", "process",
           "a subarray descr ('object', (1,)): the object dtype is inside a tuple and spelled as a word",
           lambda: _one("weights.npy", npy("('object', (1,))"))),
    Sample("npy_descr_structured_object", F, "numpy.load", "process",
           "a structured dtype whose one field is 'object': hasobject holds for the record",
           lambda: _one("weights.npy", npy("[('w', 'object')]"))),
    Sample("npy_descr_capital_O", F, "numpy.load", "process",
           "the plain object .npy (baseline: a scanner that reads npy must see this one)",
           lambda: _one("weights.npy", npy("'|O'"))),
    Sample("npy_header_over_64k", F, "numpy.load", "process",
           "a version 2.0 header of 70,000 bytes: numpy lifts its header limit when allow_pickle is set",
           lambda: _one("weights.npy", npy("'|O'", version=2, pad_to=70_000))),
    Sample("npy_header_python2_long", F, "numpy.load", "process",
           "shape (1L,): not a Python 3 literal, but numpy retries version 1.0 headers after dropping the L",
           lambda: _one("weights.npy", npy("'|O'", shape="(1L,)")), fast=True),
    Sample("npz_member_descr_object_word", F, "numpy.load", "process",
           "an npz member with descr 'object' (np.load(...)['w'] unpickles it)",
           lambda: _one("arrays.npz", zip_bytes({"w.npy": npy("'object'")}))),
    Sample("npz_member_python2_long", F, "numpy.load", "process",
           "an npz member whose header only parses after numpy's Python 2 filter",
           lambda: _one("arrays.npz", zip_bytes({"w.npy": npy("'|O'", shape="(1L,)")}))),
    Sample("npy_not_npy_at_all", F, "numpy.load", "process",
           "np.load hands anything that is neither npy nor zip to pickle.load (a pickle named .npy)",
           lambda: _one("weights.npy", system_pickle())),
]
