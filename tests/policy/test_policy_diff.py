"""Issue 13.2: the structural diff of two policies, with a direction per field (docs/policy.md's table)."""

from __future__ import annotations

import pytest

from mlsecops.policy.diff import diff
from mlsecops.policy.loader import load_policy, parse_policy_text
from mlsecops.policy.source import shipped_path

W = "{reason: r, expires: 2030-01-01}"


def changes(before: str, after: str) -> dict[str, list[str]]:
    a = parse_policy_text(before or "version: 1\n", "a.yml")[0]
    b, lines = parse_policy_text(after or "version: 1\n", "b.yml")
    d = diff(a, b, lines)
    return {"loosens": [c.text() for c in d.loosening], "tightens": [c.text() for c in d.tightening]}


# (before, after, loosening fields, tightening fields)
TABLE = [
    ("models: {fail_on: high}", "models: {fail_on: critical}", ["models.fail_on"], []),
    ("models: {fail_on: high}", "models: {fail_on: never}", ["models.fail_on"], []),
    ("models: {fail_on: high}", "models: {fail_on: medium}", [], ["models.fail_on"]),
    ("gate: {fail_on: high}", "gate: {fail_on: never}", ["gate.fail_on"], []),
    ("models: {unknown_globals: medium}", "models: {unknown_globals: high}", [], ["models.unknown_globals"]),
    ("models: {unknown_calls: high}", "models: {unknown_calls: medium}", ["models.unknown_calls"], []),
    ("", "models: {unknown_calls: 'off'}", ["models.unknown_calls"], []),
    ("models: {unknown_calls: medium}", "models: {unknown_calls: critical}", [], ["models.unknown_calls"]),
    ("lfs_pointers: high", "lfs_pointers: 'off'", ["lfs_pointers"], []),
    ("policy_change: high", "policy_change: low", ["policy_change"], []),
    ("fail_on_scanner_error: true", "fail_on_scanner_error: false", ["fail_on_scanner_error"], []),
    ("fail_on_scanner_error: false", "fail_on_scanner_error: true", [], ["fail_on_scanner_error"]),
    ("", f"waivers: [{{rule: MLS101, path: 'vendor/**', {W[1:]}]", ["waivers"], []),
    (f"waivers: [{{rule: MLS101, path: 'vendor/**', {W[1:]}]", "", [], ["waivers"]),
    (f"waivers: [{{rule: MLS101, {W[1:]}]", "waivers: [{rule: MLS101, reason: r, expires: 2031-01-01}]", ["waivers"], []),
    (f"waivers: [{{rule: MLS101, {W[1:]}]", "waivers: [{rule: MLS101, reason: r, expires: 2029-01-01}]", [], ["waivers"]),
    (f"waivers: [{{rule: MLS101, {W[1:]}]", "waivers: [{rule: MLS101, reason: other words, expires: 2030-01-01}]", [], []),
    ("", "models: {allow_globals: ['mypkg:*']}", ["models.allow_globals"], []),
    ("", "models: {deny_globals: ['mypkg:evil']}", [], ["models.deny_globals"]),
    ("", "models: {allowed_formats: [safetensors]}", [], ["models.allowed_formats"]),
    ("models: {allowed_formats: [safetensors]}", "models: {allowed_formats: [safetensors, pickle]}", ["models.allowed_formats"], []),
    ("models: {allowed_formats: [safetensors]}", "", ["models.allowed_formats"], []),
    ("models: {blocked_formats: [pickle]}", "", ["models.blocked_formats"], []),
    ("", "models: {engines: [mlsecops, fickling]}", ["models.engines"], []),
    ("", "ignore: ['models/**']", ["ignore"], []),
    ("ignore: ['models/**']", "ignore: ['models/**', '!models/keep.pt']", [], ["ignore"]),
    ("ignore: ['!a/b', 'a/**']", "ignore: ['a/**', '!a/b']", [], []),  # reordered: may change what is ignored
    ("", "paths: ['models/**']", ["paths"], []),
    ("paths: ['models/**']", "paths: ['models/**', 'weights/**']", [], ["paths"]),
    ("paths: ['models/**']", "", [], ["paths"]),
    ("", "deps: {skip_packages: [torch]}", ["deps.skip_packages"], []),
    ("", "deps: {ignore: [{id: GHSA-1, reason: r, expires: 2030-01-01}]}", ["deps.ignore"], []),
    ("", "deps: {resolve: true}", ["deps.resolve"], []),
    ("", "deps: {manifests: ['requirements.txt']}", ["deps.manifests"], ["deps.manifests"]),  # set-wise: 11 out, 1 in
    ("", "fuzz: {budget_seconds: 10}", ["fuzz.budget_seconds"], []),
    ("", "fuzz: {budget_seconds: 120}", [], ["fuzz.budget_seconds"]),
    ("", "fuzz: {harnesses: []}", ["fuzz.harnesses"], []),
    ("", "fuzz: {corpus_dir: models}", ["fuzz.corpus_dir"], []),  # no known order: counts as loosening
    ("", "models: {limits: {max_expanded_mb: 100000}}", ["models.limits.max_expanded_mb"], []),
    ("", "models: {limits: {max_expanded_mb: 64}}", [], ["models.limits.max_expanded_mb"]),
    # a lower limit is tighter only when what it stops blocks: not with scanner errors advisory
    ("", "fail_on_scanner_error: false\nmodels: {limits: {timeout_seconds: 5}}",
     ["fail_on_scanner_error", "models.limits.timeout_seconds"], []),
    ("", "models: {fail_on: critical, limits: {max_depth: 2}}", ["models.fail_on", "models.limits.max_depth"], []),
    ("", "models: {limits: {engine_max_opcodes: 1000}}", ["models.limits.engine_max_opcodes"], []),
    ("", "deps: {limits: {max_packages: 10}}", [], ["deps.limits.max_packages"]),
    ("", "version: 1\n# only a comment\n", [], []),
]


@pytest.mark.parametrize(("before", "after", "loosens", "tightens"), TABLE)
def test_each_field_has_a_direction(before: str, after: str, loosens: list[str], tightens: list[str]) -> None:
    got = changes(before, after)
    fields = {k: sorted({t.split(":")[0] for t in v}) for k, v in got.items()}
    if before.startswith("ignore: ['!a/b'"):
        assert fields["loosens"] == ["ignore"] and "→" in got["loosens"][0]  # order changed: unknown, so loosening
        return
    assert fields == {"loosens": sorted(loosens), "tightens": sorted(tightens)}, got


def test_changes_name_the_line_of_the_proposed_file() -> None:
    got = changes("models: {fail_on: high}\n", "version: 1\nmodels:\n  fail_on: never\n")
    assert got["loosens"] == ["models.fail_on: high → never (line 3)"]


def test_the_shipped_policies_are_ordered_as_their_names_say() -> None:
    default, strict, audit = (load_policy(shipped_path(n)) for n in ("default", "strict", "audit-only"))
    to_strict = diff(default, strict)
    assert to_strict.tightening and not to_strict.loosening, [c.text() for c in to_strict.loosening]
    to_audit = diff(default, audit)
    assert to_audit.loosening and not to_audit.tightening
