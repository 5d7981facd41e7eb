"""Inference fuzzing of ONNX models: inputs built from the declared shapes and types. Sandbox only.

Symbolic or free dimensions take 0 (empty), 1, small odd sizes or the declared
value; values come from ordinary generators (zeros, small normals, small
integers) or edge generators (NaN, ±Inf, subnormals, dtype extremes, -0.0).
A crash or a hang of the runtime is the finding; a runtime error on a bad
shape is a refusal, not a finding. Non-finite outputs are reported only when
every input was finite and ordinary, because extremes overflow legitimately.
Inputs travel as .npz bytes (no pickle), which is also the reproducer format.
The value generators (`values`, `FLOAT_EDGES`) are shared with the assess
stage's `edge_values` robustness check, which puts the same edge values into
rows of the team's own evaluation data instead of synthetic tensors.
"""

from __future__ import annotations

import io
import json
import random
from typing import Any

import numpy as np

MAX_ELEMENTS = 1 << 18
DIMS = (0, 1, 1, 2, 3, 7, 16)
TYPES = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
    "tensor(int8)": np.int8, "tensor(int16)": np.int16, "tensor(int32)": np.int32, "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8, "tensor(uint16)": np.uint16, "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64, "tensor(bool)": np.bool_, "tensor(string)": np.str_,
}
FLOAT_EDGES = ("nan", "inf", "-inf", "subnormal", "max", "min", "negzero", "mixed")
ORDINARY = ("zeros", "ones", "normal", "small-int")


def _shape(declared: list[Any], rng: random.Random | None) -> list[int]:
    out = []
    for d in declared:
        if isinstance(d, int) and d >= 0:
            out.append(d if rng is None or rng.random() < 0.8 else rng.choice(DIMS))
        else:
            out.append(1 if rng is None else rng.choice(DIMS))
    return out


def values(dtype: Any, shape: list[int], kind: str, rng: np.random.Generator) -> np.ndarray:
    if dtype is np.str_:
        return np.full(shape, "" if kind == "zeros" else "a\u0000\u202e" * (kind != "ones"), dtype=np.str_)
    if dtype is np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        if kind in ("max", "inf"):
            return np.full(shape, info.max, dtype=dtype)
        if kind in ("min", "-inf"):
            return np.full(shape, info.min, dtype=dtype)
        if kind == "zeros":
            return np.zeros(shape, dtype=dtype)
        high = 4 if kind in ORDINARY else int(min(info.max, 2**31 - 1))
        return rng.integers(max(info.min, -high), high, size=shape, endpoint=True).astype(dtype)
    finfo = np.finfo(dtype)
    table = {
        "zeros": 0.0, "ones": 1.0, "nan": np.nan, "inf": np.inf, "-inf": -np.inf, "negzero": -0.0,
        "subnormal": float(finfo.smallest_subnormal), "max": float(finfo.max), "min": float(finfo.min),
    }
    if kind in table:
        return np.full(shape, table[kind], dtype=dtype)
    if kind == "mixed":
        pool = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, finfo.max, finfo.smallest_subnormal, 1.0], dtype=dtype)
        return rng.choice(pool, size=shape)
    return rng.standard_normal(size=shape).astype(dtype) if kind == "normal" else rng.integers(-3, 4, size=shape).astype(dtype)


def feeds(sess: Any, rng: random.Random | None) -> tuple[dict[str, np.ndarray], bool] | None:
    """Inputs for one run and whether they are all finite and ordinary; None if unsupported."""
    kind = "normal" if rng is None else rng.choice(ORDINARY + FLOAT_EDGES)
    nprng = np.random.default_rng(0 if rng is None else rng.randrange(2**32))
    out: dict[str, np.ndarray] = {}
    for inp in sess.get_inputs():
        dtype = TYPES.get(inp.type)
        if dtype is None:
            return None
        shape = _shape(list(inp.shape or []), rng)
        if int(np.prod(shape, dtype=np.float64)) > MAX_ELEMENTS:
            shape = [min(d, 1) for d in shape]
        out[inp.name] = values(dtype, shape, kind, nprng)
    return out, kind in ORDINARY


def plain_feeds(sess: Any) -> dict[str, np.ndarray] | None:
    made = feeds(sess, None)
    return made[0] if made else None


def to_npz(values: dict[str, np.ndarray], ordinary: bool) -> bytes:
    """One JSON line (input names, whether the values are ordinary), then an .npz without pickles."""
    buf = io.BytesIO()
    np.savez(buf, *values.values())
    head = json.dumps({"names": list(values), "ordinary": ordinary}).encode()
    return head + b"\n" + buf.getvalue()


def from_npz(data: bytes) -> tuple[dict[str, np.ndarray], bool]:
    head, _, raw = data.partition(b"\n")
    meta = json.loads(head)
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        arrays = [npz[f"arr_{i}"] for i in range(len(npz.files))]
    return dict(zip(meta["names"], arrays, strict=False)), bool(meta.get("ordinary"))


def nonfinite_outputs(sess: Any, outputs: list[Any]) -> list[str]:
    """Names of float outputs holding NaN or Inf."""
    bad = []
    for meta, value in zip(sess.get_outputs(), outputs, strict=False):
        arr = np.asarray(value) if not isinstance(value, np.ndarray) else value
        if arr.dtype.kind == "f" and arr.size and not np.isfinite(arr).all():
            bad.append(meta.name)
    return bad
