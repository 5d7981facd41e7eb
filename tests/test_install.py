"""The install and run commands (mlsecops/install.py) name what really exists: our distribution
under its own name, from the release tag or its image, and every document uses them."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from mlsecops import __version__, install

ROOT = Path(__file__).resolve().parents[1]


def test_the_distribution_name_is_ours_and_the_command_unchanged() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == install.DISTRIBUTION == "mlsecops-gate"
    assert project["version"] == __version__
    assert project["scripts"] == {install.COMMAND: "mlsecops.cli:main"}


def test_a_release_installs_from_its_tag_and_runs_its_image() -> None:
    got = install.for_version("1.2.3")
    req = Requirement(shlex.split(got.pip)[2])
    assert shlex.split(got.pip)[:2] == ["pip", "install"]
    assert req.name == "mlsecops-gate" and req.url == "git+https://github.com/mlsecops/mlsecops@v1.2.3"
    assert got.image == "ghcr.io/mlsecops/mlsecops:v1.2.3" and got.build is None
    assert got.container(["scan", "."]) == ['docker run --rm -v "$PWD:/src" -w /src ghcr.io/mlsecops/mlsecops:v1.2.3 scan .']


def test_a_development_version_has_no_tag_so_it_builds_from_main() -> None:
    for version in ("1.3.0.dev0", "1.2.3+local", "not a version"):
        got = install.for_version(version)
        assert got.ref == "main" and got.pip.endswith('@main"'), version
        assert got.build == "docker build -t mlsecops:dev https://github.com/mlsecops/mlsecops.git#main"
        assert got.container(["scan"])[1].endswith(" mlsecops:dev scan")


def test_arguments_are_quoted_for_the_shell() -> None:
    hostile = ["scan", ".", "--policy", "a b;rm -rf ~", "--base", "$(id)"]
    got = install.for_version("1.0.0")
    assert shlex.split(got.command(hostile)) == ["mlsecops", *hostile]
    run = got.container(hostile)[0]
    assert shlex.split(run)[-len(hostile):] == hostile
    block = got.reproduce(hostile).splitlines()
    assert block[0].startswith("#") and got.pip in block and got.command(hostile) in block


# Every install or run instruction in the documents a user reads must work as written today:
# no bare `pip install mlsecops` (someone else's package), no `pip install mlsecops-gate` before
# it is on PyPI.
DOCS = ["README.md", "SECURITY.md", "docs", "examples", "mlsecops/templates", "benchmarks/RESULTS.md"]
_PIP = re.compile(r"pip3? install\s+(?:-[-\w]+\s+)*([\"']?)(?P<target>[^\s\"'`-][^\s\"'`]*(?: @ [^\s\"'`]+)?)\1")


def _instructions() -> list[tuple[str, str]]:
    found = []
    for entry in DOCS:
        path = ROOT / entry
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in {".md", ".j2", ".yml", ".txt"})
        for f in files:
            for m in _PIP.finditer(f.read_text(encoding="utf-8")):
                found.append((str(f.relative_to(ROOT)), m.group("target")))
    return found


def test_documented_pip_installs_name_our_distribution() -> None:
    found = _instructions()
    assert found, "the README documents how to install"
    for where, target in found:
        if target in {".", "-e", "'.[test,fuzz,bench]'"} or target.startswith((".[", "./")):
            continue  # the checkout itself
        req = Requirement(target)
        assert req.name != "mlsecops", f"{where}: `pip install {target}` is somebody else's package"
        if req.name == install.DISTRIBUTION and not install.PUBLISHED_ON_PYPI:
            assert req.url and req.url.startswith(f"git+{install.REPOSITORY}@"), (
                f"{where}: {install.DISTRIBUTION} is not on PyPI yet; install it from git ({install.for_version().pip})")


@pytest.mark.parametrize("text", ["pip install mlsecops", "pip install -U mlsecops==0.1.0"])
def test_the_document_check_catches_the_wrong_package(text: str) -> None:
    target = _PIP.search(text).group("target")  # type: ignore[union-attr]
    assert Requirement(target).name == "mlsecops"
