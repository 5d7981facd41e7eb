"""The demo's offline advisory subset (examples/advisories) covers the demo's requirements."""

from __future__ import annotations


from .conftest import REPO, SHARED_DB, Scan

ADVISORIES = REPO / "examples" / "advisories"
DEMO = "jinja2==2.10\npyyaml==5.3\nrequests==2.19.0\ntorch==1.13.0\nnumpy==1.16.0\n"


def test_every_demo_pin_is_flagged_from_the_subset(scan: Scan) -> None:
    result = scan({"requirements.txt": DEMO}, advisory_db=ADVISORIES)
    assert result.errors == []
    hits = {(f.package, f.line) for f in result.findings}
    assert hits == {("jinja2", 1), ("pyyaml", 2), ("requests", 3), ("torch", 4), ("numpy", 5)}
    assert {f.vuln_id for f in result.findings} == {
        "PYSEC-2019-217", "PYSEC-2021-66", "PYSEC-2020-96", "PYSEC-2021-142", "PYSEC-2018-28", "PYSEC-2023-74",
        "PYSEC-2022-43015", "PYSEC-2019-108", "PYSEC-2021-856", "PYSEC-2021-857"}


def test_subset_is_a_verbatim_copy_with_its_licence() -> None:
    readme = (ADVISORIES / "README.md").read_text()
    assert "CC-BY 4.0" in readme and "3ccb612573e2511ab5cad7dafecd838605c80cda" in readme
    records = sorted(ADVISORIES.glob("vulns/*/*.yaml"))
    assert len(records) == 23
    if (SHARED_DB / "vulns").is_dir():
        for path in records:
            assert path.read_bytes() == (SHARED_DB / path.relative_to(ADVISORIES)).read_bytes()
