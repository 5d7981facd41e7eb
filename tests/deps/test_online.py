"""The online path: pip-audit's OSV service against a local HTTP server that speaks OSV's query API."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from types import ModuleType

from mlsecops.findings import Severity

from .conftest import Scan

REQS = "jinja2==2.10\npyyaml==5.3\nrequests==2.25.0\n"


def test_online_findings_equal_the_offline_ones(scan: Scan, db: Path, bench: ModuleType) -> None:
    with bench.OsvApi(bench.load_records(db)) as api:
        online = scan({"requirements.txt": REQS}, osv_url=api.url)
        assert api.queries >= 3  # one query per package, more for the safe-upgrade checks
    offline = scan({"requirements.txt": REQS}, advisory_db=db)
    assert online.errors == [] and offline.errors == []

    def view(result):  # type: ignore[no-untyped-def]
        return sorted((f.vuln_id, f.path, f.line, tuple(f.aliases), tuple(f.fix_versions), f.severity, f.fix) for f in result.findings)

    assert view(online) == view(offline)
    assert {f.vuln_id for f in online.findings} == {"PYSEC-2019-217", "PYSEC-2021-66", "PYSEC-2020-96"}
    severities = {f.vuln_id: f.severity for f in online.findings}
    assert severities["PYSEC-2020-96"] == Severity.critical  # the CVSS vector came over the wire


def test_query_url_as_full_endpoint(scan: Scan, db: Path, bench: ModuleType) -> None:
    with bench.OsvApi(bench.load_records(db)) as api:
        result = scan({"requirements.txt": "jinja2==2.10\n"}, osv_url=api.url + "/v1/query")
    assert len(result.findings) == 2 and result.errors == []


def test_server_error_is_a_stage_error_naming_the_manifest(scan: Scan, db: Path, bench: ModuleType) -> None:
    with bench.OsvApi(bench.load_records(db), fail_with=500) as api:
        result = scan({"requirements.txt": REQS, "sub/requirements.txt": "flask>=1\n"}, osv_url=api.url)
    assert [f.rule_id for f in result.findings] == ["MLS202"]
    (err,) = result.errors
    assert err.path == "requirements.txt"
    assert "3 of 3 pinned package(s) not audited" in err.message and "HTTP 500" in err.message
    assert result.stats["packages"] == 0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_service_is_a_stage_error(scan: Scan) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    result = scan({"requirements.txt": REQS}, osv_url=url)
    (err,) = result.errors
    assert "cannot be reached" in err.message and url in err.message
    assert result.findings == [] and result.stats["packages"] == 0


def test_a_service_that_never_answers_times_out(scan: Scan) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        result = scan({"requirements.txt": "jinja2==2.10\n"}, osv_url=url, limits={"request_timeout_seconds": 0.5})
    (err,) = result.errors
    assert "not audited" in err.message and "timed out" in err.message


def test_the_stage_timeout_caps_a_slow_request(scan: Scan) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        started = time.monotonic()
        result = scan({"requirements.txt": "jinja2==2.10\n"}, osv_url=f"http://127.0.0.1:{silent.getsockname()[1]}",
                      timeout_seconds=1, limits={"request_timeout_seconds": 60})
    # Well short of the request's own 60 s: the stage's 1 s capped it (a loaded machine only adds
    # the stage's own overhead). The message depends on timing: the request in flight times out
    # ("timed out"), or the stage finds its time gone before the next one.
    assert time.monotonic() - started < 60
    (err,) = result.errors
    assert "not audited" in err.message
