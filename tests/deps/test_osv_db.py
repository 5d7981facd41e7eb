"""Loading a local OSV database: folders and zips, JSON and YAML, its cache, and what cannot be read."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest
from packaging.version import Version

from mlsecops.stages.deps.advisories import osv_db
from mlsecops.stages.deps.advisories.matching import affects

from .conftest import BASE_RECORDS, record, write_db


def test_folder_of_yaml_is_indexed_by_canonical_name(db: Path, tmp_path: Path) -> None:
    loaded = osv_db.load(db, tmp_path / "cache")
    assert loaded.record_count == len(BASE_RECORDS)
    assert [r.id for r in loaded.records("pyyaml")] == ["PYSEC-2020-96"]  # written as "PyYAML"
    assert {r.id for r in loaded.records("jinja2")} == {"PYSEC-2019-217", "GHSA-462w-v97r-4m45", "PYSEC-2021-66", "PYSEC-2099-1"}
    assert loaded.problems == []


def test_unquoted_yaml_versions_stay_strings(tmp_path: Path) -> None:
    path = tmp_path / "db" / "pkg.yaml"
    path.parent.mkdir()
    path.write_text("id: X-1\naffected:\n- package: {name: pkg, ecosystem: PyPI}\n  ranges:\n  - type: ECOSYSTEM\n"
                    "    events:\n    - introduced: 0\n    - fixed: 2.10\n", encoding="utf-8")
    loaded = osv_db.load(tmp_path / "db")
    (rec,) = loaded.records("pkg")
    assert rec.affected[0].ranges[0].events[1].fixed == "2.10"  # not the float 2.1
    assert affects(rec, "pkg", Version("2.9")) is True


def test_zip_of_json_records_like_osv_all_zip(tmp_path: Path) -> None:
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for rec in BASE_RECORDS:
            zf.writestr(f"{rec['id']}.json", json.dumps(rec))
        zf.writestr("README.txt", "not a record")
    loaded = osv_db.load(archive, tmp_path / "cache")
    assert loaded.record_count == len(BASE_RECORDS) and loaded.files == len(BASE_RECORDS)


def test_json_files_may_hold_a_list_of_records(tmp_path: Path) -> None:
    path = tmp_path / "db" / "many.json"
    path.parent.mkdir()
    path.write_text(json.dumps(BASE_RECORDS[:2]), encoding="utf-8")
    assert osv_db.load(tmp_path / "db").record_count == 2


def test_unreadable_records_are_reported_not_skipped(tmp_path: Path) -> None:
    db = write_db(tmp_path / "db", BASE_RECORDS[:1])
    (db / "vulns" / "broken.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    (db / "vulns" / "noid.json").write_text(json.dumps({"affected": []}), encoding="utf-8")
    loaded = osv_db.load(db)
    assert loaded.record_count == 1
    assert len(loaded.problems) == 2
    assert any("broken.yaml" in p and "YAML" in p for p in loaded.problems)
    assert any("noid.json" in p and "id" in p for p in loaded.problems)


def test_oversized_record_is_a_problem(tmp_path: Path) -> None:
    db = write_db(tmp_path / "db", BASE_RECORDS[:2])
    big = record("PYSEC-BIG", "pkg", versions=[f"1.{i}" for i in range(40_000)])
    write_db(db, [big])
    loaded = osv_db.load(db, max_record_mb=0.1)
    assert loaded.record_count == 2
    assert any("PYSEC-BIG" in p and "max_record_mb" in p for p in loaded.problems)


@pytest.mark.parametrize("make", ["missing", "empty", "file"])
def test_unusable_databases_raise(tmp_path: Path, make: str) -> None:
    target = tmp_path / "db"
    if make == "empty":
        target.mkdir()
    elif make == "file":
        target.write_text("id: X\n")
    with pytest.raises(osv_db.OsvDatabaseError, match="advisory database"):
        osv_db.load(target)


def test_cache_is_reused_and_refreshed_per_file(db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    osv_db.load(db, cache)
    parsed: list[str] = []
    real = osv_db.parse_files

    def spy(kind: str, base: str, names: list[str], max_bytes: int):  # type: ignore[no-untyped-def]
        parsed.extend(names)
        return real(kind, base, names, max_bytes)

    monkeypatch.setattr(osv_db, "parse_files", spy)
    assert osv_db.load(db, cache).record_count == len(BASE_RECORDS)
    assert parsed == []  # nothing re-parsed
    changed = db / "vulns" / "requests" / "PYSEC-2018-28.yaml"
    changed.write_text(changed.read_text().replace("2.20.0", "2.20.1"), encoding="utf-8")
    os.utime(changed, ns=(1, 1))
    again = osv_db.load(db, cache)
    assert parsed == ["vulns/requests/PYSEC-2018-28.yaml"]
    assert again.records("requests")[0].affected[0].ranges[0].events[1].fixed == "2.20.1"


def test_indexing_a_large_database_reports_progress(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A first run over a large database parses thousands of files: the stage must not go silent."""
    from mlsecops.stages.deps.advisories import osv_db

    from .conftest import record, write_db

    n = osv_db.INDEX_CHUNK * 2 + 7
    write_db(tmp_path / "db", [record(f"PYSEC-2000-{i}", f"pkg{i}", fixed="1.0") for i in range(n)], fmt="json")
    seen: list[tuple[int, int]] = []
    db = osv_db.load(tmp_path / "db", cache_dir=tmp_path / "cache", progress=lambda d, t: seen.append((d, t)))
    assert db.record_count == n
    assert seen == [(osv_db.INDEX_CHUNK, n), (osv_db.INDEX_CHUNK * 2, n), (n, n)]
    again: list[tuple[int, int]] = []
    osv_db.load(tmp_path / "db", cache_dir=tmp_path / "cache", progress=lambda d, t: again.append((d, t)))
    assert again == []  # everything came from the cache: nothing to report
