"""Truncated and corrupted files of every format: a finding or a clean result, never an exception."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import random
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest

from mlsecops import fixtures as fx
from mlsecops.stages.models.policy import ModelLimits
from mlsecops.stages.models.scanfile import Task, scan_file


def samples(tmp: Path) -> dict[str, bytes]:
    import h5py
    import numpy as np

    out: dict[str, bytes] = {
        "raw.pkl": fx.malicious_pickle(),
        "p2.pkl": fx.torch_state_dict_pickle({"w": 4}),
        "text.pkl": b"(lp0\nS'a'\np1\naF1.5\nI3\n.",
        "ckpt.pt": fx.booby_trapped_torch_zip(),
        "legacy.pt": b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little") + b"." + fx.torch_state_dict_pickle({"w": 2}),
        "arr.npy": fx.npy_file([1.0, 2.0, 3.0]),
        "model.safetensors": fx.safetensors_file({"a": 8}, {"k": "v"}),
        "tok.json": fx.chat_template_config(fx.SSTI_CHAT_TEMPLATE),
        "chat.j2": fx.SSTI_CHAT_TEMPLATE.encode(),
        "m.gz": gzip.compress(fx.malicious_pickle()),
        "m.bz2": bz2.compress(fx.malicious_pickle()),
        "m.xz": lzma.compress(fx.malicious_pickle()),
        "m.joblib": zlib.compress(fx.malicious_pickle()),
        "saved_model.pb": b"\x12\x21\x12\x1f\x0a\x0e\x0a\x05Const\x12\x05Const\x0a\x0d\x0a\x03bad\x12\x06PyFunc",
        "m.gguf": b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 23) + b"tokenizer.chat_template"
                  + struct.pack("<I", 8) + struct.pack("<Q", len(fx.SSTI_CHAT_TEMPLATE)) + fx.SSTI_CHAT_TEMPLATE.encode(),
    }
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    out["obj.npy"] = buf.getvalue()
    buf = io.BytesIO()
    np.savez_compressed(buf, a=np.arange(4))
    out["a.npz"] = buf.getvalue()
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", json.dumps({"class_name": "Lambda", "config": {"function": "x" * 50}}))
        zf.writestr("metadata.json", "{}")
    out["m.keras"] = zbuf.getvalue()
    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w") as tf:
        info = tarfile.TarInfo("a.pkl")
        data = fx.malicious_pickle()
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    out["a.tar"] = tbuf.getvalue()
    import py7zr

    with py7zr.SevenZipFile(tmp / "a.7z", "w") as z:
        z.writestr(fx.malicious_pickle(), "a.pkl")
    out["a.7z"] = (tmp / "a.7z").read_bytes()
    with h5py.File(tmp / "k.h5", "w") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Lambda", "config": {"name": "l", "function": "x" * 50}})
    out["k.h5"] = (tmp / "k.h5").read_bytes()
    return out


def variants(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    cuts = sorted({1, 2, 7, len(data) // 3, len(data) // 2, len(data) - 1, *(rng.randrange(1, len(data)) for _ in range(4))})
    out = [data[:c] for c in cuts if 0 < c < len(data)]
    for _ in range(8):
        b = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(b))
            b[pos] = rng.randrange(256)
        out.append(bytes(b))
    return out


# Formats whose reading ends in a C library that trusts the file (HDF5 behind h5py): a corrupt
# file may kill the process. Production scans every file in a worker process, and a worker that
# dies is a stage error that fails closed (tests/models/test_stage.py); here such variants are
# scanned in a child process so that a crash is that worker death, not the test run's.
C_PARSED = {"k.h5"}

_CHILD = """
import sys
from mlsecops.stages.models.policy import ModelLimits
from mlsecops.stages.models.scanfile import Task, scan_file
source, name, work = sys.argv[1:4]
size = len(open(source, "rb").read())
result = scan_file(Task(source=source, path=name, size=size, limits=ModelLimits(timeout_seconds=10), tmpdir=work))
sys.stdout.write("\\n".join(result.errors))
"""


def _scan_in_child(path: Path, name: str, work: Path) -> list[str] | None:
    """The scan's errors, or None when the process died of a signal (the worker death production reports)."""
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(path), name, str(work)], capture_output=True, text=True,
                          timeout=300)
    if proc.returncode < 0:
        return None
    assert proc.returncode == 0, (name, proc.stderr[-2000:])
    return [line for line in proc.stdout.splitlines() if line]


def test_every_format_truncated_or_corrupted_never_raises(tmp_path: Path) -> None:
    work = tmp_path / "w"
    work.mkdir()
    count = 0
    for name, data in samples(tmp_path).items():
        for k, variant in enumerate(variants(data, zlib.crc32(name.encode()) & 0xFFFF)):
            path = tmp_path / f"v{count}_{name}"
            path.write_bytes(variant)
            count += 1
            if name in C_PARSED:
                errors = _scan_in_child(path, name, work)
                assert errors is None or not any("internal error" in e for e in errors), (name, k, errors)
                continue
            task = Task(source=str(path), path=name, size=len(variant), limits=ModelLimits(timeout_seconds=10), tmpdir=str(work))
            try:
                result = scan_file(task)
            except Exception as exc:  # pragma: no cover - this is the bug the test looks for
                pytest.fail(f"{name} variant {k}: {type(exc).__name__}: {exc}")
            assert not any("internal error" in e for e in result.errors), (name, k, result.errors)
    assert count > 300
