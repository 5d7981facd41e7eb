"""Id for id, mlsecops reports what pip-audit itself reports on the shared advisory database.

The real `pip-audit` CLI queries a local OSV API built from ../shared/advisory-db
(benchmarks/deps_match.py, which has its own matcher); mlsecops audits the same
ML-stack pins online (same server) and offline (the database itself).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from .conftest import SHARED_DB

pytestmark = pytest.mark.skipif(not (SHARED_DB / "vulns").is_dir(), reason="../shared/advisory-db is not present beside the checkout: this comparison needs the full advisory database")


@pytest.mark.slow
def test_findings_equal_pip_audit_id_for_id(bench: ModuleType, tmp_path: Path) -> None:
    result = bench.compare(SHARED_DB.resolve(), tmp_path, online=True, warm=False)
    expected = result["pip_audit"]
    total = sum(len(ids) for ids in expected.values())
    assert total > 400, "the ML-stack pins should hit hundreds of advisories"
    assert sum(1 for ids in expected.values() if ids) >= 25
    for name in ("online", "offline-cold"):
        ids, _, report, diff = result["runs"][name]
        assert diff["ids"] == [], f"{name}: {diff['ids'][:5]}"
        assert diff["aliases"] == [], f"{name}: {diff['aliases'][:5]}"
        assert diff["errors"] == []
        assert {pkg: set(v) for pkg, v in ids.items() if v} == {pkg: set(v) for pkg, v in expected.items() if v}
        assert report["stages"]["deps"]["packages"] == 36
