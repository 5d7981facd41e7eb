"""The offline VulnerabilityService, pip-audit's Auditor over it, and alias folding."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from packaging.version import Version
from pip_audit._service import ResolvedDependency, SkippedDependency, VulnerabilityResult
from pip_audit._service.interface import VulnerabilityID

from mlsecops.stages.deps.advisories import osv_db
from mlsecops.stages.deps.advisories.service import AdvisoryServiceError, GuardedService, OfflineOsvService, query_url
from mlsecops.stages.deps.audit import audit, fold_aliases

from .conftest import record, write_db


def _service(db: Path) -> GuardedService:
    return GuardedService(OfflineOsvService(osv_db.load(db)), time.monotonic() + 60, "test db")


def test_query_skips_withdrawn_and_unaffected_records(db: Path) -> None:
    svc = OfflineOsvService(osv_db.load(db))
    _, results = svc.query(ResolvedDependency("Jinja2", Version("2.10")))
    assert sorted(r.id for r in results) == ["CVE-2019-10906", "PYSEC-2019-217", "PYSEC-2021-66"]
    _, none = svc.query(ResolvedDependency("jinja2", Version("2.11.3")))
    assert none == []
    assert svc.query(SkippedDependency("x", "why"))[1] == []


def test_ids_are_chosen_like_pip_audit_does(db: Path) -> None:
    # VulnerabilityResult.create puts PYSEC ids first, then CVE: a GHSA record with a CVE alias reports the CVE.
    _, results = OfflineOsvService(osv_db.load(db)).query(ResolvedDependency("jinja2", Version("2.10")))
    ghsa = next(r for r in results if "GHSA-462w-v97r-4m45" in r.aliases and r.id != "PYSEC-2019-217")
    assert ghsa.id == "CVE-2019-10906"


def test_auditor_folds_a_record_and_its_alias_record_into_one(db: Path) -> None:
    outcome = audit([ResolvedDependency("jinja2", Version("2.10"))], _service(db))
    vulns = outcome.vulns[("jinja2", Version("2.10"))]
    assert sorted(v.id for v in vulns) == ["PYSEC-2019-217", "PYSEC-2021-66"]
    first = next(v for v in vulns if v.id == "PYSEC-2019-217")
    assert first.aliases == {"CVE-2019-10906", "GHSA-462w-v97r-4m45"}
    assert outcome.safe[("jinja2", Version("2.10"))] == Version("2.11.3")


def test_two_pysec_records_of_one_cve_become_one_finding(tmp_path: Path) -> None:
    # pip-audit keeps both (it never merges PYSEC with PYSEC); one vulnerability is one finding here.
    db = write_db(tmp_path / "db", [
        record("PYSEC-2021-871", "distributed", fixed="2021.10.0", aliases=["CVE-2021-42343", "GHSA-hwqr-f3v9-hwxr"]),
        record("PYSEC-2021-872", "distributed", fixed="2021.10.0", aliases=["CVE-2021-42343", "GHSA-j8fq-86c5-5v2r"]),
    ])
    outcome = audit([ResolvedDependency("distributed", Version("2021.9.0"))], _service(db))
    (vuln,) = outcome.vulns[("distributed", Version("2021.9.0"))]
    assert vuln.id == "PYSEC-2021-871"
    assert vuln.aliases == {"PYSEC-2021-872", "CVE-2021-42343", "GHSA-hwqr-f3v9-hwxr", "GHSA-j8fq-86c5-5v2r"}


def test_fold_aliases_is_transitive() -> None:
    def v(i: str, *aliases: str) -> VulnerabilityResult:
        return VulnerabilityResult(VulnerabilityID(i), "", [], {VulnerabilityID(a) for a in aliases})

    folded = fold_aliases([v("A", "X"), v("B", "Y"), v("C", "X", "Y"), v("D")])
    assert [(f.id, sorted(f.aliases)) for f in folded] == [("A", ["B", "C", "X", "Y"]), ("D", [])]


def test_a_package_without_any_fix_gets_no_safe_version(tmp_path: Path) -> None:
    db = write_db(tmp_path / "db", [record("PYSEC-1", "pkg"), record("PYSEC-2", "pkg", fixed="2.0")])
    outcome = audit([ResolvedDependency("pkg", Version("1.0"))], _service(db))
    assert ("pkg", Version("1.0")) not in outcome.safe
    assert "no release fixes" in outcome.no_safe[("pkg", Version("1.0"))]


def test_deadline_stops_the_audit_and_says_so(db: Path) -> None:
    svc = GuardedService(OfflineOsvService(osv_db.load(db)), time.monotonic() - 1, "test db")
    outcome = audit([ResolvedDependency("jinja2", Version("2.10"))], svc)
    assert outcome.vulns == {} and "ran out of time" in (outcome.error or "")
    with pytest.raises(AdvisoryServiceError):
        svc.query(ResolvedDependency("jinja2", Version("2.10")))


@pytest.mark.parametrize(
    ("given", "url"),
    [(None, "https://api.osv.dev/v1/query"), ("http://mirror:8080", "http://mirror:8080/v1/query"),
     ("http://mirror/osv/", "http://mirror/osv/v1/query"), ("http://m/v1", "http://m/v1/query"), ("http://m/v1/query", "http://m/v1/query")],
)
def test_osv_url_is_a_base_or_the_query_endpoint(given: str | None, url: str) -> None:
    assert query_url(given) == url
