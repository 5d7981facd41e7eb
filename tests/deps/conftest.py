"""Fixtures for the deps stage: small OSV databases written by code, changesets, contexts,
and the local OSV API server of benchmarks/deps_match.py (one implementation for both)."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from mlsecops.changes import changeset as changes
from mlsecops.changes.artifact import Changeset
from mlsecops.context import Context
from mlsecops.findings import StageResult
from mlsecops.policy.model import Policy
from mlsecops.stages.deps import stage
from mlsecops.stages.deps.policy import DepsPolicy

REPO = Path(__file__).resolve().parents[2]
SHARED_DB = Path(__file__).parents[2] / ".." / "shared" / "advisory-db"


def record(rid: str, package: str, *, introduced: str = "0", fixed: str | None = None, aliases: list[str] | None = None,
           versions: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """An OSV record with one ECOSYSTEM range (and optional explicit versions)."""
    events: list[dict[str, str]] = [{"introduced": introduced}]
    if fixed:
        events.append({"fixed": fixed})
    affected: dict[str, Any] = {"package": {"name": package, "ecosystem": "PyPI"}, "ranges": [{"type": "ECOSYSTEM", "events": events}]}
    if versions is not None:
        affected["versions"] = versions
    rec: dict[str, Any] = {"id": rid, "summary": f"{rid} in {package}", "aliases": aliases or [], "affected": [affected],
                           "modified": "2024-01-01T00:00:00Z", "published": "2023-01-01T00:00:00Z"}
    rec.update(extra)
    return rec


# A small database: jinja2 with a PYSEC record and its GHSA alias record (one vulnerability),
# pyyaml with a CVSS-rated record, a withdrawn record, and an unrelated package.
BASE_RECORDS = [
    record("PYSEC-2019-217", "jinja2", fixed="2.10.1", aliases=["CVE-2019-10906", "GHSA-462w-v97r-4m45"]),
    record("GHSA-462w-v97r-4m45", "jinja2", fixed="2.10.1", aliases=["CVE-2019-10906"],
           database_specific={"severity": "HIGH"}),
    record("PYSEC-2021-66", "jinja2", fixed="2.11.3", aliases=["CVE-2020-28493"]),
    record("PYSEC-2020-96", "PyYAML", fixed="5.3.1", aliases=["CVE-2020-1747"],
           severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]),
    record("PYSEC-2099-1", "jinja2", fixed="9.0", withdrawn="2024-02-02T00:00:00Z"),
    record("PYSEC-2018-28", "requests", fixed="2.20.0", aliases=["CVE-2018-18074"]),
]


def write_db(root: Path, records: list[dict[str, Any]], fmt: str = "yaml") -> Path:
    """A folder database laid out like the PyPA advisory database."""
    for rec in records:
        pkg = rec["affected"][0]["package"]["name"].lower() if rec.get("affected") else "unknown"
        path = root / "vulns" / pkg / f"{rec['id']}.{fmt}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rec) if fmt == "json" else yaml.safe_dump(rec, sort_keys=False), encoding="utf-8")
    return root


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return write_db(tmp_path / "db", BASE_RECORDS)


Scan = Callable[..., StageResult]


@pytest.fixture
def scan(tmp_path: Path) -> Scan:
    """Run the deps stage on a folder made of `files`, offline against `advisory_db` by default."""

    def run(files: dict[str, str | bytes], advisory_db: Path | None = None, osv_url: str | None = None, **policy: Any) -> StageResult:
        root = write_tree(tmp_path / "repo", files)
        work = tmp_path / "work"
        work.mkdir(exist_ok=True)
        cs: Changeset = changes.build(root, work)
        ctx = Context(root=root, workdir=work, cache_dir=tmp_path / "cache", advisory_db=advisory_db, osv_url=osv_url,
                      policy=Policy(deps=DepsPolicy(**policy)))
        return stage.run(cs, ctx)

    return run


def _load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deps_match", REPO / "benchmarks" / "deps_match.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def bench() -> ModuleType:
    """benchmarks/deps_match.py: its OSV API server and the pip-audit comparison."""
    return _load_benchmark()
