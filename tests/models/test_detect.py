"""Format detection reads content, never trusts the name."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest

from mlsecops import fixtures
from mlsecops.formats.detect import detect
from mlsecops.formats.kinds import Format


def fmt(data: bytes, name: str = "x.bin") -> Format | None:
    return detect(io.BytesIO(data), name, len(data))


def zipped(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for k, v in members.items():
            zf.writestr(k, v)
    return out.getvalue()


def tarred(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tf:
        for k, v in members.items():
            info = tarfile.TarInfo(k)
            info.size = len(v)
            tf.addfile(info, io.BytesIO(v))
    return out.getvalue()


PICKLE = fixtures.benign_dict_pickle()


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        (PICKLE, "notes.txt", Format.pickle),
        (b"(lp0\nS'a'\np1\na.", "old.dat", Format.pickle),           # protocol 0 text pickle
        (b"cos\nsystem\n(S'echo'\ntR.", "readme.md", Format.pickle),
        (b"]q\x00(K\x01K\x02e.", "p1.bin", Format.pickle),            # protocol 1
        (fixtures.torch_zip({"w": 4}), "weights.txt", Format.pytorch_zip),
        (zipped({"a.npy": fixtures.npy_file([1.0])}), "a.zip", Format.npz),
        (zipped({"config.json": b"{}", "metadata.json": b"{}"}), "m.zip", Format.keras_v3),
        (zipped({"readme.txt": b"hi"}), "x.pt", Format.zip),
        (tarred({"a.pkl": PICKLE}), "a.bin", Format.tar),
        (gzip.compress(PICKLE), "a", Format.gzip),
        (bz2.compress(PICKLE), "a", Format.bz2),
        (lzma.compress(PICKLE), "a", Format.xz),
        (zlib.compress(PICKLE), "model.joblib", Format.zlib),
        (lzma.compress(PICKLE, format=lzma.FORMAT_ALONE), "model.joblib", Format.lzma),
        (fixtures.npy_file([1.0, 2.0]), "x.bin", Format.numpy),
        (fixtures.safetensors_file({"a": 2}), "x.bin", Format.safetensors),
        (b"GGUF\x03\x00\x00\x00" + b"\x00" * 16, "m", Format.gguf),
        (b"\x89HDF\r\n\x1a\n" + b"\x00" * 64, "m.bin", Format.hdf5),
        (b"7z\xbc\xaf\x27\x1c" + b"\x00" * 26, "x", Format.sevenzip),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n", "big.pt", Format.lfs_pointer),
        (fixtures.chat_template_config("{{ x }}"), "tokenizer_config.json", Format.config),
        (b"{% for m in messages %}{{ m }}{% endfor %}", "chat.j2", Format.jinja),
    ],
)
def test_detects_by_content(data: bytes, name: str, expected: Format) -> None:
    assert fmt(data, name) == expected


@pytest.mark.parametrize(
    "data",
    [b"", b"hello world\n", b"\x89PNG\r\n\x1a\n", b"cmod\n\xf8\n", b"import os\nos.system('x')\n", b'{"a": 1}', b"(just text)"],
)
def test_other_files_are_skipped_quietly(data: bytes) -> None:
    assert fmt(data, "x.pkl") is None


def test_npy_object_array_is_pickle_bearing(tmp_path: Path) -> None:
    import numpy as np

    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert fmt((tmp_path / "o.npy").read_bytes()) == Format.numpy_object


def test_legacy_torch_magic_is_recognised() -> None:
    magic = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little") + b"."
    assert fmt(magic + PICKLE) == Format.pytorch_legacy


@pytest.mark.parametrize("text", [
    b"torch==2.13.0\nnumpy==2.2.6\n",                  # TUPLE without a MARK: every unpickler fails at byte 0
    b"#version: 0.2\n\xc4\xa0 t\n",                 # merges.txt
    b"[PAD]\n[unused0]\n[UNK]\n",                      # vocab.txt
    b"import os\nos.system('x')\n",                    # INST: module `mport os` cannot exist
    b"tench\ngoldfish\n",                              # labels.txt
    b"N.B. this is a readme\n",                         # a None, then text no unpickler reads
])
def test_text_that_starts_like_protocol_0_is_not_a_pickle(text: bytes) -> None:
    """Decided by the unpickler's own reading, not by how the text looks."""
    assert fmt(text, "notes.txt") is None


@pytest.mark.parametrize("text", [
    b"cbuiltins\nexec\n(X>\nf = open('x')",           # nullifAI: imports, then breaks
    b"cmypkg\nfn\n(S'x'\ntR",                         # calls an unlisted import, then stops
    b"cos\nsystem",                                     # the pure-Python unpickler imports os.syste at EOF
    b"cat\ndog\nbird\nfish\n",                        # imports module `at`: a pickle (judged, not blocked)
    b"(lp0\nS'a'\np1\na.",                            # a whole protocol-0 pickle of data
])
def test_text_an_unpickler_reads_as_a_pickle_is_one(text: bytes) -> None:
    assert fmt(text, "a.txt") == Format.pickle
