"""OSV range and version-list matching with PEP 440 semantics."""

from __future__ import annotations

from typing import Any

import pytest
from packaging.version import Version

from mlsecops.stages.deps.advisories.matching import affects, fix_versions
from mlsecops.stages.deps.advisories.records import OsvRecord


def rec(*affected: dict[str, Any]) -> OsvRecord:
    return OsvRecord.model_validate({"id": "X-1", "affected": list(affected)})


def eco(name: str, *events: dict[str, str], kind: str = "ECOSYSTEM", versions: list[str] | None = None, ecosystem: str = "PyPI") -> dict[str, Any]:
    return {"package": {"name": name, "ecosystem": ecosystem}, "ranges": [{"type": kind, "events": list(events)}], "versions": versions or []}


@pytest.mark.parametrize(
    ("version", "expected"),
    [("0.9", False), ("1.0", True), ("1.0.0", True), ("1.4.9", True), ("1.5", False), ("2.0rc1", False), ("2.0", True),
     ("2.2", True), ("2.2.0.post1", False), ("2.3", False), ("3.0.dev0", False)],
)
def test_introduced_fixed_and_last_affected(version: str, expected: bool) -> None:
    r = rec(eco("pkg", {"introduced": "1.0"}, {"fixed": "1.5"}, {"introduced": "2.0"}, {"last_affected": "2.2"}))
    assert affects(r, "pkg", Version(version)) is expected


def test_events_are_sorted_before_evaluation() -> None:
    r = rec(eco("pkg", {"fixed": "1.5"}, {"introduced": "2.0"}, {"fixed": "2.1"}, {"introduced": "0"}))
    assert [affects(r, "pkg", Version(v)) for v in ("0.1", "1.5", "2.0.5", "2.1")] == [True, False, True, False]


def test_prereleases_sort_before_their_release() -> None:
    r = rec(eco("pkg", {"introduced": "0"}, {"fixed": "2.0"}))
    assert affects(r, "pkg", Version("2.0rc1")) is True
    assert affects(r, "pkg", Version("2.0")) is False


def test_limit_caps_a_range() -> None:
    r = rec(eco("pkg", {"introduced": "0"}, {"limit": "3.0"}))
    assert affects(r, "pkg", Version("2.9")) is True
    assert affects(r, "pkg", Version("3.0")) is False


def test_semver_ranges_count_and_git_ranges_do_not() -> None:
    assert affects(rec(eco("pkg", {"introduced": "1.0.0"}, {"fixed": "1.2.0"}, kind="SEMVER")), "pkg", Version("1.1")) is True
    git = rec(eco("pkg", {"introduced": "0"}, {"fixed": "abc123"}, kind="GIT"))
    assert affects(git, "pkg", Version("1.0")) is False


def test_explicit_versions_use_pep440_equality() -> None:
    r = rec(eco("pkg", versions=["1.0", "2.0.0", "3.0rc1", "0.3m2"]))
    r.affected[0].ranges.clear()
    assert affects(r, "pkg", Version("1.0.0")) is True
    assert affects(r, "pkg", Version("2")) is True
    assert affects(r, "pkg", Version("3.0c1")) is True  # "c" is PEP 440's spelling of rc
    assert affects(r, "pkg", Version("2.0.1")) is False


def test_local_version_labels_match_their_release() -> None:
    r = rec(eco("torch", {"introduced": "0"}, {"fixed": "1.13.1"}, versions=["1.13.0"]))
    assert affects(r, "torch", Version("1.13.0+cpu")) is True
    assert affects(r, "torch", Version("1.13.1+cu117")) is False


def test_names_are_pep503_normalised_and_other_ecosystems_ignored() -> None:
    r = rec(eco("Py_YAML.Ext", {"introduced": "0"}), eco("pyyaml", {"introduced": "0"}, ecosystem="npm"))
    assert affects(r, "py-yaml-ext", Version("1")) is True
    assert affects(r, "pyyaml", Version("1")) is False


def test_fix_versions_are_every_fixed_event_of_the_package() -> None:
    r = rec(eco("pkg", {"introduced": "0"}, {"fixed": "1.2"}, {"introduced": "2.0"}, {"fixed": "2.0.4"}), eco("other", {"introduced": "0"}, {"fixed": "9"}))
    assert fix_versions(r, "pkg") == [Version("1.2"), Version("2.0.4")]
