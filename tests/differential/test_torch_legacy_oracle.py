"""Legacy torch checkpoints against torch's own reader: every pickle torch.load unpickles,
mlsecops walks.

torch.load (weights_only=False) still reads two old formats: a tar (tried first for every
file, with tarfile: `storages` and `tensors` are pickles interleaved with raw data, then
`pickle`) and five stacked pickles followed by raw storages. The generator varies what a
careful attacker varies: tar header formats (V7 without the `ustar` magic, ustar, GNU,
PAX), member order, duplicate names (tarfile takes the last), hard and symbolic links
standing for the member torch reads, member types tarfile does not know (extracted as
files), counts spelled every way the unpickler accepts (hex INT, LONG, bools), storage
types and sizes, pickles without PROTO, persistent ids. Every pickle imports a marker class.

The oracle is torch.load in a sandboxed child with a pickle module whose find_class records
every import and returns a stub for the markers (nothing of them is imported). The
relation: every marker torch imports, the gate reports.
"""

from __future__ import annotations

import io
import os
import random
import struct
import tarfile
from pathlib import Path

import pytest

from benchmarks.redteam.archives import v7
from tests.differential import sandbox
from tests.differential.oracle import MARKERS, markers, scan

pytest.importorskip("torch")

FILES = int(os.environ.get("MLSECOPS_DIFF_TORCH_LEGACY", "240"))
SEED = int(os.environ.get("MLSECOPS_DIFF_SEED", "20261207"))
MAGIC = 0x1950A86A20F9469CFC6C

LOAD = r'''
import types, pickle, warnings, torch
warnings.simplefilter("ignore")

class Recording(pickle.Unpickler):
    find_class = recording(pickle.Unpickler.find_class)

module = types.ModuleType("recording_pickle")
module.Unpickler = Recording
module.load = lambda f, **kw: Recording(f, **kw).load()
out = {}
for path in json.load(sys.stdin):
    seen.clear()
    try:
        torch.load(path, weights_only=False, pickle_module=module)
        end = "loaded"
    except Exception as exc:
        end = "error: " + (str(exc).splitlines() or [""])[0][:160]
    out[path] = {"markers": sorted({n for m, n in seen if m == "tests.differential.markers"}), "end": end}
print(json.dumps(out))
'''

STORAGES = {"FloatStorage": 4, "DoubleStorage": 8, "LongStorage": 8, "ByteStorage": 1, "HalfStorage": 2,
            "BoolStorage": 1}


class Gen:
    """One generated file; every pickle in it imports the next marker."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.next_marker = 0

    def marker(self) -> bytes:
        """GLOBAL of a fresh marker, then POP: an import that leaves the stack as it was."""
        i = self.next_marker
        self.next_marker += 1
        return b"c" + MARKERS.encode() + b"\nM%d\n0" % i

    def proto(self) -> bytes:
        return self.rng.choice([b"", b"\x80\x02", b"\x80\x04"])

    def integer(self, n: int) -> bytes:
        """n spelled as the C unpickler reads it (torch uses the pickle module it is given)."""
        forms = [b"K" + bytes([n]), b"I%d\n" % n, b"I0x%x\n" % n, b"J" + struct.pack("<i", n), b"L%dL\n" % n,
                 b"\x8a\x01" + bytes([n]), b"I0%o\n" % n if n else b"I00\n"]
        if n in (0, 1):
            forms.append(b"\x88" if n else b"\x89")
        return self.rng.choice(forms)

    def text(self, s: str) -> bytes:
        raw = s.encode()
        return self.rng.choice([b"X" + struct.pack("<I", len(raw)) + raw, b"V" + raw + b"\n", b"\x8c" + bytes([len(raw)]) + raw])

    def pickle(self, body: bytes) -> bytes:
        return self.proto() + self.marker() + body + b"."

    # -- the tar format ------------------------------------------------------------------------
    def storages(self) -> tuple[bytes, list[tuple[int, int, int]]]:
        """The storages stream and (key, element size, numel) of each storage."""
        n = self.rng.randrange(0, 3)
        out = [self.pickle(self.integer(n))]
        made = []
        for key in range(n):
            kind, size = self.rng.choice(list(STORAGES.items()))
            module = self.rng.choice([b"torch", b"anything"])  # torch's find_class takes the name from any module
            numel = self.rng.randrange(0, 5)
            out.append(self.pickle(b"(" + self.integer(key) + self.text("cpu") + b"c" + module + b"\n" + kind.encode()
                                   + b"\nt"))
            out.append(struct.pack("<q", numel) + self.rng.randbytes(numel * size))
            made.append((key, size, numel))
        out.append(self.pickle(b"]"))  # storage views
        return b"".join(out), made

    def tensors(self, made: list[tuple[int, int, int]]) -> bytes:
        chosen = [m for m in made if self.rng.random() < 0.7]
        out = [self.pickle(self.integer(len(chosen)))]
        for i, (key, _, numel) in enumerate(chosen):
            out.append(self.pickle(b"(" + self.integer(10 + i) + self.integer(key) + self.text("FloatTensor") + b"t"))
            out.append(struct.pack("<i", 1) + b"\0" * 4 + struct.pack("<qqq", numel, 1, 0))
        return b"".join(out)

    def tar(self) -> bytes:
        storages, made = self.storages()
        members: list[tuple[str, bytes, bytes]] = [
            ("sys_info", self.pickle(b"}"), tarfile.REGTYPE),
            ("storages", storages, tarfile.REGTYPE),
            ("tensors", self.tensors(made), tarfile.REGTYPE),
            ("pickle", self.pickle(b"}" + (self.text("w") + b"(c" + MARKERS.encode() + b"\nM39\n" + self.text("f.py")
                                             + self.text("")
                                             + b"tQs" if self.rng.random() < 0.3 else b"")), tarfile.REGTYPE),
        ]
        self.rng.shuffle(members)
        for name in ("storages", "tensors", "pickle"):
            roll = self.rng.random()
            index = next(i for i, m in enumerate(members) if m[0] == name)
            real = members[index]
            if roll < 0.15:  # an earlier member of the same name: torch takes the last
                members.insert(0, (name, self.pickle(self.integer(0)), tarfile.REGTYPE))
            elif roll < 0.30:  # a hard link to an earlier member holding the content
                members[index] = (name, b"", tarfile.LNKTYPE)
                members.insert(0, (f"blob_{name}", real[1], tarfile.REGTYPE))
            elif roll < 0.40 and name == "pickle":  # a symbolic link (extractfile follows it)
                members[index] = (name, b"", tarfile.SYMTYPE)
                members.append((f"sym_{name}", real[1], tarfile.REGTYPE))
            elif roll < 0.50:  # a type tarfile does not know: extracted as a regular file
                members[index] = (name, real[1], b"Z")
        fmt = self.rng.choice([tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, "v7"])
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT if fmt == "v7" else fmt) as tf:
            for name, data, kind in members:
                info = tarfile.TarInfo(name)
                info.type = kind
                if kind in (tarfile.LNKTYPE, tarfile.SYMTYPE):
                    info.linkname = f"blob_{name}" if kind == tarfile.LNKTYPE else f"sym_{name}"
                    tf.addfile(info)
                else:
                    info.size = len(data)
                    tf.addfile(info, io.BytesIO(data))
        return v7(out.getvalue()) if fmt == "v7" else out.getvalue()

    # -- the stacked format --------------------------------------------------------------------
    def stacked(self) -> bytes:
        n = self.rng.randrange(0, 3)
        sizes = [(str(k), *self.rng.choice(list(STORAGES.items())), self.rng.randrange(0, 4)) for k in range(n)]
        persids = b"".join(
            self.text(f"s{k}") + b"(" + self.text("storage") + b"ctorch\n" + kind.encode() + b"\n" + self.text(k)
            + self.text("cpu") + self.integer(numel) + b"NtQ" for k, kind, _, numel in sizes)
        module_id = (self.text("m") + b"(" + self.text("module") + b"c" + MARKERS.encode() + b"\nM38\n" + self.text("")
                     + self.text("") + b"tQ") if self.rng.random() < 0.3 else b""
        main = self.pickle(b"}(" + persids + module_id + b"u")
        keys = self.pickle(b"(" + b"".join(self.text(k) for k, *_ in sizes) + b"l")
        data = b"".join(struct.pack("<q", numel) + self.rng.randbytes(numel * size) for _, _, size, numel in sizes)
        magic = self.pickle(b"\x8a\x0a" + MAGIC.to_bytes(10, "little"))
        return magic + self.pickle(self.rng.choice([b"M\xe9\x03", b"I1001\n", b"I0x3e9\n", b"J\xe9\x03\x00\x00"])) \
            + self.pickle(b"}") + main + keys + data


def test_every_pickle_torch_load_unpickles_in_a_legacy_checkpoint_is_walked(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    files = []
    for n in range(FILES):
        gen = Gen(rng)
        path = tmp_path / f"legacy{n}.pt"
        path.write_bytes(gen.tar() if n % 3 else gen.stacked())
        files.append(path)
    answers = sandbox.run(LOAD, files, cwd=tmp_path)
    problems = []
    loaded = 0
    for path in files:
        answer = answers[str(path)]
        loaded += answer["end"] == "loaded"
        found = markers(scan(path, tmp_path / "work"))
        missed = set(answer["markers"]) - found
        if missed:
            problems.append(f"{path.name}: torch imports {sorted(missed)}, mlsecops did not report them "
                            f"(torch: {answer['end']}; mlsecops: {sorted(found)})")
    print(f"torch legacy oracle: {len(files)} files, {loaded} loaded by torch")
    assert loaded > len(files) // 2  # the generator reaches torch's whole reading, not just its first error
    assert not problems, "\n".join(problems[:10])
