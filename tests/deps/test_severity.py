"""Severity from what an OSV record states: CVSS base scores, database words, or unknown."""

from __future__ import annotations

import pytest

from mlsecops.findings import Severity
from mlsecops.stages.deps.severity import cvss2_base_score, cvss3_base_score, highest, record_severity


@pytest.mark.parametrize(
    ("vector", "score"),
    [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
        ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 6.4),
        ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9),
        ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
        ("CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.8),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
    ],
)
def test_cvss3_base_scores_match_the_specification_examples(vector: str, score: float) -> None:
    assert cvss3_base_score(vector) == score


@pytest.mark.parametrize(
    ("vector", "score"),
    [("AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5), ("AV:N/AC:M/Au:N/C:N/I:P/A:N", 4.3), ("AV:L/AC:L/Au:N/C:C/I:C/A:C", 7.2)],
)
def test_cvss2_base_scores(vector: str, score: float) -> None:
    assert cvss2_base_score(vector) == score


@pytest.mark.parametrize("vector", ["CVSS:3.1/AV:N/AC:L", "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSS:4.0/AV:N", "garbage"])
def test_malformed_or_unsupported_vectors_raise(vector: str) -> None:
    with pytest.raises(ValueError):
        cvss3_base_score(vector)


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
