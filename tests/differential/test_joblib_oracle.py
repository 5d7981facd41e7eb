"""joblib files against joblib: for generated objects dumped with every compressor joblib
registers (and its pre-0.10 `ZF` format, and hand-made streams joblib also opens), mlsecops
finds the marker imports exactly where `joblib.load` resolves them.

The oracle is joblib.load itself in a sandboxed child whose unpicklers' `find_class`
records each import and returns a stub for the markers (nothing is imported). Arrays of
every kind joblib writes inline (numeric, structured, object arrays holding markers) sit
between the markers, so the walker must step over exactly what joblib reads.
"""

from __future__ import annotations

import bz2
import io
import lzma
import os
import pickle
import random
import zlib
from pathlib import Path

import joblib
import numpy as np
import pytest
from joblib import compressor

from tests.differential import sandbox
from tests.differential.markers import marker
from tests.differential.oracle import MARKERS, markers, scan

OBJECTS = int(os.environ.get("MLSECOPS_DIFF_JOBLIB_OBJECTS", "45"))
SEED = int(os.environ.get("MLSECOPS_DIFF_SEED", "20261207"))

LOAD = r'''
from joblib import numpy_pickle, numpy_pickle_compat
numpy_pickle.NumpyUnpickler.find_class = recording(numpy_pickle.NumpyUnpickler.find_class)
numpy_pickle_compat.ZipNumpyUnpickler.find_class = recording(numpy_pickle_compat.ZipNumpyUnpickler.find_class)
import joblib, warnings
warnings.simplefilter("ignore")
out = {}
for path in json.load(sys.stdin):
    del seen[:]
    try:
        joblib.load(path)
        error = None
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:200]
    out[path] = {"imports": list(seen), "error": error}
print(json.dumps(out))
'''


def _array(rng: random.Random, depth: int) -> np.ndarray:
    kind = rng.randrange(7)
    shape = tuple(rng.randrange(0, 4) for _ in range(rng.randrange(0, 3)))
    if kind == 0:
        return np.arange(int(np.prod(shape)) or 1, dtype=rng.choice(["<f8", ">i4", "u1", "?", "<c16", "f2"]))
    if kind == 1:
        return np.zeros(shape, dtype=[("a", "<f4"), ("b", "S3"), ("c", "<i8", (2,))])
    if kind == 2:
        return np.full(shape, "txt", dtype="<U5")
    if kind == 3:
        arr = np.empty(rng.randrange(1, 4), dtype=object)
        for i in range(len(arr)):
            arr[i] = _value(rng, depth + 1)
        return arr
    if kind == 4:
        return np.asfortranarray(np.arange(12, dtype="<f8").reshape(3, 4))
    if kind == 5:
        return np.arange(rng.randrange(100_000, 400_000), dtype="u1")  # a payload past the walker's window
    return np.array(rng.randrange(1000))  # 0-d


def _value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(9 if depth < 3 else 5)
    if kind == 0:
        return rng.randrange(-(2**40), 2**40)
    if kind == 1:
        return rng.choice(["", "text", "ünï", "x" * 300])
    if kind == 2:
        return marker(rng.randrange(40), rng.randrange(100))
    if kind == 3:
        return rng.choice([None, True, 1.5, b"\x80\x04bytes", bytes(range(256))])
    if kind == 4:
        return _array(rng, depth)
    if kind == 5:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 6:
        return {f"k{i}": _value(rng, depth + 1) for i in range(rng.randrange(4))}
    if kind == 7:
        return tuple(_value(rng, depth + 1) for _ in range(rng.randrange(3)))
    return {"model": _array(rng, depth), "meta": marker(rng.randrange(40))}


def _crafted(folder: Path, rng: random.Random) -> list[Path]:
    """Streams joblib opens that its own dump never writes. (Not a gzip of two members:
    joblib's BinaryGzipFile spins on the second member's bytes for seconds before it fails;
    pandas reads both members, and so does mlsecops.)"""
    out = []
    for i in range(6):
        body = pickle.dumps([marker(i, 1), _value(rng, 2), marker(10 + i)], protocol=rng.choice([2, 3, 4, 5]))
        variants = {
            "lzma-64k": lzma.compress(body, format=lzma.FORMAT_ALONE, filters=[{"id": lzma.FILTER_LZMA1, "dict_size": 1 << 16}]),
            "bz2-empty-first": bz2.compress(b"") + bz2.compress(body),
            "zlib-empty-blocks": b"\x78\x9c" + b"\x00\x00\x00\xff\xff" * 50 + zlib.compress(body)[2:],
            "zfile": _zfile(body),
            "zfile-space": _zfile(body, space=True),
        }
        for name, data in variants.items():
            path = folder / f"crafted{i}-{name}.joblib"
            path.write_bytes(data)
            out.append(path)
    return out


def _zfile(data: bytes, space: bool = False) -> bytes:
    from joblib.numpy_pickle_compat import write_zfile

    buf = io.BytesIO()
    write_zfile(buf, data)
    raw = buf.getvalue()
    return raw[:21] + b" " + raw[21:] if space else raw


def test_joblib_files_agree_with_joblib(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    compressors = sorted(compressor._COMPRESSORS)
    assert {"zlib", "gzip", "bz2", "lzma", "xz"} <= set(compressors)
    files: list[Path] = []
    for n in range(OBJECTS):
        value = _value(rng)
        for name in [None, *compressors]:
            path = tmp_path / f"o{n}-{name or 'plain'}.joblib"
            joblib.dump(value, path, compress=(name, rng.randrange(1, 10)) if name else 0)
            files.append(path)
    files += _crafted(tmp_path, rng)
    answers = sandbox.run(LOAD, files, cwd=tmp_path)
    exact, wider, problems = 0, [], []
    for path in files:
        answer = answers[str(path)]
        loader = {n for m, n in answer["imports"] if m == MARKERS}
        ours = markers(scan(path, tmp_path / "work"))
        if answer["error"] and "crafted" not in path.name:
            problems.append(f"{path.name}: joblib failed: {answer['error']}")
        if loader == ours:
            exact += 1
        elif loader <= ours:
            wider.append(f"{path.name}: mlsecops also sees {sorted(ours - loader)}")
        else:
            problems.append(f"{path.name}: joblib imports {sorted(loader - ours)} that mlsecops missed")
    print(f"joblib oracle: {len(files)} files, {exact} exact")
    assert not problems and not wider, problems + wider


@pytest.mark.parametrize("name", sorted(compressor._COMPRESSORS))
def test_every_registered_compressor_is_recognised_by_content(tmp_path: Path, name: str) -> None:
    path = tmp_path / "m.bin"
    joblib.dump({"a": marker(1)}, path, compress=(name, 3))
    assert markers(scan(path, tmp_path / "w")) == {"M1"}
