"""Gadgets in third-party packages that ML environments install (neither stdlib nor an ML library).

mlsecops judges an import from a module that is neither allowlisted nor on its
deny list nor in the standard library or `ml_libraries` as `unknown`, which the
default policy reports at medium (not blocking). Each of these packages ships
with common ML stacks: psutil (accelerate, lightning), urllib3 (requests, hence
huggingface_hub and transformers), zstandard and lz4 (datasets, pandas extras).
"""

from __future__ import annotations

from benchmarks.redteam.pickles import MARK, PROTO4, STOP, TUPLE, call, glob4, s
from benchmarks.redteam.sample import PORT, PROC_ARGV, Sample

F = "third-party"


def _call(module: str, name: str, *args: bytes) -> dict[str, bytes]:
    return {"model.pkl": PROTO4 + call(glob4(module, name), *args) + STOP}


ARGV = MARK + b"".join(s(a) for a in PROC_ARGV) + TUPLE

SAMPLES = [
    Sample("psutil_popen", F, "pickle.load", "process", "psutil.Popen is subprocess.Popen with extras",
           lambda: _call("psutil", "Popen", ARGV), fast=True),
    Sample("urllib3_request", F, "pickle.load", "network", "urllib3.request (urllib3 2.x) makes an HTTP request",
           lambda: _call("urllib3", "request", s("GET"), s(f"http://127.0.0.1:{PORT}/x"))),
    Sample("zstandard_open_write", F, "pickle.load", "file", "zstandard.open(name, 'wb') creates the file",
           lambda: _call("zstandard", "open", s("pwned.zst"), s("wb"))),
    Sample("lz4_frame_open_write", F, "pickle.load", "file", "lz4.frame.open(name, 'wb') creates the file",
           lambda: _call("lz4.frame", "open", s("pwned.lz4"), s("wb"))),
    Sample("numpy_trampoline_psutil", F, "pickle.load", "process",
           "psutil.Popen only imported, called by numpy.random._pickle.__generator_ctor (allowlisted)",
           lambda: {"model.pkl": PROTO4 + call(glob4("numpy.random._pickle", "__generator_ctor"), ARGV,
                                                glob4("psutil", "Popen")) + STOP}),
]
