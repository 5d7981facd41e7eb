"""Issue 13.4: every list of names in a policy takes known values only; a typo is an error with
file, line, field and the allowed values, not a quietly weaker gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlsecops.policy.loader import PolicyError, load_policy_text
from tests.conftest import run_cli


def test_a_misspelt_engine_is_refused_by_policy_check(tmp_path: Path) -> None:
    """Before: `engines: [mlsecops, ficklng]` passed and fickling silently stopped running."""
    policy = tmp_path / ".mlsecops.yml"
    policy.write_text("version: 1\nmodels:\n  engines: [mlsecops, ficklng]\n")
    proc = run_cli("policy", "check", str(policy))
    assert proc.returncode == 2
    assert f"{policy}:3: models.engines[1]: unknown engine 'ficklng' (did you mean 'fickling'?); " \
           "allowed: mlsecops, fickling, modelscan" in proc.stderr
    scan = run_cli("scan", str(tmp_path), "--stages", "models", "--sarif", str(tmp_path / "s.sarif"))
    assert scan.returncode == 2 and "models.engines[1]" in scan.stderr


@pytest.mark.parametrize(("yaml", "where", "says"), [
    ("models:\n  blocked_formats: [pickle, pytroch-zip]\n", "p.yml:2: models.blocked_formats[1]", "did you mean 'pytorch-zip'?"),
    ("models:\n  allowed_formats:\n    - safetensor\n", "p.yml:3: models.allowed_formats[0]", "allowed: pickle,"),
    ("waivers:\n  - rule: MLS1O1\n    reason: r\n    expires: 2030-01-01\n", "p.yml:2: waivers[0].rule", "matches no rule"),
    ("waivers:\n  - rule: MLS9*\n    reason: r\n    expires: 2030-01-01\n", "p.yml:2: waivers[0].rule", "allowed: MLS001"),
    ("deps:\n  skip_packages: ['torch', 'my package']\n", "p.yml:2: deps.skip_packages[1]", "not a Python package name"),
    ("deps:\n  ignore:\n    - {id: GHSA-1, reason: r, expires: 2030-01-01, packages: ['jinja2;']}\n",
     "p.yml:3: deps.ignore[0].packages[0]", "not a Python package name"),
    ("gate:\n  fail_on: hgh\n", "p.yml:2: gate.fail_on", "did you mean 'high'?"),
    ("fuzz:\n  python_exception_severity: loww\n", "p.yml:2: fuzz.python_exception_severity", "'critical', 'high'"),
])
def test_names_outside_the_vocabulary_are_errors(yaml: str, where: str, says: str) -> None:
    with pytest.raises(PolicyError) as exc:
        load_policy_text(yaml, "p.yml")
    text = str(exc.value)
    assert text.startswith(where + ":") and says in text, text


def test_known_names_and_rule_globs_load() -> None:
    p = load_policy_text(
        "models:\n  engines: [mlsecops, modelscan]\n  blocked_formats: [pickle, joblib]\n"
        "deps:\n  skip_packages: [my-internal.lib_2]\n"
        "waivers:\n  - {rule: MLS1*, reason: r, expires: 2030-01-01}\n  - {rule: MLS201, reason: r, expires: 2030-01-01}\n",
        "p.yml")
    assert p.models.engines == ["mlsecops", "modelscan"] and p.waivers[0].rule == "MLS1*"
