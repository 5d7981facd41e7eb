"""The built image, when there is one: the CLI entrypoint and the privilege drop, in a real container.

`.ci/docker-e2e.sh` builds the image from a clean clone, labels it with the commit it was built
from (`org.opencontainers.image.revision`, as the release workflow does), runs the full Action
simulation, and then runs these checks on that very image (by id, with
MLSECOPS_REQUIRE_IMAGE=1: a skip there is a failure). It also leaves it tagged `mlsecops:e2e`,
which a later `make test` of the same checkout picks up. The Docker daemon is shared: an
`mlsecops:e2e` built from another checkout or commit is not this checkout's image, so the checks
skip (saying so) rather than test it; so does a checkout whose image sources have uncommitted
changes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import mlsecops
from tests.action.action_support import git, make_repo

IMAGE = os.environ.get("MLSECOPS_IMAGE", "mlsecops:e2e")
ROOT = Path(__file__).resolve().parents[2]
# What the image is built from (.dockerignore's whitelist, and the Dockerfile).
IMAGE_SOURCES = ("Dockerfile", ".dockerignore", "pyproject.toml", "constraints.txt", "README.md", "entrypoint.py",
                 "mlsecops")
REVISION_LABEL = "org.opencontainers.image.revision"
pytestmark = pytest.mark.docker


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)


def this_checkouts_image() -> tuple[str | None, str]:
    """(the image id to test, "") when IMAGE was built from this checkout; else (None, why not)."""
    if not shutil.which("docker") or _docker("info").returncode != 0:
        return None, "no Docker daemon"
    inspected = _docker("image", "inspect", "-f", "{{.Id}} {{json .Config.Labels}}", IMAGE)
    if inspected.returncode != 0:
        return None, f"no {IMAGE} image"
    image_id, _, labels = inspected.stdout.strip().partition(" ")
    built_from = (json.loads(labels) or {}).get(REVISION_LABEL, "")
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return None, "this checkout is not a git repository, so which image is its own cannot be told"
    if built_from.strip() != head.stdout.strip():
        return None, (f"{IMAGE} was built from {built_from.strip()[:12] or 'an unlabelled source'}, not from this "
                      f"checkout's {head.stdout.strip()[:12]} (the Docker daemon is shared)")
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", *IMAGE_SOURCES],
                           capture_output=True, text=True).stdout.strip()
    if dirty:
        return None, f"this checkout has uncommitted changes to what the image is built from: {dirty.splitlines()[0]}"
    return image_id, ""


@pytest.fixture(scope="module")
def image() -> str:
    image_id, why = this_checkouts_image()
    if image_id is None:
        message = f"{why}: build this checkout's image and run these checks with: bash .ci/docker-e2e.sh"
        if os.environ.get("MLSECOPS_REQUIRE_IMAGE"):
            pytest.fail(message)
        pytest.skip(message)
    return image_id


def test_version_and_no_root_scan(image: str, tmp_path: Path) -> None:
    out = subprocess.run(["docker", "run", "--rm", image, "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == f"mlsecops {mlsecops.__version__}", out.stdout + out.stderr
    repo = make_repo(tmp_path / "repo")
    git(repo.path, "checkout", "-q", "feature")
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "4242:4242", str(repo.path)], check=True)
    scan = subprocess.run(
        ["docker", "run", "--rm", "-v", f"{repo.path}:/src", "-w", "/src", image, "scan", ".", "--base", repo.base,
         "--stages", "models", "--json", "report.json", "-q"],  # as install.py tells people to run it
        capture_output=True, text=True, timeout=300)
    assert scan.returncode == 1, scan.stdout + scan.stderr
    report = repo.path / "report.json"
    assert report.exists()
    if os.geteuid() == 0:
        assert report.stat().st_uid == 4242  # written as the folder's owner, not as root
