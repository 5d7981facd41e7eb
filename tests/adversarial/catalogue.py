"""The resource attacks, once: what each one is, how it is built, which policy limit must
hold, and what the gate must answer. `test_resource_limits.py` runs them small and
fast; `benchmarks/adversarial.py` runs them at full size and measures time and memory.

Every attack shares its workspace with a plain malicious pickle (`zz_evil.pkl`): the
gate must answer the attack within the per-file limits *and* still find that one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.adversarial import attacks as A

GiB = 1024 * A.MB


@dataclass(frozen=True)
class Attack:
    name: str
    what: str                                 # one line for the table
    target: str                               # the hostile file, relative to the workspace
    limit: str                                # the limit (or rule) that must hold
    build: Callable[[Path, bool], bool]       # write the attack under root (big=True: full size); False: cannot here
    expect: str                               # "MLS..." finding on target, "error", or "skipped"
    limits: dict[str, Any] = field(default_factory=dict)
    slow: bool = False


def _write(rel: str, make: Callable[[bool], bytes]) -> Callable[[Path, bool], bool]:
    def build(root: Path, big: bool) -> bool:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(make(big))
        return True

    return build


def _sparse(rel: str, size: int, pickle: bool) -> Callable[[Path, bool], bool]:
    def build(root: Path, big: bool) -> bool:
        path = root / rel
        return A.sparse_pickle(path, size) if pickle else A.sparse_file(path, size, b"\x80\x04\x95")

    return build


def _special(rel: str, kind: str) -> Callable[[Path, bool], bool]:
    def build(root: Path, big: bool) -> bool:
        path = root / rel
        if kind == "fifo":
            A.make_fifo(path)
            return True
        if kind == "device":
            return A.make_device(path)
        os.symlink("/dev/zero", path)
        return True

    return build


TIGHT = {"timeout_seconds": 30, "memory_mb": 768, "max_expanded_mb": 64}
DEFAULTS = {"timeout_seconds": 120, "memory_mb": 2048}  # the shipped limits otherwise

ATTACKS: list[Attack] = [
    Attack("zip-bomb", "zip member deflating to 4,000 MiB of zeros (4 MB file; 1 GiB in tests)", "bomb.zip",
           "max_expanded_mb 64", _write("bomb.zip", lambda big: A.zip_bomb((4000 if big else 1024) * A.MB)), "MLS115",
           TIGHT),
    Attack("zip-bomb-overlap", "Fifield overlapping-entry zip bomb: 2,000 members x 10 MiB from one kernel "
           "(21 GB from 200 KB; 200 x 4 MiB in tests)", "overlap.zip", "MLS111 overlap + max_expanded_mb 64",
           _write("overlap.zip", lambda big: A.overlapping_zip_bomb(2000 if big else 200, (10 if big else 4) * A.MB)),
           "MLS111", TIGHT),
    Attack("gzip-bomb", "gzip stream of 10 GiB of zeros (10 MB file; 1 GiB in tests)", "weights.pkl.gz",
           "max_expanded_mb 64", _write("weights.pkl.gz", lambda big: A.gzip_bomb((10 if big else 1) * GiB)), "MLS115",
           TIGHT),
    Attack("gzip-bomb-default-limits", "gzip stream of 10 GiB of zeros under the default limits", "weights.pkl.gz",
           "default limits: stopped at 64 MiB by the 500:1 ratio, nothing written",
           _write("weights.pkl.gz", lambda big: A.gzip_bomb(10 * GiB)), "MLS115", DEFAULTS),
    Attack("pickle-bomb-gzip", "gzip'd pickle: 10 GiB of zeros in a bytes payload, then os.system (10 MB file; 1 GiB in tests)",
           "model.pkl.gz", "default limits: the payload is decoded and discarded, stopped by the 500:1 ratio",
           _write("model.pkl.gz", lambda big: A.pickle_bomb((10 if big else 1) * GiB)), "MLS115", DEFAULTS),
    Attack("pickle-bomb-bz2", "bz2 pickle: 10 GiB of zeros in a bytes payload, then os.system (1 GiB in tests)",
           "model.pkl.bz2", "default limits: stopped by the 50:1 bzip2 ratio",
           _write("model.pkl.bz2", lambda big: A.pickle_bomb((10 if big else 1) * GiB, "bz2")), "MLS115", DEFAULTS),
    Attack("pickle-bomb-xz", "xz pickle: 10 GiB of zeros in a bytes payload, then os.system (1 GiB in tests)",
           "model.pkl.xz", "default limits: stopped by the 200:1 xz ratio",
           _write("model.pkl.xz", lambda big: A.pickle_bomb((10 if big else 1) * GiB, "xz")), "MLS115", DEFAULTS),
    Attack("pickle-near-ratio", "gzip'd pickle at about 400:1, just under the ratio: 3.5 GiB payload, then os.system "
           "(9 MB file; 256 MiB in tests)", "model.pkl.gz",
           "default limits: the worst case, 3.5 GiB decoded and discarded (never written) to reach the call",
           _write("model.pkl.gz", lambda big: A.near_ratio_pickle(3584 * A.MB if big else 256 * A.MB)), "MLS101", DEFAULTS),
    Attack("truncated-checkpoint", "torch.save checkpoint cut before its central directory, data.pkl calls os.system",
           "cut.pt", "local headers walked (as stream readers do)", _write("cut.pt", lambda big: A.truncated_checkpoint()),
           "MLS101", DEFAULTS),
    Attack("onnx-external-everywhere", "ONNX external-data locations escaping from a Constant, an If subgraph, a sparse "
           "initializer and a function", "model.onnx", "every tensor onnx.load or a runtime resolves",
           _write("model.onnx", lambda big: A.onnx_external_everywhere()), "MLS114", DEFAULTS),
    Attack("7z-declared", "7z whose header declares 2^62 bytes of content", "huge.7z", "max_expanded_mb 64",
           _write("huge.7z", lambda big: A.sevenzip_declaring(1 << 62)), "MLS115", TIGHT),
    Attack("nested-50", "archives nested 50 deep (zip, gzip, tar, bz2, xz in turn) around a malicious pickle",
           "nested.zip", "max_depth 8", _write("nested.zip", lambda big: A.nested(50)), "MLS115", TIGHT),
    Attack("zip-100k-members", "zip with 100,000 members (zip64 directory)", "many.zip", "max_members 20000",
           _write("many.zip", lambda big: A.many_member_zip(100_000)), "MLS115", TIGHT),
    Attack("pickle-10m-opcodes-limited", "pickle of 10M opcodes, the call at the very end", "flood.pkl",
           "max_opcodes 1,000,000", _write("flood.pkl", lambda big: A.opcode_flood(10_000_000)), "MLS115",
           {**TIGHT, "max_opcodes": 1_000_000}),
    Attack("pickle-10m-opcodes", "pickle of 10M opcodes, the call at the very end", "flood.pkl",
           "max_opcodes 20M (default): walked to the end", _write("flood.pkl", lambda big: A.opcode_flood(10_000_000)),
           "MLS101", TIGHT, slow=True),
    Attack("pickle-memo-1m", "pickle with a memo of 1,000,000 entries, then the call", "memo.pkl", "memory_mb 768",
           _write("memo.pkl", lambda big: A.memo_flood(1_000_000)), "MLS101", TIGHT),
    Attack("pickle-memo-sparse", "the call, then 20,000 LONG_BINPUTs 65,536 indices apart (100 KB asking for "
           "1.3 G memo slots)", "sparse_memo.pkl", "memory_mb 768 (memo holes bounded)",
           _write("sparse_memo.pkl", lambda big: A.memo_sparse_bomb(20_000)), "MLS101", TIGHT),
    Attack("pickle-deep-nesting", "the call, then tuples and lists nested 200,000 deep", "deep.pkl",
           "no recursion (iterative walk)", _write("deep.pkl", lambda big: A.deep_nesting(200_000)), "MLS101", TIGHT),
    Attack("json-deep-nesting", "tokenizer_config.json with a chat template and arrays nested 200,000 deep",
           "tokenizer_config.json", "detection never raises",
           _write("tokenizer_config.json", lambda big: b'{"chat_template": "{{ x }}", "a": ' + b"[" * 200_000
                  + b"]" * 200_000 + b"}"), "any", TIGHT),
    Attack("sparse-100g", "sparse file of 100 GiB + 1 byte that starts like a pickle", "huge.bin",
           "max_file_mb 102400 (not read)", _sparse("huge.bin", 100 * GiB + 1, pickle=False), "MLS115", TIGHT),
    Attack("sparse-100g-pickle", "sparse 100 GiB pickle: BINBYTES8 over the hole, the call at the end", "huge.pkl",
           "payload seeked over, never read", _sparse("huge.pkl", 100 * GiB, pickle=True), "MLS101",
           {**TIGHT, "max_file_mb": 200 * 1024}),
    Attack("fifo", "a FIFO named model.pkl in the tree", "model.pkl", "never opened (lstat)", _special("model.pkl", "fifo"),
           "skipped", TIGHT),
    Attack("device", "a character device named model.pt in the tree", "model.pt", "never opened (lstat)",
           _special("model.pt", "device"), "skipped", TIGHT),
    Attack("symlink-dev-zero", "model.bin -> /dev/zero", "model.bin", "symlinks never followed",
           _special("model.bin", "symlink"), "skipped", TIGHT),
]


def by_name(name: str) -> Attack:
    return next(a for a in ATTACKS if a.name == name)
