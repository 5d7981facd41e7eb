"""Zip-aware mutations (PyTorch checkpoints, npz): change one member, rebuild the archive with
correct CRCs, sizes and offsets, so the mutant reaches the member's parser instead of
failing the zip checks. Members are mutated by what they are: `data.pkl` through the
pickle-opcode mutator, `.npy` members through the npy mutator, `byteorder` and `version`
records with odd values, tensor storages by truncation or byte moves. Now and then the
rebuilt archive's own records are damaged too (byte moves on the directory).
"""

from __future__ import annotations

import io
import random
import zipfile
from functools import lru_cache

from mlsecops.stages.fuzz.mutators import bytewise as bytemut
from mlsecops.stages.fuzz.mutators import npy, pickleops

MAX_MEMBERS = 4096
MAX_TOTAL = 256 * 1024 * 1024


@lru_cache(maxsize=8)
def members(data: bytes) -> tuple[tuple[str, bytes], ...] | None:
    """The archive's members in order, or None when it is not a readable zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS or sum(i.file_size for i in infos) > MAX_TOTAL:
                return None
            return tuple((i.filename, zf.read(i)) for i in infos)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError, RuntimeError):
        return None


def rebuild(entries: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for name, payload in entries:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            zf.writestr(info, payload)
    return out.getvalue()


def _member(rng: random.Random, name: str, payload: bytes) -> bytes:
    base = name.rsplit("/", 1)[-1]
    if base.endswith(".pkl"):
        return pickleops.mutate(rng, payload)
    if base.endswith(".npy"):
        return npy.mutate(rng, payload)
    if base == "byteorder":
        return rng.choice((b"big", b"little", b"", b"middle", b"little\x00"))
    if base in (".format_version", "version", ".storage_alignment"):
        return rng.choice((b"0", b"1", b"3", b"99", b"-1", b"", b"18446744073709551616", b"x"))
    if rng.random() < 0.4 and payload:
        return payload[: rng.randrange(len(payload))]
    return bytemut.mutate(rng, payload, None)


def mutate(rng: random.Random, data: bytes, others: list[bytes] | None = None) -> bytes:
    entries = members(data)
    if not entries or rng.random() < 0.1:
        return bytemut.mutate(rng, data, others)
    work = list(entries)
    move = rng.randrange(10)
    i = rng.randrange(len(work))
    name, payload = work[i]
    if move <= 6:
        pkl = [j for j, (n, _) in enumerate(work) if n.endswith(".pkl")]
        if pkl and rng.random() < 0.5:
            i = rng.choice(pkl)
            name, payload = work[i]
        work[i] = (name, _member(rng, name, payload))
    elif move == 7:
        work.pop(i)
    elif move == 8:
        work.insert(rng.randrange(len(work) + 1), (name, payload))
    else:
        work[i] = (rng.choice((name + "x", name.upper(), "../" + name, name.split("/", 1)[-1], "/" + name)), payload)
    out = rebuild(work)
    if rng.random() < 0.15:
        tail = max(0, len(out) - 2048)
        out = out[:tail] + bytemut.mutate(rng, out[tail:], None)
    return out
