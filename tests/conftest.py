"""Shared test helpers: git repositories built in tmp dirs, the CLI, the shared corpus.

The suite passes in a clean clone with no `../shared` beside it: the SARIF schema is
vendored (`schemas/`), advisory records come from `examples/advisories` or are written
by code, and the tests that need the labelled corpus skip with a message (`needs_shared`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus"
SARIF_SCHEMA = ROOT / "schemas" / "sarif-schema-2.1.0.json"  # vendored: the official OASIS schema
ADVISORY_DB = SHARED / "advisory-db"

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                         env={**os.environ, **GIT_ENV})
    return out.stdout.strip()


def write(root: Path, files: dict[str, bytes | str | None]) -> None:
    for rel, data in files.items():
        p = root / rel
        if data is None:
            p.unlink()
            continue
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)


def make_repo(root: Path, base: dict[str, bytes | str | None], head: dict[str, bytes | str | None]) -> tuple[str, str]:
    """A repo with a base commit and a head commit; returns (base sha, head sha)."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    write(root, base)
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", "base")
    base_sha = git(root, "rev-parse", "HEAD")
    write(root, head)
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", "head")
    return base_sha, git(root, "rev-parse", "HEAD")


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlsecops", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def scan_json(tmp_path: Path, target: Path, *extra: str) -> tuple[int, dict]:
    """Run `mlsecops scan` and return (exit code, JSON report)."""
    report = tmp_path / "report.json"
    proc = run_cli("scan", str(target), "--json", str(report), "--sarif", str(tmp_path / "out.sarif"),
                   "--no-cache", "-q", *extra)
    assert report.exists(), proc.stderr
    return proc.returncode, json.loads(report.read_text())


def needs_shared(path: Path) -> Path:
    """`path` under ../shared, or skip the test saying what is missing."""
    if not path.exists():
        pytest.skip(f"{path.relative_to(SHARED) if path.is_relative_to(SHARED) else path} from ../shared is not "
                    f"present beside the checkout ({SHARED}): this test needs the shared corpus")
    return path


@pytest.fixture
def corpus() -> Path:
    return needs_shared(CORPUS)
