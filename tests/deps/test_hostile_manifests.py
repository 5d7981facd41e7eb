"""Hostile manifests: whatever the text, the new parsers return entries or raise ManifestError, never anything else.

setup.py is parsed, never run; YAML is composed safely; the reference scans
accept any text. A traceback here would be a stage crash ("internal error")
instead of an error naming the file.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlsecops.changes import changeset as changes
from mlsecops.stages.deps.manifests import conda, conda_names, pipfile, references, setup_cfg, setup_py
from mlsecops.stages.deps.manifests.interface import ManifestError
from mlsecops.stages.deps.manifests.reader import ManifestReader

from .conftest import write_tree

NAMES = conda_names.load()

FRAGMENTS = [
    "setup(", ")", "install_requires=", "extras_require=", "[", "]", "{", "}", "'a==1'", '"b>=2"', ",", "\n", "**kw",
    "X = ", "X", "+", "*", "dependencies:", "  - ", "pip:", "numpy=1.2=py_0", "-r ", "req.txt", "[options]",
    "install_requires =", "file: a.txt", "[packages]", 'x = "==1"', "{git = 'u'}", "&a", "*a", "!!python/object:os.system",
    "%(x)s", "\x00", "\\", "# via -r a.in", "pip install -c c.txt", "'''", "lambda: 0", "dict(a=1)", "global X",
]


def _reader(tmp_path: Path, name: str, text: str) -> ManifestReader:
    root = write_tree(tmp_path / "repo", {name: text})
    return ManifestReader(changes.build(root, tmp_path / "work"), 1 << 20)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=8), max_size=30).map("".join))
def test_parsers_only_raise_manifest_errors(tmp_path: Path, text: str) -> None:
    parsers = {
        "setup.py": lambda r: setup_py.parse("setup.py", r),
        "setup.cfg": lambda r: setup_cfg.parse("setup.cfg", r),
        "Pipfile": lambda r: pipfile.parse("Pipfile", r),
        "environment.yml": lambda r: conda.parse("environment.yml", r, NAMES),
    }
    for name, parse in parsers.items():
        try:
            parse(_reader(tmp_path, name, text))
        except ManifestError:
            pass
    references.requirements_refs(text)
    references.installer_refs("Dockerfile", text)
    references.setup_py_refs(text)
    references.setup_cfg_refs(text)
    references.conda_refs(text)
    references.pyproject_refs(text)


def test_setup_py_nested_too_deeply_is_an_error_or_not_literal(tmp_path: Path) -> None:
    deep = "setup(install_requires=" + "[" * 5000 + "]" * 5000 + ")\n"
    try:
        out = setup_py.parse("setup.py", _reader(tmp_path, "setup.py", deep))
    except ManifestError as exc:
        assert "not valid Python" in str(exc)
    else:
        assert [u.reason for u in out.unaudited] == ["not-literal"]


def test_yaml_aliases_are_not_expanded(tmp_path: Path) -> None:
    laughs = "a: &a [" + ", ".join(["x"] * 10) + "]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8))
    text = laughs + "dependencies: *i\n"  # 10**9 strings if expanded
    out = conda.parse("environment.yml", _reader(tmp_path, "environment.yml", text), NAMES)
    assert len(out.problems) == 10 and out.entries() == 0  # ten entries that are lists, each reported once


def test_a_python_tag_in_an_environment_file_is_refused_not_constructed(tmp_path: Path) -> None:
    text = "dependencies:\n  - !!python/object/apply:os.system ['touch PWNED']\n"
    try:
        conda.parse("environment.yml", _reader(tmp_path, "environment.yml", text), NAMES)
    except ManifestError:
        pass
    assert not (tmp_path / "repo" / "PWNED").exists() and not Path("PWNED").exists()
