"""The result caches key on the gate's own code: a fix to the scanner invalidates old verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlsecops import code_digest as cd
from mlsecops.stages.assess import cache as assess_cache
from mlsecops.stages.models import cache as models_cache
from mlsecops.stages.models.policy import ModelsPolicy


@pytest.fixture()
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "mlsecops"
    (root / "formats" / "pickle" / "__pycache__").mkdir(parents=True)
    (root / "formats" / "walker.py").write_text("A = 1\n")
    (root / "formats" / "pickle" / "vm.py").write_text("B = 2\n")
    (root / "formats" / "pickle" / "__pycache__" / "vm.cpython-311.pyc").write_bytes(b"\x00")
    (root / "data").mkdir()
    (root / "data" / "allow.json").write_text("{}")
    monkeypatch.setattr(cd, "files", lambda _name: root)
    return root


def test_any_change_to_code_or_data_changes_the_digest(fake_package: Path) -> None:
    first = cd.code_digest("formats", "data")
    assert cd.code_digest("formats", "data") == first
    (fake_package / "formats" / "pickle" / "__pycache__" / "vm.cpython-311.pyc").write_bytes(b"\x01")
    assert cd.code_digest("formats", "data") == first  # compiled files follow the sources
    (fake_package / "formats" / "pickle" / "vm.py").write_text("B = 3\n")
    second = cd.code_digest("formats", "data")
    assert second != first
    (fake_package / "data" / "allow.json").write_text('{"x": 1}')
    assert cd.code_digest("formats", "data") not in (first, second)
    (fake_package / "formats" / "pickle" / "vm.py").rename(fake_package / "formats" / "vm2.py")
    assert cd.code_digest("formats") != cd.code_digest("data")


def test_both_caches_move_to_a_new_folder_when_the_code_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    before = (models_cache.salt(ModelsPolicy()), assess_cache.salt())
    monkeypatch.setattr(models_cache, "code_digest", lambda *parts: "patched")
    monkeypatch.setattr(assess_cache, "code_digest", lambda *parts: "patched")
    after = (models_cache.salt(ModelsPolicy()), assess_cache.salt())
    assert before[0] != after[0] and before[1] != after[1]
