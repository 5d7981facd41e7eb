"""The policy: validation with file/field/line errors, shipped policies, judging and waivers."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from mlsecops.findings import Finding, Severity, Stage, StageError, StageResult
from mlsecops.policy.judge import judge
from mlsecops.policy.loader import PolicyError, load_policy, load_policy_text
from mlsecops.policy.source import SHIPPED, shipped_path
from mlsecops.verdict import Status
from tests.conftest import run_cli


def errors(text: str) -> str:
    with pytest.raises(PolicyError) as exc:
        load_policy_text(text, "p.yml")
    return str(exc.value)


def test_unknown_key_names_file_line_field_and_suggests() -> None:
    msg = errors("version: 1\nmodels:\n  fial_on: high\n")
    assert msg == "p.yml:3: models.fial_on: unknown key 'fial_on' (did you mean 'fail_on'?)"


def test_wrong_type_and_bad_value() -> None:
    assert "p.yml:2: fuzz.budget_seconds: Input should be a valid number" in errors("fuzz:\n  budget_seconds: soon\n")
    msg = errors("deps:\n  fail_on: severe\n")
    assert msg.startswith("p.yml:2: deps.fail_on:") and "'severe'" in msg


def test_bad_yaml_duplicate_keys_empty_and_non_mapping() -> None:
    assert errors("models: [\n").startswith("p.yml:2: invalid YAML")
    assert errors("models:\n  fail_on: high\nmodels:\n  fail_on: low\n") == "p.yml:3: models: key written twice"
    assert errors("") == "p.yml: the policy file is empty"
    assert errors("- a\n- b\n") == "p.yml:1: a policy must be a mapping of keys to values"


@pytest.mark.parametrize("value", ["0x_", "-0b_", "2020-13-45"])
def test_a_scalar_yaml_resolves_but_cannot_construct_is_an_error_at_its_line(value: str) -> None:
    """PyYAML's resolver calls `0x_` an int and `2020-13-45` a date, then its constructor raises ValueError."""
    msg = errors(f"version: 1\nmodels:\n  fail_on: {value}\n")
    assert msg.startswith("p.yml:3: invalid YAML: the value"), msg


def test_waiver_needs_reason_and_expiry_and_format_names_are_checked() -> None:
    msg = errors("waivers:\n  - rule: MLS101\n    path: 'a/*.pkl'\n")
    assert "p.yml:2: waivers[0].reason: required field is missing" in msg
    assert "waivers[0].expires: required field is missing" in msg
    assert "unknown format 'pickel'" in errors("models:\n  blocked_formats: [pickel]\n")


def test_off_is_a_string_not_a_yaml_boolean() -> None:
    assert load_policy_text("lfs_pointers: off\n", "p.yml").lfs_pointers == "off"


def test_unreadable_and_non_utf8_policy(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read the policy"):
        load_policy(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_bytes(b"models:\n  fail_on: \xff\n")
    with pytest.raises(PolicyError, match="not UTF-8"):
        load_policy(bad)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_policies_are_valid(name: str) -> None:
    policy = load_policy(shipped_path(name))
    assert policy.version == 1


def test_shipped_policies_differ_as_documented() -> None:
    default, strict, audit = (load_policy(shipped_path(n)) for n in ("default", "strict", "audit-only"))
    assert default.models.fail_on == "high" and default.fail_on_scanner_error
    assert strict.models.unknown_globals == "high" and "pickle" in strict.models.blocked_formats
    assert all(getattr(audit, s).fail_on == "never" for s in ("deps", "models", "fuzz"))
    assert not audit.fail_on_scanner_error


def test_policy_check_cli(tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    good.write_text("models:\n  fail_on: critical\n")
    ok = run_cli("policy", "check", str(good))
    assert ok.returncode == 0 and "valid" in ok.stdout
    bad = tmp_path / "bad.yml"
    bad.write_text("models:\n  fail_on: critical\n  typo: 1\n")
    proc = run_cli("policy", "check", str(bad))
    assert proc.returncode == 2
    assert f"{bad}:3: models.typo: unknown key 'typo'" in proc.stderr
    assert "Traceback" not in proc.stderr


def finding(rule: str = "MLS101", sev: Severity = Severity.critical, path: str = "m/a.pkl", stage: Stage = Stage.models, **kw: object) -> Finding:
    return Finding(rule_id=rule, stage=stage, severity=sev, path=path, message="x", fingerprint=f"fp-{rule}-{path}", **kw)  # type: ignore[arg-type]


def test_thresholds_waivers_and_expiry() -> None:
    policy = load_policy_text(
        "models:\n  fail_on: high\n"
        "waivers:\n"
        "  - {rule: MLS101, path: 'vendor/*.pkl', reason: reviewed by security, expires: 2030-01-01}\n"
        "  - {rule: MLS102, path: '**', reason: old exception, expires: 2020-01-01}\n",
        "p.yml",
    )
    results = [StageResult(stage=Stage.models, findings=[
        finding(path="vendor/a.pkl"),                # waived
        finding(path="vendor/sub/b.pkl"),            # `*` does not cross folders: blocking
        finding("MLS102", Severity.high),            # expired waiver: blocking again
        finding("MLS103", Severity.medium),          # below threshold: advisory
    ])]
    v = judge(results, policy, date(2026, 6, 1))
    by = {(f.rule_id, f.path): f for f in v.findings}
    assert by[("MLS101", "vendor/a.pkl")].status == Status.waived
    assert by[("MLS101", "vendor/a.pkl")].waiver_reason == "reviewed by security"
    assert by[("MLS101", "vendor/sub/b.pkl")].status == Status.blocking
    assert by[("MLS102", "m/a.pkl")].status == Status.blocking
    assert by[("MLS102", "m/a.pkl")].expired_waiver
    assert by[("MLS103", "m/a.pkl")].status == Status.advisory
    assert [w.expired for w in v.expired_waivers] == ["2020-01-01"] and v.expired_waivers[0].matched == 1
    assert v.verdict == "fail" and v.exit_code == 1


def test_waiver_by_vulnerability_alias_and_deps_ignore() -> None:
    policy = load_policy_text(
        "deps:\n  ignore:\n    - {id: CVE-2019-10906, reason: sandboxed, expires: 2030-01-01}\n", "p.yml"
    )
    f = finding("MLS201", Severity.high, "requirements.txt", Stage.deps, vuln_id="PYSEC-2019-217",
                aliases=["CVE-2019-10906", "GHSA-462w-v97r-4m45"], package="jinja2")
    v = judge([StageResult(stage=Stage.deps, findings=[f])], policy, date(2026, 6, 1))
    assert v.findings[0].status == Status.waived and v.verdict == "pass"


def test_scanner_errors_fail_closed_unless_the_policy_says_otherwise() -> None:
    err = StageResult(stage=Stage.models, errors=[StageError(stage=Stage.models, path="a.pkl", message="engine crashed")])
    closed = judge([err], load_policy_text("version: 1\n", "p"), date(2026, 1, 1))
    assert closed.verdict == "error" and closed.exit_code == 2
    opened = judge([err], load_policy_text("fail_on_scanner_error: false\n", "p"), date(2026, 1, 1))
    assert opened.verdict == "pass" and opened.exit_code == 0
    both = judge([StageResult(stage=Stage.models, findings=[finding()], errors=err.errors)], load_policy_text("version: 1\n", "p"), date(2026, 1, 1))
    assert both.verdict == "fail"


def test_never_threshold_makes_a_stage_advisory() -> None:
    v = judge([StageResult(stage=Stage.models, findings=[finding()])], load_policy_text("models:\n  fail_on: never\n", "p"), date(2026, 1, 1))
    assert v.verdict == "pass" and v.findings[0].status == Status.advisory
