"""Zips against torch's reader: for generated archives (folder names, letter case, duplicates,
nesting, compression, missing version records, damage), the member `torch.load` unpickles
is one mlsecops walks, and it is the member mlsecops names as the checkpoint's data.pkl.

The oracle is torch.load(weights_only=True) in a sandboxed child. Every pickle-like member
imports a different marker class with GLOBAL; torch's restricted unpickler refuses the
import before doing anything and names it in its error, which tells which member torch
read. Nothing is imported or run.
"""

from __future__ import annotations

import io
import os
import random
import re
import struct
import warnings
import zipfile
from pathlib import Path

import pytest

from mlsecops.formats import ziparchive
from mlsecops.stages.models.analyzers.zips import torch_pickles
from tests.differential import sandbox
from tests.differential.oracle import markers, scan

pytest.importorskip("torch")

ZIPS = int(os.environ.get("MLSECOPS_DIFF_ZIPS", "800"))
SEED = int(os.environ.get("MLSECOPS_DIFF_SEED", "20261207"))

LOAD = r'''
import re, warnings, torch
warnings.simplefilter("ignore")
out = {}
for path in json.load(sys.stdin):
    try:
        torch.load(path, weights_only=True)
        answer = "loaded"
    except Exception as exc:
        found = re.findall(r"tests\.differential\.markers\.(M\d+)", str(exc))
        answer = found[0] if found else "error: " + str(exc).splitlines()[0][:160]
    out[path] = answer
print(json.dumps(out))
'''

NAMES = ["{top}/data.pkl", "{top}/DATA.PKL", "{top}/Data.pkl", "{top}/sub/data.pkl", "data.pkl", "{other}/data.pkl",
         "{top}/data/0", "{top}/extra.pkl", "{top}\\data.pkl", "./{top}/data.pkl", "{top}//data.pkl", "/{top}/data.pkl",
         "{top}/data.pkl/", "{top}/data.pkl ", "{top}/byteorder", "{top}/.data/serialization_id"]


def _pickle(i: int) -> bytes:
    return b"\x80\x02ctests.differential.markers\nM%d\n)\x81." % i


def _archive(rng: random.Random) -> tuple[bytes, dict[str, list[int]], str]:
    top = rng.choice(["archive", "a", "model", "x y", "ckpt.v2"])
    other = rng.choice(["b", "archive2", top.upper()])
    names = [rng.choice(NAMES).format(top=top, other=other) for _ in range(rng.randrange(1, 5))]
    if rng.random() < 0.5:
        names.insert(0, f"{top}/data.pkl")
    version = rng.random()
    if version < 0.8:
        names.insert(rng.randrange(len(names) + 1), f"{top}/version")
    elif version < 0.9:
        names.insert(rng.randrange(len(names) + 1), f"{top}/.data/version")
    owners: dict[str, list[int]] = {}
    out = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w") as zf:
        warnings.simplefilter("ignore")  # duplicate names are on purpose
        for i, name in enumerate(names):
            method = zipfile.ZIP_DEFLATED if rng.random() < 0.3 else zipfile.ZIP_STORED
            if name.endswith(("version",)):
                data = b"3\n"
            elif name.endswith("byteorder"):
                data = b"little"
            else:
                data = _pickle(i)
                owners.setdefault(name, []).append(i)
            info = zipfile.ZipInfo(name)
            info.compress_type = method
            zf.writestr(info, data)
    data, damage = _damage(rng, out.getvalue())
    return data, owners, damage


def _damage(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    roll = rng.random()
    if roll < 0.06:
        return data[: data.index(b"PK\x01\x02")], "no central directory"
    if roll < 0.10:
        return data[: rng.randrange(len(data) // 2, len(data))], "cut"
    if roll < 0.14:
        buf = bytearray(data)
        cd = buf.index(b"PK\x01\x02")
        struct.pack_into("<I", buf, cd + 16, 0xDEADBEEF)
        return bytes(buf), "a CRC that lies"
    return data, ""


REFUSALS = {"not in a subdirectory": "torch refused: members in several folders or none",
            "failed finding central directory": "torch refused: no central directory",
            'hasRecord("version")': "torch refused: no version record",
            "locating file data.pkl": "torch refused: no data.pkl",
            "TorchScript": "torch refused: TorchScript with weights_only"}


def _kind(answer: str) -> str:
    if answer.startswith("M"):
        return "torch unpickled a member"
    return next((label for key, label in REFUSALS.items() if key in answer), f"torch: {answer[:60]}")


def test_the_member_torch_unpickles_is_the_one_mlsecops_walks(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    files, owners, damage = [], {}, {}
    for n in range(ZIPS):
        data, own, how = _archive(rng)
        path = tmp_path / f"z{n}.pt"
        path.write_bytes(data)
        files.append(path)
        owners[path], damage[path] = own, how
    answers = sandbox.run(LOAD, files, cwd=tmp_path)
    outcomes: dict[str, int] = {}
    problems: list[str] = []
    for path in files:
        answer = answers[str(path)]
        kind = _kind(answer)
        outcomes[kind] = outcomes.get(kind, 0) + 1
        found = markers(scan(path, tmp_path / "work"))
        if damage[path] != "cut":
            # Whatever torch makes of it, every intact pickle member is walked (a stream reader,
            # `unzip -F`, or another zip library may load any of them).
            expected = {f"M{i}" for name, idx in owners[path].items() if not name.endswith("/")
                        and not re.search(r"(^|/)data/\d+$", name) for i in idx}
            if not expected <= found:
                problems.append(f"{path.name} ({damage[path] or 'intact'}): members not walked {sorted(expected - found)}")
        if not answer.startswith("M"):
            continue
        data = path.read_bytes()
        try:
            entries = ziparchive.read_directory(io.BytesIO(data), len(data), 1000).entries
        except ziparchive.ZipFormatError:
            entries = ziparchive.local_entries(io.BytesIO(data), len(data), 1000)
        named = {f"M{i}" for name in torch_pickles(entries) for i in owners[path].get(name, [])}
        if answer not in found:
            problems.append(f"{path.name}: torch unpickles {answer}, mlsecops did not walk it ({sorted(found)})")
        if answer not in named:
            problems.append(f"{path.name}: torch unpickles {answer}, mlsecops's data.pkl is {sorted(named)}")
    print(f"torch zip oracle: {len(files)} archives: {outcomes}")
    assert outcomes.get("torch unpickled a member", 0) > len(files) // 8  # the generator reaches torch's unpickler
    assert not problems, problems[:20]


def test_a_zip_torch_refuses_is_still_scanned(tmp_path: Path) -> None:
    """Multiple top folders make torch refuse the archive; other readers take any member."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("a/version", "3\n")
        zf.writestr("b/data.pkl", _pickle(3))
    path = tmp_path / "two.pt"
    path.write_bytes(out.getvalue())
    assert re.match(r"error: .*not in a subdirectory", sandbox.run(LOAD, [path], cwd=tmp_path)[str(path)])
    assert markers(scan(path, tmp_path / "w")) == {"M3"}
