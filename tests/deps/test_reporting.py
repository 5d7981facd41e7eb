"""What reviewers see: the PR comment's deps section, SARIF lines and rules, the CLI's exit code."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from mlsecops import cli
from mlsecops.policy.model import Policy
from mlsecops.policy.judge import judge
from mlsecops.reporters import markdown, sarif
from mlsecops.reporters.escape import code
from mlsecops.stages.deps.policy import DepsPolicy

from .conftest import Scan, record, write_db, write_tree

REQS = "jinja2==2.10\npyyaml==5.3\nflask>=1\n"


def _verdict(result, **deps):  # type: ignore[no-untyped-def]
    return judge([result], Policy(deps=DepsPolicy(**deps)), date(2025, 1, 1), "test policy")


def test_comment_groups_by_package_with_the_minimal_safe_upgrade_and_fix_versions(scan: Scan, db: Path) -> None:
    verdict = _verdict(scan({"requirements.txt": REQS}, advisory_db=db),
                       ignore=[{"id": "CVE-2020-28493", "reason": "tested", "expires": "2099-01-01"}])
    text = markdown.render(verdict)
    section = text.split("### Dependencies", 1)[1].split("<details>", 1)[0]
    rows = [ln for ln in section.splitlines() if ln.startswith("| ") and not ln.startswith("| Package")]
    assert len(rows) == 2  # jinja2 and pyyaml, one row each
    jinja = next(r for r in rows if code("jinja2") in r.split("|")[1])
    assert code("requirements.txt:1") in jinja
    assert "[PYSEC\\-2019\\-217](https://osv.dev/vulnerability/PYSEC-2019-217)" in jinja
    assert "PYSEC\\-2021\\-66" not in jinja  # waived: listed with the waived findings, not as blocking
    assert jinja.rstrip().endswith(f"{code('jinja2==2.11.3')} |")  # the minimal upgrade clearing every advisory
    assert code("pyyaml==5.3.1") in next(r for r in rows if code("pyyaml") in r.split("|")[1])
    waived = text.split("Waived by the policy (1)", 1)[1]
    assert "PYSEC\\-2021\\-66" in waived and "tested" in waived
    assert "1 unpinned requirement, not audited" in text and code("flask", table=False) in text


def test_hostile_advisory_and_package_text_is_inert(scan: Scan, tmp_path: Path) -> None:
    evil = record("PYSEC-9999-1", "evil-pkg", fixed="2.0")
    evil["summary"] = "<img src=x onerror=alert(1)> [click](https://attacker.invalid) @everyone | col"
    db = write_db(tmp_path / "evildb", [evil])
    verdict = _verdict(scan({"requirements.txt": "evil-pkg==1.0\n"}, advisory_db=db))
    text = markdown.render(verdict)
    assert "<img" not in text and "](https://attacker" not in text and "@everyone" not in text
    assert code("evil-pkg==2.0") in text  # the package's row, with its upgrade line


def test_sarif_points_at_the_requirement_line_with_a_rule_per_vulnerability(scan: Scan, db: Path) -> None:
    result = scan({"requirements.txt": "\n# jinja\njinja2==2.10\n"}, advisory_db=db)
    doc = sarif.render(_verdict(result))
    (run,) = doc["runs"]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert set(rules) == {"MLS201/PYSEC-2019-217", "MLS201/PYSEC-2021-66"}
    assert rules["MLS201/PYSEC-2019-217"]["helpUri"] == "https://osv.dev/vulnerability/PYSEC-2019-217"
    assert rules["MLS201/PYSEC-2019-217"]["help"]["text"] == "upgrade jinja2 to 2.11.3"
    for res in run["results"]:
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == "requirements.txt" and loc["region"]["startLine"] == 3


def test_cli_exit_codes_and_json(tmp_path: Path, db: Path) -> None:
    repo = write_tree(tmp_path / "repo", {"requirements.txt": REQS})
    out = tmp_path / "report.json"
    args = ["scan", str(repo), "--stages", "deps", "--advisory-db", str(db), "--json", str(out), "--sarif", str(tmp_path / "o.sarif"),
            "--cache-dir", str(tmp_path / "cache"), "-q"]
    assert cli.main(args) == 1
    data = json.loads(out.read_text())
    assert data["verdict"] == "fail" and data["stages"]["deps"]["vulnerabilities"] == 3
    assert {f["vuln_id"] for f in data["findings"] if f["rule_id"] == "MLS201"} == {"PYSEC-2019-217", "PYSEC-2021-66", "PYSEC-2020-96"}
    write_tree(repo, {"requirements.txt": "jinja2==3.1.6\n"})
    assert cli.main(args) == 0
    write_tree(repo, {"requirements.txt": "jinja2==3.1.6\n", "uv.lock": "[[package]\n"})
    assert cli.main(args) == 2  # an unparseable manifest fails closed
    assert json.loads(out.read_text())["errors"][0]["path"] == "uv.lock"
