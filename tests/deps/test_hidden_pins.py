"""A vulnerable pin hidden from the deps stage: every way a manifest could make the gate read one
thing while the installer installs another must end as the vulnerable pin audited, a "not
audited" finding (MLS203), or a stage error naming the file. Never silence.

Each case installs jinja2 2.10 (two advisories in the test database) when pip, setuptools or
conda reads it; on main (63d6cc2) every case below was read as something harmless, or as nothing
at all, with no finding and no error: setup.py's reader took an aliased, shadowed or rewritten
name at its written value and missed a `setup()` reached through an alias, and a conda
environment with `dependencies:` written twice was read from the first list (PyYAML installs
from the last; conda's ruamel refuses the file).
"""

from __future__ import annotations

import pytest

from tests.deps.conftest import Scan

_BENIGN = "['requests==2.31.0']"
_VULN = "['jinja2==2.10']"

SETUP_PY = {
    "aliased import of setup": f"from setuptools import setup as s\ns(name='x', install_requires={_VULN})\n",
    "setup assigned at run time": f"import setuptools\nmk = setuptools.setup\nmk(name='x', install_requires={_VULN})\n",
    "setup through getattr": f"import setuptools\ngetattr(setuptools, 'setup')(name='x', install_requires={_VULN})\n",
    "local setup wrapping the real one": (
        "import setuptools\n_real = setuptools.setup\n"
        f"def setup(**kw):\n    kw['install_requires'] = {_VULN}\n    _real(**kw)\n"
        f"setup(name='x', install_requires={_BENIGN})\n"),
    "name rebound by an import": f"from setuptools import setup\nREQ = {_BENIGN}\nfrom reqs import REQ\nsetup(install_requires=REQ)\n",
    "name rebound by import-as": f"from setuptools import setup\nREQ = {_BENIGN}\nimport reqs as REQ\nsetup(install_requires=REQ)\n",
    "name rebound by except-as": (f"from setuptools import setup\nREQ = {_BENIGN}\ntry:\n    import missing\n"
                                  "except ImportError as REQ:\n    pass\nsetup(install_requires=REQ)\n"),
    "name rebound by a match capture": (f"from setuptools import setup\nREQ = {_BENIGN}\nmatch {_VULN}:\n"
                                        "    case REQ:\n        pass\nsetup(install_requires=REQ)\n"),
    "globals() rewrite": f"from setuptools import setup\nREQ = {_BENIGN}\nglobals()['REQ'] = {_VULN}\nsetup(install_requires=REQ)\n",
    "vars() rewrite": f"from setuptools import setup\nREQ = {_BENIGN}\nvars()['REQ'] = {_VULN}\nsetup(install_requires=REQ)\n",
    "exec rewrite": f"from setuptools import setup\nREQ = {_BENIGN}\nexec(\"REQ = {_VULN}\")\nsetup(install_requires=REQ)\n",
    "mutated through an alias": f"from setuptools import setup\nREQ = {_BENIGN}\nR2 = REQ\nR2[0] = 'jinja2==2.10'\nsetup(install_requires=REQ)\n",
    "extended through an alias": f"from setuptools import setup\nREQ = {_BENIGN}\nR2 = REQ\nR2 += {_VULN}\nsetup(install_requires=REQ)\n",
    "unbound method call": f"from setuptools import setup\nREQ = {_BENIGN}\nlist.append(REQ, 'jinja2==2.10')\nsetup(install_requires=REQ)\n",
    "mutated inside a dict": (f"from setuptools import setup\nEXTRAS = {{'all': {_BENIGN}}}\nEXTRAS['all'][0] = 'jinja2==2.10'\n"
                              "setup(extras_require=EXTRAS)\n"),
    "list held by a dict that is changed": (f"from setuptools import setup\nREQ = {_BENIGN}\nBOX = {{'r': REQ}}\n"
                                            "BOX['r'].append('jinja2==2.10')\nsetup(install_requires=REQ)\n"),
    "handed to a function": (f"from setuptools import setup\nREQ = {_BENIGN}\ndef add(x):\n    x.append('jinja2==2.10')\n"
                             "add(REQ)\nsetup(install_requires=REQ)\n"),
}


def _heard(result, package: str = "jinja2") -> bool:  # type: ignore[no-untyped-def]
    """The stage said something about it: the vulnerable pin, a not-audited finding, or an error."""
    return (any(f.rule_id == "MLS201" and (f.package or "").lower() == package for f in result.findings)
            or any(f.rule_id == "MLS203" for f in result.findings) or bool(result.errors))


@pytest.mark.parametrize("source", list(SETUP_PY.values()), ids=list(SETUP_PY))
def test_setup_py_cannot_hide_what_it_installs(scan: Scan, db, source: str) -> None:  # type: ignore[no-untyped-def]
    result = scan({"setup.py": source}, advisory_db=db)
    assert _heard(result), [(f.rule_id, f.message) for f in result.findings]


def test_a_plain_setup_py_is_still_read_without_noise(scan: Scan, db) -> None:  # type: ignore[no-untyped-def]
    source = (f"import os\nfrom setuptools import setup, find_packages\nREQ = {_VULN}\nEXTRAS = {{'dev': {_BENIGN}}}\n"
              "ALL = REQ + EXTRAS['dev']\nsetup(name='x', packages=find_packages(), install_requires=REQ,\n"
              "      extras_require=EXTRAS, tests_require=REQ)\n")
    result = scan({"setup.py": source}, advisory_db=db)
    assert not [f for f in result.findings if f.rule_id == "MLS203"], [f.message for f in result.findings]
    assert any(f.rule_id == "MLS201" and f.package == "jinja2" for f in result.findings)


def test_a_value_the_script_may_change_is_audited_as_written_and_flagged(scan: Scan, db) -> None:  # type: ignore[no-untyped-def]
    source = f"from setuptools import setup\nREQ = {_VULN}\nexec(open('version.py').read())\nsetup(install_requires=REQ)\n"
    result = scan({"setup.py": source}, advisory_db=db)
    assert any(f.rule_id == "MLS201" and f.package == "jinja2" for f in result.findings)
    (note,) = [f for f in result.findings if f.rule_id == "MLS203"]
    assert "may change" in note.message


@pytest.mark.parametrize("text", [
    "dependencies:\n  - requests==2.31.0\ndependencies:\n  - jinja2==2.10\n",
    "dependencies:\n  - pip:\n    - requests==2.31.0\n    pip:\n    - jinja2==2.10\n",
], ids=["dependencies twice", "pip twice"])
def test_a_conda_key_written_twice_is_an_error_not_a_guess(scan: Scan, db, text: str) -> None:  # type: ignore[no-untyped-def]
    result = scan({"environment.yml": text}, advisory_db=db)
    assert any("written twice" in e.message for e in result.errors), result.errors


def _diff_scan(tmp_path, db, base: dict, head: dict, links: dict[str, str], link_in_base: bool = False):  # type: ignore[no-untyped-def]
    """Scan the deps of a pull request whose head (or base) adds the symbolic `links` (name -> target)."""
    import json
    import os

    from tests.conftest import git, run_cli, write

    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo, {"README": "x", **base})
    if link_in_base:
        for name, target in links.items():
            os.symlink(target, repo / name)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    b = git(repo, "rev-parse", "HEAD")
    write(repo, head)
    if not link_in_base:
        for name, target in links.items():
            os.symlink(target, repo / name)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", "head")
    h = git(repo, "rev-parse", "HEAD")
    out = tmp_path / "report.json"
    proc = run_cli("scan", str(repo), "--base", b, "--head", h, "--stages", "deps", "--advisory-db", str(db),
                   "--json", str(out), "--sarif", str(tmp_path / "o.sarif"), "--no-cache", "-q")
    return proc.returncode, json.loads(out.read_text())


def test_a_requirements_file_that_is_a_link_is_audited(tmp_path, db) -> None:  # type: ignore[no-untyped-def]
    """On main a PR adding `requirements.txt -> real.pip` passed: links were skipped, pip follows them."""
    code, report = _diff_scan(tmp_path, db, {"real.pip": "jinja2==2.10\n"}, {}, {"requirements.txt": "real.pip"})
    assert code == 1, report
    assert {(f["rule_id"], f["path"]) for f in report["findings"]} == {("MLS201", "requirements.txt")}


def test_editing_what_a_requirements_link_leads_to_is_audited(tmp_path, db) -> None:  # type: ignore[no-untyped-def]
    code, report = _diff_scan(tmp_path, db, {"real.pip": "requests==2.31.0\n"}, {"real.pip": "jinja2==2.10\n"},
                              {"requirements.txt": "real.pip"}, link_in_base=True)
    assert code == 1 and any(f["package"] == "jinja2" for f in report["findings"]), report


def test_a_requirements_link_out_of_the_repository_is_an_error(tmp_path, db) -> None:  # type: ignore[no-untyped-def]
    outside = tmp_path / "outside.pip"
    outside.write_text("jinja2==2.10\n")
    code, report = _diff_scan(tmp_path, db, {}, {}, {"requirements.txt": str(outside)})
    assert code == 2 and any("outside the scanned folder" in e["message"] for e in report["errors"]), report


@pytest.mark.parametrize("shape", ["[" * 60_000, "- " * 60_000 + "x", "? " * 60_000 + "x"], ids=["flow", "block", "keys"])
def test_yaml_nested_too_deep_is_a_stage_error_not_a_crash(tmp_path, shape: str) -> None:  # type: ignore[no-untyped-def]
    """On main a 60 KB environment.yml of nested collections crashed the gate with SIGSEGV (libyaml's
    composer recurses in C): no report at all, every stage's findings lost, exit 139."""
    from tests.conftest import scan_json

    root = tmp_path / "ws"
    root.mkdir()
    (root / "environment.yml").write_text("dependencies:\n  " + shape)
    (root / "requirements.txt").write_text("jinja2==2.10\n")
    code, report = scan_json(tmp_path, root, "--stages", "deps", "--advisory-db", str(_db(tmp_path)))
    assert code == 1, report  # the vulnerable pin still blocks; the environment file is an error
    assert any("nested more than" in e["message"] for e in report["errors"]), report["errors"]


def _db(tmp_path):  # type: ignore[no-untyped-def]
    from tests.deps.conftest import BASE_RECORDS, write_db

    return write_db(tmp_path / "db", BASE_RECORDS)


def test_a_lock_file_that_breaks_its_parser_costs_only_itself(scan: Scan, db) -> None:  # type: ignore[no-untyped-def]
    """On main a pylock.toml nested 200,000 deep raised RecursionError out of pip-audit's reader and
    crashed the deps stage: the vulnerable pin in requirements.txt was lost with it (and with
    `fail_on_scanner_error: false` the gate passed)."""
    result = scan({"pylock.toml": "a = " + "[" * 200_000, "requirements.txt": "jinja2==2.10\n"}, advisory_db=db)
    assert any(f.rule_id == "MLS201" and f.package == "jinja2" for f in result.findings)
    assert [e.path for e in result.errors] == ["pylock.toml"], result.errors


def test_a_companion_lock_that_breaks_its_parser_settles_nothing(scan: Scan, db) -> None:  # type: ignore[no-untyped-def]
    files = {"pyproject.toml": "[project]\nname='x'\nversion='1'\ndependencies=['jinja2>=2']\n",
             "pylock.toml": "a = " + "[" * 200_000, "requirements.txt": "jinja2==2.10\n"}
    result = scan(files, advisory_db=db)
    assert any(f.rule_id == "MLS201" and f.path == "requirements.txt" for f in result.findings)
    assert "pylock.toml" in [e.path for e in result.errors]


@pytest.mark.parametrize("files", [
    {"noxfile.py": "import nox\n@nox.session\ndef tests(session):\n    session.install('-r', 'deps/test.lst')\n",
     "deps/test.lst": "jinja2==2.10\n"},
    {"noxfile.py": "def tests(session):\n    session.run('pip', 'install', '--requirement=deps/test.lst')\n",
     "deps/test.lst": "jinja2==2.10\n"},
    {"requirements.lock": "jinja2==2.10\n"},
    {"requirements-dev.lock": "jinja2==2.10\n"},
], ids=["nox install", "nox run pip", "rye lock", "rye dev lock"])
def test_requirements_a_repository_installs_are_found(scan: Scan, db, files: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    """On main noxfile.py was an installer the docs named, but `session.install("-r", X)` (separate
    string arguments) was never read; rye's `requirements*.lock` were not manifests: both passed."""
    result = scan(files, advisory_db=db)
    assert any(f.rule_id == "MLS201" and f.package == "jinja2" for f in result.findings), result.findings
