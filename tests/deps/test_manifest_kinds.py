"""Every manifest kind is audited: conda environment files, setup.py (never executed), setup.cfg, Pipfile.

Each test is end to end through the stage against a small offline database,
and fails on a gate that skips the kind silently (it reported nothing for them).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlsecops.findings import Severity

from .conftest import BASE_RECORDS, Scan, record, write_db

ENVIRONMENT = """\
name: demo
channels: [pytorch, conda-forge, nodefaults]
dependencies:
  - python=3.10
  - pytorch::pytorch=1.13.0=py3.10_cpu_0
  - pyyaml==5.3
  - numpy=1.21
  - cudatoolkit=11.3
  - conda-forge::openssl 3.0.0 h_0
  - pip
  - pip:
      - jinja2==2.10
      - -r ci/extra.txt
"""


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return write_db(tmp_path / "db", [*BASE_RECORDS, record("PYSEC-2022-999", "torch", fixed="1.13.1")])


def _by(result, rule: str) -> list:  # type: ignore[no-untyped-def]
    return [f for f in result.findings if f.rule_id == rule]


def test_conda_environment_pip_section_mapped_packages_and_the_rest(scan: Scan, db: Path) -> None:
    result = scan({"environment.yml": ENVIRONMENT, "ci/extra.txt": "\nrequests==2.19.0\n"}, advisory_db=db)
    assert result.errors == []
    vulns = {(f.path, f.line, f.package, f.vuln_id) for f in _by(result, "MLS201")}
    assert vulns == {
        ("environment.yml", 5, "torch", "PYSEC-2022-999"),  # the conda package pytorch, audited as PyPI torch
        ("environment.yml", 6, "pyyaml", "PYSEC-2020-96"),
        ("environment.yml", 12, "jinja2", "PYSEC-2019-217"),  # the pip: section, at its own line
        ("environment.yml", 12, "jinja2", "PYSEC-2021-66"),
        ("ci/extra.txt", 2, "requests", "PYSEC-2018-28"),  # -r from the pip: section, relative to the file
    }
    torch = next(f for f in _by(result, "MLS201") if f.package == "torch")
    from mlsecops.stages.deps.manifests import conda_names

    label = conda_names.load().label
    assert "conda package pytorch is PyPI torch" in torch.message and label in torch.message
    assert "345e9bfbd11d" in label and torch.properties["mapping"].endswith(label)
    assert {(f.line, f.package) for f in _by(result, "MLS202")} == {(7, "numpy"), (10, "pip")}  # numpy=1.21 is 1.21.*
    (unmapped,) = _by(result, "MLS203")
    assert (unmapped.path, unmapped.line, unmapped.severity) == ("environment.yml", 4, Severity.low)
    assert "3 conda package(s) not audited (conda package with no PyPI mapping): cudatoolkit, openssl, python" in unmapped.message
    assert label in unmapped.message


def test_conda_policy_names_and_severity(scan: Scan, db: Path) -> None:
    env = "dependencies:\n  - my-torch-build==1.13.0\n  - python=3.11\n"
    result = scan({"environment.yaml": env}, advisory_db=db, conda_names={"my-torch-build": ["torch"]}, conda_unmapped="off")
    (vuln,) = _by(result, "MLS201")
    assert vuln.package == "torch" and "deps.conda_names" in vuln.message
    assert _by(result, "MLS203") == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("numpy", None), ("numpy=1.21", None), ("numpy=1.21.5", None), ("numpy==1.21.5", "1.21.5"),
     ("numpy=1.21.5=py39h_0", "1.21.5"), ("numpy 1.21.5 py39_0", "1.21.5"), ("numpy>=1.2", None),
     ("numpy=1.2.*", None), ("conda-forge::numpy==1.2", "1.2"), ("numpy[version='1.2.3']", "1.2.3"),
     ("numpy 1.2|1.3", None), ("numpy==1.2.*", None)],
)
def test_conda_match_specs_pin_only_one_version(spec: str, expected: str | None) -> None:
    from mlsecops.stages.deps.manifests.conda import exact_version

    assert exact_version(spec) == ("numpy", expected)


def test_broken_environment_file_is_an_error_naming_the_line(scan: Scan, db: Path) -> None:
    result = scan({"environment.yml": "dependencies:\n  - numpy\n  - [unclosed\n"}, advisory_db=db)
    (err,) = result.errors
    assert err.path == "environment.yml" and "YAML" in err.message and "line 4" in err.message


SETUP_PY = '''\
import pathlib
from setuptools import setup

pathlib.Path("EXECUTED").write_text("setup.py was run")
BASE = ["jinja2==2.10", "requests>=2"]
setup(
    name="demo",
    install_requires=BASE + ["pyyaml==5.3"],
    extras_require={"dev": ["demo[test]"], "test": "requests==2.19.0"},
)
'''


def test_setup_py_literals_are_audited_without_running_it(scan: Scan, db: Path, tmp_path: Path) -> None:
    result = scan({"setup.py": SETUP_PY}, advisory_db=db)
    assert not (tmp_path / "repo" / "EXECUTED").exists() and not Path("EXECUTED").exists()
    assert result.errors == []
    assert {(f.line, f.package, f.vuln_id) for f in _by(result, "MLS201")} == {
        (5, "jinja2", "PYSEC-2019-217"), (5, "jinja2", "PYSEC-2021-66"), (8, "pyyaml", "PYSEC-2020-96"),
        (9, "requests", "PYSEC-2018-28")}
    assert [(f.line, f.package) for f in _by(result, "MLS202")] == [(5, "requests")]  # not demo[test]: its own extra


def test_setup_py_values_that_are_computed_are_reported_not_guessed(scan: Scan, db: Path) -> None:
    text = ("from setuptools import setup\nREQS = ['jinja2==2.10']\nREQS.append('pyyaml==5.3')\n"
            "setup(install_requires=REQS, extras_require=load_extras())\n")
    result = scan({"setup.py": text, "requirements.txt": "requests==2.19.0\n"}, advisory_db=db)
    assert {(f.message.split(" in setup.py")[0], f.line) for f in _by(result, "MLS203")} == {
        ("not audited: install_requires", 4), ("not audited: extras_require", 4)}
    assert all(f.severity == Severity.medium for f in _by(result, "MLS203"))
    assert {f.path for f in _by(result, "MLS201")} == {"requirements.txt"}


def test_setup_py_that_does_not_parse_is_an_error(scan: Scan, db: Path) -> None:
    result = scan({"setup.py": "from setuptools import setup\nsetup(install_requires=[\n"}, advisory_db=db)
    (err,) = result.errors
    assert err.path == "setup.py" and "not valid Python" in err.message


SETUP_CFG = """\
[metadata]
name = demo

[options]
install_requires =
    requests==2.19.0
    # a comment
    flask
    demo[extra]

[options.extras_require]
yaml = pyyaml==5.3; jinja2
files = file: requirements/base.txt
"""


def test_setup_cfg_options_and_file_directive(scan: Scan, db: Path) -> None:
    result = scan({"setup.cfg": SETUP_CFG, "requirements/base.txt": "jinja2==2.10\n"}, advisory_db=db)
    assert result.errors == []
    assert {(f.path, f.line, f.package) for f in _by(result, "MLS201")} == {
        ("setup.cfg", 6, "requests"), ("setup.cfg", 12, "pyyaml"), ("requirements/base.txt", 1, "jinja2")}
    assert {(f.line, f.package) for f in _by(result, "MLS202")} == {(8, "flask"), (12, "jinja2")}


PIPFILE = """\
[[source]]
url = "https://pypi.org/simple"
name = "pypi"

[packages]
jinja2 = "==2.10"
flask = "*"
internal = {git = "https://deploy:s3cret@example.invalid/internal.git", ref = "main"}
mine = {path = ".", editable = true}

[dev-packages]
pyyaml = {version = "5.3", extras = ["x"]}

[requires]
python_version = "3.11"
"""


def test_pipfile_packages_dev_packages_and_sources(scan: Scan, db: Path) -> None:
    result = scan({"Pipfile": PIPFILE}, advisory_db=db)
    assert result.errors == []
    assert {(f.line, f.package) for f in _by(result, "MLS201")} == {(6, "jinja2"), (12, "pyyaml")}
    assert [(f.line, f.package) for f in _by(result, "MLS202")] == [(7, "flask")]
    (git,) = _by(result, "MLS203")
    assert git.line == 8 and "source is git" in git.message
    assert "s3cret" not in git.message + "".join(git.evidence) and "***@example.invalid" in git.message
    assert result.stats["local"] == 1


def test_pipfile_lock_settles_the_pipfile_ranges(scan: Scan, db: Path) -> None:
    lock = '{"_meta": {}, "default": {"flask": {"version": "==0.12"}}, "develop": {}}'
    result = scan({"Pipfile": '[packages]\nflask = "*"\n', "Pipfile.lock": lock}, advisory_db=db)
    assert result.stats["artifacts"] == 2 and result.stats["packages"] == 1
    assert _by(result, "MLS202") == []
