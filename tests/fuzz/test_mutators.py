"""Mutators: deterministic for a seed, format-aware moves keep the container valid, bounded growth."""

from __future__ import annotations

import io
import random
import zipfile

import pytest

from mlsecops.stages.fuzz import mutators
from mlsecops.stages.fuzz.mutators import npy, protobuf, safetensors, zipfmt
from tests.fuzz.fixtures import npy_bytes, onnx_bytes, safetensors_bytes, torch_bytes


def _samples() -> dict[str, bytes]:
    out = {"safetensors": safetensors_bytes(), "numpy": npy_bytes(), "onnx": onnx_bytes()}
    try:
        out["pytorch-zip"] = torch_bytes()
    except ImportError:
        pass
    return out


@pytest.mark.parametrize("fmt", ["safetensors", "numpy", "onnx", "pytorch-zip"])
def test_mutation_is_reproducible_from_the_seed_and_changes_the_input(fmt):
    data = _samples().get(fmt)
    if data is None:
        pytest.skip("torch not installed")
    run = lambda seed: [mutators.mutate(random.Random(seed), fmt, data, [data]) for _ in range(1)]  # noqa: E731
    assert run(7) == run(7)
    rng = random.Random(1)
    mutants = [mutators.mutate(rng, fmt, data, [data]) for _ in range(300)]
    assert sum(m != data for m in mutants) > 250
    assert max(len(m) for m in mutants) < len(data) * 4 + (1 << 20)


def test_protobuf_tree_round_trips_and_mutants_stay_decodable_often():
    import onnx

    data = onnx_bytes()
    tree, _ = protobuf.parsed(data)
    assert protobuf.encode(tree) == data
    rng = random.Random(3)
    ok = 0
    for _ in range(200):
        try:
            onnx.load_model_from_string(protobuf.mutate(rng, data))
            ok += 1
        except Exception:  # noqa: BLE001
            pass
    assert ok > 100, "structure-aware mutants should mostly get past the protobuf decoder"


def test_safetensors_and_npy_headers_are_rebuilt_consistently():
    st = safetensors_bytes()
    header, body = safetensors.split(st)
    assert safetensors.join(header, body) == st
    major, minor, text, rest = npy.split(npy_bytes())
    assert major == 1 and "descr" in text and rest


def test_zip_mutants_have_valid_crcs():
    try:
        data = torch_bytes()
    except ImportError:
        pytest.skip("torch not installed")
    rng = random.Random(5)
    valid = 0
    for _ in range(100):
        out = zipfmt.mutate(rng, data)
        try:
            with zipfile.ZipFile(io.BytesIO(out)) as zf:
                valid += zf.testzip() is None
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            pass
    assert valid > 60


@pytest.mark.parametrize("fmt", ["safetensors", "numpy", "onnx", "pytorch-zip"])
def test_each_format_mutator_survives_its_own_mutants(fmt):
    """The fuzz loop mutates mutants: a format mutator that raised on one (a safetensors header whose
    data_offsets a previous move set to null) ended the sandbox run, and the run's end was reported as
    a crash of the loader under test. Every format mutator, called directly, on chains of its own
    mutants, must return bytes."""
    data = _samples().get(fmt)
    if data is None:
        pytest.skip("torch not installed")
    rng = random.Random(3)
    pool = [data]
    for _ in range(1500):
        parent = rng.choice(pool)
        child = mutators.for_format(fmt)(rng, parent, pool)
        assert isinstance(child, bytes)
        if len(pool) < 64:
            pool.append(child[: 1 << 16])


def test_a_mutator_that_raises_falls_back_to_byte_level_moves(monkeypatch):
    def broken(rng, data, others):
        raise TypeError("'NoneType' object is not iterable")

    monkeypatch.setitem(mutators._BY_FORMAT, "safetensors", broken)
    rng = random.Random(0)
    data = safetensors_bytes()
    out = [mutators.mutate(rng, "safetensors", data, [data]) for _ in range(50)]
    assert all(isinstance(m, bytes) for m in out) and sum(m != data for m in out) > 40
