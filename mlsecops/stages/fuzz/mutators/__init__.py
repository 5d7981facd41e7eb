"""Mutators by format: which function makes a mutant of a file of a given format.

Format-aware moves keep most of a file valid so mutants reach deep parser
code; a share of byte-level moves keeps the rest honest. These functions run
inside the sandbox worker (they parse untrusted bytes), never in the gate.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from mlsecops.stages.fuzz.mutators import bytewise as bytemut
from mlsecops.stages.fuzz.mutators import npy, pickleops, protobuf, safetensors, zipfmt

Mutator = Callable[[random.Random, bytes, "list[bytes] | None"], bytes]

_BY_FORMAT: dict[str, Mutator] = {
    "safetensors": safetensors.mutate,
    "numpy": npy.mutate,
    "npz": zipfmt.mutate,
    "onnx": protobuf.mutate,
    "pytorch-zip": zipfmt.mutate,
    "pytorch-legacy": pickleops.mutate,
    "hdf5": bytemut.mutate,
    "keras-h5": bytemut.mutate,
}


def for_format(fmt: str) -> Mutator:
    return _BY_FORMAT.get(fmt, bytemut.mutate)


def mutate(rng: random.Random, fmt: str, data: bytes, others: list[bytes] | None = None) -> bytes:
    """A mutant: mostly format-aware, one in four purely byte-level.

    A format mutator parses what earlier mutants made of the file; where it trips over one, the
    mutant is made byte-level instead. An exception here would end the sandbox run with the
    previous input still marked in flight, and be taken for a crash of the loader under test."""
    if rng.random() < 0.25:
        return bytemut.mutate(rng, data, others)
    try:
        return for_format(fmt)(rng, data, others)
    except Exception:  # noqa: BLE001 - see the docstring: never the target's fault
        return bytemut.mutate(rng, data, others)
