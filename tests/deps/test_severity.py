"""Severity from what an OSV record states: CVSS v2/v3/v4 base scores, database words, or unknown.

Scores come from the `cvss` package. The expectations are published figures, not
this code's output: NVD's base scores for the CVEs of the real PyPA records
vendored under `data/advisories/` (CC-BY 4.0, copied from the advisory database),
NVD's v2 scores for well-known CVEs, and FIRST's v4.0 calculator.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlsecops.findings import Severity
from mlsecops.stages.deps import severity
from mlsecops.stages.deps.severity import highest, record_severity

from .conftest import SHARED_DB

RECORDS = Path(__file__).parent / "data" / "advisories"

# record file -> (CVE, NVD's published CVSS v3 base score, NVD's rating)
NVD_V3 = {
    "apache-skywalking/PYSEC-2020-342.yaml": ("CVE-2020-13921", 9.8, Severity.critical),
    "mindsdb/PYSEC-2024-74.yaml": ("CVE-2024-24759", 9.1, Severity.critical),
    "gitpython/PYSEC-2024-4.yaml": ("CVE-2024-22190", 7.8, Severity.high),
    "werkzeug/PYSEC-2023-221.yaml": ("CVE-2023-46136", 7.5, Severity.high),
    "mlflow/PYSEC-2023-260.yaml": ("CVE-2023-6568", 6.1, Severity.medium),
    "apache-atlas/PYSEC-2017-108.yaml": ("CVE-2017-3152", 6.1, Severity.medium),  # a CVSS:3.0 vector
    "datasette/PYSEC-2023-154.yaml": ("CVE-2023-40570", 5.3, Severity.medium),
}


@pytest.mark.parametrize("name", sorted(NVD_V3))
def test_real_records_score_as_nvd_publishes(name: str) -> None:
    record = yaml.safe_load((RECORDS / name).read_text(encoding="utf-8"))
    cve, score, rating = NVD_V3[name]
    assert cve in record["aliases"]
    found = record_severity(record)
    assert found is not None
    assert (found.source, found.score, found.severity) == ("cvss_v3", score, rating)
    assert found.vector == record["severity"][0]["score"]


@pytest.mark.parametrize(
    ("vector", "score", "rating"),
    [
        ("AV:N/AC:L/Au:N/C:P/I:N/A:N", 5.0, Severity.medium),  # CVE-2014-0160 (Heartbleed), NVD v2
        ("AV:N/AC:M/Au:N/C:C/I:C/A:C", 9.3, Severity.high),  # CVE-2021-44228 (Log4Shell), NVD v2: "HIGH"
        ("AV:N/AC:M/Au:N/C:N/I:P/A:N", 4.3, Severity.medium),
        ("(AV:L/AC:L/Au:N/C:C/I:C/A:C)", 7.2, Severity.high),
    ],
)
def test_cvss2_scores_and_nvd_v2_ratings(vector: str, score: float, rating: Severity) -> None:
    assert severity.cvss_score(vector) == ("cvss_v2", score, rating)


@pytest.mark.parametrize(
    ("vector", "score", "rating"),
    [
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3, Severity.critical),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N", 8.7, Severity.high),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:P/VC:N/VI:N/VA:N/SC:L/SI:L/SA:N", 5.1, Severity.medium),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", 0.0, Severity.info),
    ],
)
def test_cvss4_scores(vector: str, score: float, rating: Severity) -> None:
    """The hand-written calculator this replaced had no v4: such records fell back to a word or 'unknown'."""
    assert severity.cvss_score(vector) == ("cvss_v4", score, rating)
    found = record_severity({"id": "GHSA-x", "severity": [{"type": "CVSS_V4", "score": vector}]})
    assert found is not None and (found.source, found.score, found.severity) == ("cvss_v4", score, rating)


def test_the_newest_cvss_version_a_record_states_wins() -> None:
    rec = {"severity": [
        {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
        {"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:P/VC:N/VI:N/VA:N/SC:L/SI:L/SA:N"},
        {"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:C/I:C/A:C"},
    ]}
    found = record_severity(rec)
    assert found is not None and (found.source, found.score) == ("cvss_v4", 5.1)


@pytest.mark.parametrize("vector", ["CVSS:3.1/AV:N/AC:L", "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSS:4.0/AV:N",
                                    "garbage", "", "CVSS:9.9/AV:N", "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"])
def test_malformed_vectors_raise_value_error(vector: str) -> None:
    with pytest.raises(ValueError):
        severity.cvss_score(vector)


def test_malformed_vector_falls_back_to_the_word() -> None:
    rec = {"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N"}], "database_specific": {"severity": "LOW"}}
    found = record_severity(rec)
    assert found is not None and (found.severity, found.source) == (Severity.low, "database_specific")


def test_cvss_vector_beats_the_database_word() -> None:
    rec = {"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
           "database_specific": {"severity": "CRITICAL"}}
    found = record_severity(rec)
    assert found is not None
    assert (found.severity, found.source, found.score) == (Severity.medium, "cvss_v3", 5.9)


@pytest.mark.parametrize(("word", "expected"), [("CRITICAL", Severity.critical), ("HIGH", Severity.high),
                                                ("MODERATE", Severity.medium), ("low", Severity.low)])
def test_database_specific_words(word: str, expected: Severity) -> None:
    found = record_severity({"database_specific": {"severity": word}})
    assert found is not None and found.severity == expected and found.source == "database_specific"


def test_affected_level_word_only_for_the_package_asked_about() -> None:
    rec = {"affected": [{"package": {"name": "Other", "ecosystem": "PyPI"}, "database_specific": {"severity": "LOW"}},
                        {"package": {"name": "My_Pkg", "ecosystem": "PyPI"}, "ecosystem_specific": {"severity": "HIGH"}}]}
    found = record_severity(rec, "my-pkg")
    assert found is not None and found.severity == Severity.high


def test_a_record_without_severity_is_unknown_not_harmless() -> None:
    assert record_severity({"id": "PYSEC-1", "severity": [{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N"}]}) is None
    assert record_severity({"database_specific": {"severity": "whatever"}}) is None


def test_highest_of_alias_records() -> None:
    a = record_severity({"database_specific": {"severity": "MODERATE"}})
    b = record_severity({"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]})
    assert highest([a, None, b]) == b
    assert highest([None]) is None


@pytest.mark.skipif(not (SHARED_DB / "vulns").is_dir(), reason="needs ../shared/advisory-db (the PyPA snapshot)")
def test_every_vector_in_the_shared_database_scores() -> None:
    """Every CVSS vector of the real snapshot is read, scored in range and rated by its score."""
    scored = 0
    for path in sorted((SHARED_DB / "vulns").rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        if "CVSS_V" not in text:
            continue
        for entry in yaml.safe_load(text).get("severity") or []:
            source, score, rating = severity.cvss_score(entry["score"])
            assert source == "cvss_v3" and 0 <= score <= 10, path
            expected = (Severity.critical if score >= 9 else Severity.high if score >= 7 else
                        Severity.medium if score >= 4 else Severity.low if score > 0 else Severity.info)
            assert rating == expected, (path, score)
            scored += 1
    assert scored >= 200
