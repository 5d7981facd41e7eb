"""Formats are recognised by content in the gate; every pickle-based file is refused, whatever its name."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlsecops import fixtures as gate_fixtures
from mlsecops.stages.assess import formats
from tests.assess import models
from tests.assess.helpers import DATA
from mlsecops.stages.assess.fixtures import FAIR


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_safe_formats_are_told_apart_by_content(tmp_path: Path) -> None:
    found = {
        formats.model_format(_write(tmp_path, "a.bin", DATA.model(*FAIR)), "a.bin"),
        formats.model_format(models.skops_model(tmp_path / "b.skops"), "b.skops"),
        formats.model_format(models.xgboost_model(tmp_path / "c.json"), "c.json"),
        formats.model_format(models.xgboost_model(tmp_path / "d.ubj"), "d.ubj"),
        formats.model_format(models.lightgbm_model(tmp_path / "e.txt"), "e.txt"),
    }
    assert found == {"onnx", "skops", "xgboost-json", "xgboost-ubj", "lightgbm-text"}


def test_names_do_not_matter(tmp_path: Path) -> None:
    onnx_as_json = _write(tmp_path, "model.json", DATA.model(*FAIR))
    assert formats.model_format(onnx_as_json, "model.json") == "onnx"


@pytest.mark.parametrize("name, data", [
    ("model.pkl", gate_fixtures.malicious_pickle()),
    ("model.onnx", gate_fixtures.malicious_pickle()),
    ("model.skops", gate_fixtures.malicious_pickle()),
    ("model.joblib", gate_fixtures.benign_dict_pickle()),
    ("model.pt", gate_fixtures.booby_trapped_torch_zip()),
])
def test_pickles_are_refused_whatever_their_name(tmp_path: Path, name: str, data: bytes) -> None:
    with pytest.raises(formats.Refused, match="never loads pickles"):
        formats.model_format(_write(tmp_path, name, data), name)


def test_unknown_content_is_refused(tmp_path: Path) -> None:
    with pytest.raises(formats.Refused, match="cannot be run safely"):
        formats.model_format(_write(tmp_path, "m.bin", b"hello, not a model\n" * 10), "m.bin")


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    target = _write(tmp_path, "real.onnx", DATA.model(*FAIR))
    link = tmp_path / "link.onnx"
    link.symlink_to(target)
    with pytest.raises(OSError):
        formats.model_format(link, "link.onnx")


def test_parquet_is_recognised_by_its_magic(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    fastparquet = pytest.importorskip("fastparquet")
    fastparquet.write(str(tmp_path / "d.csv"), pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
    assert formats.data_format(tmp_path / "d.csv") == "parquet"
    (tmp_path / "e.parquet").write_text("a,b\n1,x\n")
    assert formats.data_format(tmp_path / "e.parquet") == "csv"
