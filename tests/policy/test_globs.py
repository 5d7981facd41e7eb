"""Issue 13.3: path globs have gitignore's meaning (pathspec), every row checked against git
itself (`git check-ignore --no-index`), and a pattern that cannot work is a policy error with
file, line and field instead of a crash in the middle of a scan."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mlsecops import fixtures as fx
from mlsecops import globs
from mlsecops.policy.loader import PolicyError, load_policy, load_policy_text
from mlsecops.policy.source import SHIPPED, shipped_path
from tests.conftest import ROOT, run_cli, scan_json

# The semantics docs/policy.md documents: (pattern, path, matches)
TABLE = [
    ("*.pkl", "a.pkl", True), ("*.pkl", "models/a.pkl", True), ("*.pkl", "m/n/a.pkl", True),  # no '/': any depth
    ("*.pkl", "a.pkl.bak", False),
    ("models/*.pkl", "models/a.pkl", True), ("models/*.pkl", "models/sub/a.pkl", False),  # '*' stays in a folder
    ("models/*.pkl", "x/models/a.pkl", False),  # a '/' anchors the pattern at PATH
    ("models/**", "models/a", True), ("models/**", "models/a/b.pt", True), ("models/**", "models", False),
    ("**/fixtures/**", "fixtures/a", True), ("**/fixtures/**", "t/fixtures/a/b", True),
    ("a/**/b", "a/b", True), ("a/**/b", "a/x/y/b", True), ("a/**/b", "a/xb", False),
    ("tests/", "tests/a.pkl", True), ("tests/", "x/tests/a.pkl", True),  # a folder and what is in it
    ("/a.pkl", "a.pkl", True), ("/a.pkl", "m/a.pkl", False),  # leading '/': the top only
    ("a**b", "axxb", True), ("a**b", "a/b", False),  # '**' not beside '/' is a plain '*'
    ("?.pt", "a.pt", True), ("?.pt", "ab.pt", False), ("m?d/x", "m/d/x", False),
    ("[ab].pt", "a.pt", True), ("[ab].pt", "c.pt", False), ("[!ab].pt", "c.pt", True), ("[a-c].pt", "b.pt", True),
    ("docs/[]]x", "docs/]x", True), ("docs/[]]x", "docs/x", False),  # ']' first in a class is literal
    ("\\#notes", "#notes", True), ("\\!x", "!x", True), ("a\\*b", "a*b", True), ("a\\*b", "axb", False),
]


def _git_ignores(tmp: Path, patterns: list[str], path: str) -> bool:
    (tmp / ".gitignore").write_text("\n".join(patterns) + "\n")
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    proc = subprocess.run(["git", "-C", str(tmp), "check-ignore", "-q", "--no-index", path], env=env)
    assert proc.returncode in (0, 1)
    return proc.returncode == 0


@pytest.fixture(scope="module")
def gitdir(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    if shutil.which("git") is None:
        return None
    d = tmp_path_factory.mktemp("gi")
    subprocess.run(["git", "init", "-q", str(d)], check=True)
    return d


@pytest.mark.parametrize(("pattern", "path", "expected"), TABLE)
def test_documented_semantics_and_git_agrees(pattern: str, path: str, expected: bool, gitdir: Path | None) -> None:
    assert globs.problem(pattern) is None
    assert globs.match(path, pattern) is expected
    if gitdir is not None:
        assert _git_ignores(gitdir, [pattern], path) is expected, "git reads this pattern differently"


LISTS = [
    (["models/**", "!models/keep.pt"], "models/keep.pt", False),
    (["models/**", "!models/keep.pt"], "models/other.pt", True),
    (["!models/keep.pt", "models/**"], "models/keep.pt", True),  # the last match decides
    (["*.pkl", "!vendor/*.pkl"], "vendor/a.pkl", False),
    ([], "a.pkl", False),
]


@pytest.mark.parametrize(("patterns", "path", "expected"), LISTS)
def test_lists_read_like_a_gitignore(patterns: list[str], path: str, expected: bool, gitdir: Path | None) -> None:
    assert globs.match_any(path, patterns) is expected
    if gitdir is not None and patterns:
        assert _git_ignores(gitdir, patterns, path) is expected


BAD = [
    ("[z-a].pt", "does not compile"),
    ("docs/[x", "unclosed '['"),
    ("#x", "a comment in gitignore syntax"),
    ("a\\", "does not compile"),
    (" a", "spaces"),
]


@pytest.mark.parametrize(("pattern", "why"), BAD)
def test_patterns_that_cannot_work_are_named(pattern: str, why: str) -> None:
    assert why in (globs.problem(pattern) or "")


@pytest.mark.parametrize(("field", "yaml", "line", "loc"), [
    ("waiver path", "waivers:\n  - rule: MLS101\n    path: 'docs/[z-a]x'\n    reason: r\n    expires: 2030-01-01\n", 3, "waivers[0].path"),
    ("waiver path negated", "waivers:\n  - rule: MLS101\n    path: '!docs/**'\n    reason: r\n    expires: 2030-01-01\n", 3, "waivers[0].path"),
    ("ignore", "version: 1\nignore:\n  - 'tests/**'\n  - 'data/[x'\n", 4, "ignore[1]"),
    ("paths", "paths: ['#models']\n", 1, "paths[0]"),
    ("only negations", "ignore:\n  - '!a'\n", 1, "ignore"),
    ("manifests", "deps:\n  manifests: ['reqs/[z-a].txt']\n", 2, "deps.manifests[0]"),
    ("harnesses", "fuzz:\n  harnesses:\n    - 'fuzz/[9-0]*.py'\n", 3, "fuzz.harnesses[0]"),
    ("allow_globals", "models:\n  allow_globals:\n    - 'mypkg:[]'\n", 3, "models.allow_globals[0]"),
    ("deny_globals", "models:\n  deny_globals: ['a::b']\n", 2, "models.deny_globals[0]"),
    ("import range", "models:\n  allow_globals: ['x.y:[z-a]*']\n", 2, "models.allow_globals[0]"),
])
def test_policy_check_names_file_line_and_field(tmp_path: Path, field: str, yaml: str, line: int, loc: str) -> None:
    policy = tmp_path / "p.yml"
    policy.write_text(yaml)
    proc = run_cli("policy", "check", str(policy))
    assert proc.returncode == 2, (field, proc.stdout)
    assert f"{policy}:{line}: {loc}:" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_waiver_path_with_a_bracket_works_instead_of_crashing_the_scan(tmp_path: Path) -> None:
    """Before: `docs/[]]x` passed `policy check` and the scan stopped with an internal error (exit 2)."""
    ws = tmp_path / "ws"
    (ws / "docs").mkdir(parents=True)
    (ws / "docs" / "]x").write_bytes(fx.malicious_pickle())
    (ws / ".mlsecops.yml").write_text(
        "waivers:\n  - rule: MLS101\n    path: 'docs/[]]x'\n    reason: reviewed fixture\n    expires: 2099-01-01\n")
    assert run_cli("policy", "check", str(ws / ".mlsecops.yml")).returncode == 0
    code, report = scan_json(tmp_path, ws, "--stages", "models")
    status = {f["rule_id"]: f["status"] for f in report["findings"]}
    assert code == 0 and status["MLS101"] == "waived", report


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_policies_still_load(name: str) -> None:
    load_policy(shipped_path(name))


def test_documented_policy_examples_still_load() -> None:
    """Every complete policy example in the README and docs/policy.md validates."""
    import re

    found = 0
    for doc in (ROOT / "README.md", ROOT / "docs" / "policy.md"):
        for block in re.findall(r"```yaml\n(.*?)```", doc.read_text(), re.S):
            if block.startswith("version: 1"):
                load_policy_text(block, doc.name)
                found += 1
    assert found >= 2


def test_the_defaults_of_every_glob_field_are_valid() -> None:
    from mlsecops.policy.model import Policy

    p = Policy()
    for pattern in [*p.deps.manifests, *p.fuzz.harnesses]:
        assert globs.problem(pattern) is None, pattern
    with pytest.raises(PolicyError):
        load_policy_text("paths: ['[']\n", "p.yml")
