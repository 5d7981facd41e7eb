"""Corpus and reproducer folders under an untrusted checkout: no symlink is ever followed."""

from __future__ import annotations

import os

import pytest

from mlsecops.stages.fuzz import corpus, storage
from mlsecops.stages.fuzz.targets import Target


def test_a_committed_symlink_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "repo"
    (root / ".mlsecops").mkdir(parents=True)
    os.symlink(outside, root / ".mlsecops" / "reproducers")
    with pytest.raises(storage.UnsafeFolder):
        storage.safe_folder(root, ".mlsecops/reproducers")
    with pytest.raises(storage.UnsafeFolder):
        storage.safe_folder(root, "../elsewhere")
    folder = storage.safe_folder(root, ".mlsecops/fuzz-corpus/x")
    os.symlink(outside / "secret", folder / "link")
    storage.write_file(folder, "link", b"data")
    assert not (outside / "secret").exists() and (folder / "link").read_bytes() == b"data"


def test_corpus_reads_only_regular_files_and_prunes_to_its_limit(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("token")
    target = Target(kind="loader", path="a.npy", key="loader:a.npy", format="numpy")
    new = []
    for i in range(5):
        p = tmp_path / f"n{i}"
        p.write_bytes(bytes([i]) * 400_000)
        new.append(p)
    assert corpus.save(root, ".mlsecops/fuzz-corpus", target, new) == 5
    folder = root / ".mlsecops" / "fuzz-corpus" / "loader-numpy"
    os.symlink(secret, folder / "evil")
    assert all(not p.is_symlink() for p in corpus.load(root, ".mlsecops/fuzz-corpus", target))
    assert corpus.prune(root, ".mlsecops/fuzz-corpus", 1) >= 2
    assert sum(p.stat().st_size for p in storage.regular_files(folder)) <= 1024 * 1024
