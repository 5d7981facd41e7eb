"""The built image, when there is one: the CLI entrypoint and the privilege drop, in a real container.

`.ci/docker-e2e.sh` builds `mlsecops:e2e` and runs the full Action simulation; these quick checks
reuse that image and are skipped when there is no Docker daemon or no image yet.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.action.action_support import git, make_repo

IMAGE = os.environ.get("MLSECOPS_IMAGE", "mlsecops:e2e")
pytestmark = pytest.mark.docker


def _docker_ready() -> bool:
    if not shutil.which("docker"):
        return False
    if subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode != 0:
        return False
    return subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, timeout=30).returncode == 0


@pytest.fixture(scope="module", autouse=True)
def _need_image() -> None:
    if not _docker_ready():
        pytest.skip(f"no Docker daemon or no {IMAGE} image (build it with: bash .ci/docker-e2e.sh)")


def test_version_and_no_root_scan(tmp_path: Path) -> None:
    out = subprocess.run(["docker", "run", "--rm", IMAGE, "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("mlsecops ")
    repo = make_repo(tmp_path / "repo")
    git(repo.path, "checkout", "-q", "feature")
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "4242:4242", str(repo.path)], check=True)
    scan = subprocess.run(
        ["docker", "run", "--rm", "-v", f"{repo.path}:/src", "-w", "/src", IMAGE, "scan", ".", "--base", repo.base,
         "--stages", "models", "--json", "report.json", "-q"],  # as install.py tells people to run it
        capture_output=True, text=True, timeout=300)
    assert scan.returncode == 1, scan.stdout + scan.stderr
    report = repo.path / "report.json"
    assert report.exists()
    if os.geteuid() == 0:
        assert report.stat().st_uid == 4242  # written as the folder's owner, not as root
