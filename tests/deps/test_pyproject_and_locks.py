"""pyproject.toml (PEP 621, dependency groups, Poetry) and the lock files, read without resolving."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlsecops.changes import changeset as changes
from mlsecops.stages.deps.manifests import select
from mlsecops.stages.deps.manifests.interface import ManifestError, ParsedManifest
from mlsecops.stages.deps.manifests.reader import ManifestReader

from .conftest import write_tree

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]

[project]
name = "demo"
dependencies = [
    "jinja2==2.10",
    'pyyaml == 5.3 ; python_version >= "3.8"',
    "flask>=2",
    "torch @ https://example.invalid/torch-1.13.0-cp310-cp310-linux_x86_64.whl",
    "not a requirement!",
]

[project.optional-dependencies]
web = ["requests==2.19.0"]

[dependency-groups]
dev = ["pytest==7.0.0", {include-group = "web"}]

[tool.poetry.dependencies]
python = "^3.10"
numpy = "1.16.0"
scipy = "^1.5"
pillow = { version = "==9.0.0", extras = ["x"] }
mylib = { path = "../mylib" }
gitdep = { git = "https://example.invalid/g.git" }

[tool.poetry.group.test.dependencies]
urllib3 = "==1.24.1"
"""


def parse(tmp_path: Path, files: dict[str, str], rel: str) -> tuple[ParsedManifest, ManifestReader]:
    root = write_tree(tmp_path / "repo", files)
    reader = ManifestReader(changes.build(root, tmp_path), 1 << 20)
    return select.parse(rel, reader, 8), reader


def test_pyproject_tables_with_lines(tmp_path: Path) -> None:
    m, _ = parse(tmp_path, {"pyproject.toml": PYPROJECT}, "pyproject.toml")
    assert [(p.name, p.version, p.line) for p in m.pins] == [
        ("jinja2", "2.10", 7), ("pyyaml", "5.3", 8), ("torch", "1.13.0", 10), ("requests", "2.19.0", 15),
        ("pytest", "7.0.0", 18), ("numpy", "1.16.0", 22), ("pillow", "9.0.0", 24), ("urllib3", "1.24.1", 29),
    ]
    assert [(u.name, u.line) for u in m.unpinned] == [("flask", 9), ("scipy", 23)]
    assert [(p.line, "invalid requirement" in p.message) for p in m.problems] == [(11, True)]
    assert [(u.name, u.reason, u.line) for u in m.unaudited] == [("gitdep", "git", 26)]
    assert m.local == 1


def test_pyproject_unpinned_settled_by_the_lock_next_to_it(tmp_path: Path) -> None:
    uv_lock = 'version = 1\n\n[[package]]\nname = "flask"\nversion = "0.12"\nsource = { registry = "https://pypi.org/simple" }\n'
    m, reader = parse(tmp_path, {"pyproject.toml": '[project]\nname = "x"\ndependencies = ["flask>=0.1", "click"]\n', "uv.lock": uv_lock}, "pyproject.toml")
    audited, left = select.settle(m, select.companion(m, reader, 8))
    assert [(p.name, p.version, p.path, p.line) for p in audited] == [("flask", "0.12", "uv.lock", 4)]
    assert [u.name for u in left] == ["click"]


def test_uv_lock(tmp_path: Path) -> None:
    text = """version = 1
requires-python = ">=3.10"

[[package]]
name = "demo"
version = "0.1.0"
source = { editable = "." }
dependencies = [{ name = "jinja2" }]

[[package]]
name = "jinja2"
version = "2.10"
source = { registry = "https://pypi.org/simple" }
sdist = { url = "https://example.invalid/jinja2-2.10.tar.gz", hash = "sha256:aa" }

[package.optional-dependencies]
i18n = [{ name = "babel" }]

[[package]]
name = "torch"
version = "1.13.0+cpu"
source = { registry = "https://download.pytorch.org/whl/cpu" }

[[package]]
name = "fromgit"
version = "1.0"
source = { git = "https://example.invalid/x.git?rev=abc#abc" }
"""
    m, _ = parse(tmp_path, {"uv.lock": text}, "uv.lock")
    assert [(p.name, p.version, p.line) for p in m.pins] == [("jinja2", "2.10", 11), ("torch", "1.13.0+cpu", 20)]
    assert m.problems == [] and [(u.name, u.reason, u.line) for u in m.unaudited] == [("fromgit", "git", 25)]
    assert m.unaudited[0].message.startswith("not audited: source is git (https://example.invalid/x.git?rev=abc#abc)")
    assert m.local == 1


def test_poetry_lock(tmp_path: Path) -> None:
    text = """[[package]]
name = "pyyaml"
version = "5.3"
description = "YAML"
optional = false

[[package]]
name = "local-thing"
version = "0.1"

[package.source]
type = "directory"
url = "../local"

[[package]]
name = "requests"
version = "2.19.0"

[package.dependencies]
urllib3 = ">=1.21"

[metadata]
lock-version = "2.0"
"""
    m, _ = parse(tmp_path, {"poetry.lock": text}, "poetry.lock")
    assert [(p.name, p.version, p.line) for p in m.pins] == [("pyyaml", "5.3", 2), ("requests", "2.19.0", 16)]
    assert m.local == 1 and m.problems == []


def test_pipfile_lock(tmp_path: Path) -> None:
    doc = {"_meta": {"hash": {"sha256": "x"}}, "default": {"jinja2": {"version": "==2.10", "hashes": ["sha256:a"]},
                                                           "mypkg": {"path": ".", "editable": True}},
           "develop": {"pyyaml": {"version": "==5.3", "markers": "python_version >= '3'"}, "vcs": {"git": "https://x/y.git", "ref": "abc"}}}
    m, _ = parse(tmp_path, {"Pipfile.lock": json.dumps(doc, indent=4)}, "Pipfile.lock")
    assert [(p.name, p.version, p.line) for p in m.pins] == [("jinja2", "2.10", 8), ("pyyaml", "5.3", 20)]
    assert m.problems == [] and [(u.name, u.reason, u.line) for u in m.unaudited] == [("vcs", "git", 24)] and m.local == 1


def test_pylock_through_pip_audit(tmp_path: Path) -> None:
    text = """lock-version = "1.0"
created-by = "test"

[[packages]]
name = "requests"
version = "2.19.0"

[[packages]]
name = "mine"
directory = { path = "." }

[[packages]]
name = "fromvcs"
vcs = { type = "git", url = "https://example.invalid/x.git", commit-id = "abc" }
"""
    m, _ = parse(tmp_path, {"pylock.toml": text}, "pylock.toml")
    assert [(p.name, p.version, p.line) for p in m.pins] == [("requests", "2.19.0", 5)]
    assert m.local == 1 and m.problems == [] and [(u.name, u.reason, u.line) for u in m.unaudited] == [("fromvcs", "git", 13)]


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [("uv.lock", 'version = 1\n[[package]]\nname = "x"\nversion = "1.0\n', 4),
     ("poetry.lock", "[[package]]\nname = = 'x'\n", 2),
     ("pylock.toml", 'lock-version = "1.0"\n[[packages]\nname="x"\n', None),
     ("Pipfile.lock", '{\n  "default": {\n    "x": {"version": "==1.0"},,\n  }\n}\n', 3),
     ("pyproject.toml", '[project\nname = "x"\n', 1)],
)
def test_unparseable_lock_files_raise_naming_the_line(tmp_path: Path, name: str, text: str, line: int | None) -> None:
    with pytest.raises(ManifestError) as err:
        parse(tmp_path, {name: text}, name)
    assert err.value.problem.path == name
    assert err.value.problem.line == line


def test_pylock_without_packages_is_an_error_not_a_clean_lock(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="missing packages"):
        parse(tmp_path, {"pylock.toml": 'lock-version = "1.0"\n'}, "pylock.toml")
