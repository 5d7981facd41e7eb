"""The deps stage end to end, offline: findings where the pins are, policy knobs, and every way to fail closed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mlsecops.changes import changeset as changes
from mlsecops.context import Context
from mlsecops.findings import Severity
from mlsecops.policy.model import Policy
from mlsecops.stages.deps import stage

from .conftest import Scan, record, write_db, write_tree

REQS = "# pins\njinja2==2.10\npyyaml==5.3\nrequests==2.20.0\nflask>=1.0\n"


def by_id(result) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {f.vuln_id or f"{f.rule_id}:{f.package}": f for f in result.findings}


def test_findings_point_at_the_pin_with_ids_aliases_fixes_and_severity(scan: Scan, db: Path) -> None:
    result = scan({"requirements.txt": REQS}, advisory_db=db)
    found = by_id(result)
    assert set(found) == {"PYSEC-2019-217", "PYSEC-2021-66", "PYSEC-2020-96", "MLS202:flask"}
    jinja = found["PYSEC-2019-217"]
    assert (jinja.rule_id, jinja.path, jinja.line, jinja.package, jinja.version) == ("MLS201", "requirements.txt", 2, "jinja2", "2.10")
    assert jinja.aliases == ["CVE-2019-10906", "GHSA-462w-v97r-4m45"]
    assert jinja.fix_versions == ["2.10.1"]
    assert jinja.fix == "upgrade jinja2 to 2.11.3"  # the lowest release that clears both jinja2 advisories
    assert jinja.properties["safe_version"] == "2.11.3"
    assert jinja.severity == Severity.high and jinja.properties["severity_source"] == "database_specific"  # from the GHSA alias record
    assert jinja.tool == "pip-audit" and jinja.help_uri == "https://osv.dev/vulnerability/PYSEC-2019-217"
    pyyaml = found["PYSEC-2020-96"]
    assert (pyyaml.severity, pyyaml.properties["cvss_score"], pyyaml.line) == (Severity.critical, 9.8, 3)
    assert found["PYSEC-2021-66"].properties["severity_source"] == "unknown"
    assert found["MLS202:flask"].line == 5 and found["MLS202:flask"].severity == Severity.medium
    assert result.errors == []
    assert result.stats == {"artifacts": 1, "packages": 3, "vulnerabilities": 3, "unpinned": 1}


def test_fingerprints_do_not_move_with_lines(scan: Scan, db: Path, tmp_path: Path) -> None:
    first = {f.vuln_id: (f.fingerprint, f.line) for f in scan({"requirements.txt": "jinja2==2.10\n"}, advisory_db=db).findings}
    second = {f.vuln_id: (f.fingerprint, f.line) for f in scan({"requirements.txt": "\n\n# moved\njinja2==2.10\n"}, advisory_db=db).findings}
    assert {k: v[0] for k, v in first.items()} == {k: v[0] for k, v in second.items()}
    assert {v[1] for v in first.values()} == {1} and {v[1] for v in second.values()} == {4}


def test_included_file_is_where_the_finding_is(scan: Scan, db: Path) -> None:
    result = scan({"requirements.txt": "-r base/common.txt\n", "base/common.txt": "\njinja2==2.10\n"}, advisory_db=db)
    assert {(f.path, f.line) for f in result.findings} == {("base/common.txt", 2)}


def test_skip_packages_and_policy_severities(scan: Scan, db: Path) -> None:
    result = scan({"requirements.txt": REQS}, advisory_db=db, skip_packages=["Jinja2"], unpinned="off", unknown_severity="low")
    assert set(by_id(result)) == {"PYSEC-2020-96"}
    result = scan({"requirements.txt": REQS}, advisory_db=db, unknown_severity="off", unpinned="high")
    found = by_id(result)
    assert "PYSEC-2021-66" not in found  # unknown severity, reported "off"
    assert found["MLS202:flask"].severity == Severity.high


def test_ignored_vulns_are_still_reported_for_the_judge(scan: Scan, db: Path) -> None:
    result = scan({"requirements.txt": "jinja2==2.10\n"}, advisory_db=db,
                  ignore=[{"id": "CVE-2019-10906", "reason": "not reachable", "expires": "2099-01-01"}])
    assert "PYSEC-2019-217" in by_id(result)


def test_malformed_line_is_an_error_and_the_rest_still_audited(scan: Scan, db: Path) -> None:
    result = scan({"requirements.txt": "jinja2==2.10\nthis is bad\n"}, advisory_db=db)
    assert {f.vuln_id for f in result.findings} == {"PYSEC-2019-217", "PYSEC-2021-66"}
    (err,) = result.errors
    assert err.path == "requirements.txt" and err.message.startswith("line 2:")


def test_include_loop_is_a_stage_error_naming_file_and_line(scan: Scan, db: Path) -> None:
    result = scan({"requirements.txt": "-r a.txt\njinja2==2.10\n", "a.txt": "-r requirements.txt\n"}, advisory_db=db)
    (err,) = result.errors
    assert err.path == "a.txt" and "line 1: include loop" in err.message and "included from requirements.txt" in err.message
    assert len(result.findings) == 2


def test_unparseable_lock_is_an_error_not_a_clean_lock(scan: Scan, db: Path) -> None:
    result = scan({"uv.lock": "version = 1\n[[package]\nname = 'x'\n", "requirements.txt": "jinja2==2.10\n"}, advisory_db=db)
    (err,) = result.errors
    assert err.path == "uv.lock" and "line 2" in err.message and "TOML" in err.message
    assert result.stats["artifacts"] == 1  # only the requirements file was audited


def test_huge_manifest_is_an_error(scan: Scan, db: Path) -> None:
    result = scan({"requirements.txt": "jinja2==2.10\n" + "# padding padding padding\n" * 50_000}, advisory_db=db,
                  limits={"max_manifest_mb": 0.5})
    (err,) = result.errors
    assert err.path == "requirements.txt" and "max_manifest_mb" in err.message
    assert result.findings == [] and result.stats["artifacts"] == 0


def test_too_many_requirements_is_an_error(scan: Scan, db: Path) -> None:
    text = "".join(f"pkg{i}==1.0\n" for i in range(50))
    result = scan({"requirements.txt": text}, advisory_db=db, limits={"max_packages": 10})
    assert "max_packages" in result.errors[0].message and result.findings == []


def test_unusable_database_fails_every_manifest_with_pins(scan: Scan, tmp_path: Path) -> None:
    result = scan({"requirements.txt": "jinja2==2.10\n", "sub/requirements.txt": "flask>=1\n"}, advisory_db=tmp_path / "nowhere")
    (err,) = result.errors  # the manifest without pins had nothing to check
    assert err.path == "requirements.txt" and "1 of 1 pinned package(s) not audited" in err.message and "nowhere" in err.message
    assert result.stats["packages"] == 0


def test_unreadable_records_in_the_database_are_an_error(scan: Scan, db: Path) -> None:
    (db / "vulns" / "jinja2" / "PYSEC-BAD.yaml").write_text("id: [\n", encoding="utf-8")
    result = scan({"requirements.txt": "jinja2==2.10\n"}, advisory_db=db)
    assert len(result.findings) == 2
    (err,) = result.errors
    assert err.path == "" and "1 record(s) could not be read" in err.message and "PYSEC-BAD.yaml" in err.message


def test_stage_timeout_marks_what_was_not_checked(scan: Scan, db: Path) -> None:
    result = scan({"requirements.txt": "jinja2==2.10\n"}, advisory_db=db, timeout_seconds=1e-9)
    assert result.errors and all("ran out of time" in e.message for e in result.errors)
    assert any(e.path == "requirements.txt" and "not audited" in e.message for e in result.errors)
    assert result.findings == []


def test_vcs_requirement_is_one_finding_url_pins_are_audited_and_local_paths_counted(scan: Scan, db: Path) -> None:
    text = "-e .\ngit+https://example.invalid/y.git#egg=y\njinja2 @ https://example.invalid/Jinja2-2.10-py2.py3-none-any.whl\n"
    result = scan({"requirements.txt": text}, advisory_db=db)
    assert result.errors == []
    (vcs,) = [f for f in result.findings if f.rule_id == "MLS203"]
    assert (vcs.line, vcs.severity, vcs.package) == (2, Severity.medium, "y") and "not audited: source is git" in vcs.message
    assert {(f.vuln_id, f.line) for f in result.findings if f.rule_id == "MLS201"} == {("PYSEC-2019-217", 3), ("PYSEC-2021-66", 3)}
    assert result.stats["local"] == 1 and result.stats["unaudited"] == 1


def test_only_the_policy_globs_are_manifests(scan: Scan, db: Path) -> None:
    files = {"docs/notes.txt": "jinja2==2.10\n", "requirements-dev.txt": "pyyaml==5.3\n", "pkg/pyproject.toml": '[project]\nname="x"\ndependencies=["requests==2.19.0"]\n'}
    result = scan(files, advisory_db=db)
    assert {f.path for f in result.findings} == {"requirements-dev.txt", "pkg/pyproject.toml"}
    result = scan(files, advisory_db=db, manifests=["docs/*.txt"])
    assert {f.path for f in result.findings} == {"docs/notes.txt"}


def test_no_manifest_in_the_tree_is_a_finding_not_silence(scan: Scan, db: Path) -> None:
    result = scan({"model.bin": b"\x80\x04."}, advisory_db=db)
    assert result.stats == {"artifacts": 0} and result.errors == []
    (f,) = result.findings
    assert (f.rule_id, f.severity, f.path) == ("MLS204", Severity.low, ".")
    assert scan({"model.bin": b"\x80\x04."}, advisory_db=db, no_manifest="off").findings == []


def test_one_finding_per_file_package_and_vulnerability(scan: Scan, tmp_path: Path) -> None:
    db = write_db(tmp_path / "db2", [record("PYSEC-1", "pkg", fixed="3.0")])
    text = 'pkg==1.0 ; python_version < "3.10"\npkg==2.0 ; python_version >= "3.10"\n'
    result = scan({"requirements.txt": text, "constraints.txt": "pkg==1.0\n"}, advisory_db=db)
    assert sorted((f.path, f.line, f.version) for f in result.findings) == [("constraints.txt", 1, "1.0"), ("requirements.txt", 1, "1.0")]


def _git(root: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "HOME": str(root), "PATH": "/usr/bin:/bin:/usr/local/bin"}
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True, env=env).stdout.strip()


def test_diff_mode_audits_the_changed_manifests_at_their_head_version(db: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "base.txt").write_text("pyyaml==5.3\n")
    (repo / "requirements.txt").write_text("jinja2==3.1.6\n")
    (repo / "other").mkdir()
    (repo / "other" / "requirements.txt").write_text("requests==2.19.0\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    base = _git(repo, "rev-parse", "HEAD")
    (repo / "requirements.txt").write_text("-r base.txt\njinja2==2.10\n")
    _git(repo, "commit", "-q", "-am", "head")
    head = _git(repo, "rev-parse", "HEAD")
    (repo / "requirements.txt").write_text("jinja2==3.1.6\n")  # the work tree is not the head: the blob is read
    _git(repo, "commit", "-q", "-am", "later")
    work = tmp_path / "work"
    cs = changes.build(repo, work, base=base, head=head)
    ctx = Context(root=repo, workdir=work, cache_dir=tmp_path / "cache", advisory_db=db, policy=Policy())
    result = stage.run(cs, ctx)
    assert result.errors == []
    assert {(f.path, f.line, f.vuln_id) for f in result.findings} == {
        ("requirements.txt", 2, "PYSEC-2019-217"), ("requirements.txt", 2, "PYSEC-2021-66"), ("base.txt", 1, "PYSEC-2020-96")}


_IMPORTS_PIP_AUDIT = """
import sys
from pathlib import Path
from mlsecops.changes import changeset
from mlsecops.context import Context
from mlsecops.stages.deps import stage
root, work = Path(sys.argv[1]), Path(sys.argv[2])
result = stage.run(changeset.build(root, work), Context(root=root, workdir=work, advisory_db=Path(sys.argv[3])))
print(result.stats["artifacts"], "pip_audit" in sys.modules)
"""


def test_only_a_change_that_touches_a_manifest_pays_for_importing_pip_audit(tmp_path: Path, db: Path) -> None:
    """Most pull requests touch no manifest; importing pip-audit and pip costs them a quarter second."""

    def run(files: dict[str, str | bytes]) -> str:
        root = write_tree(tmp_path / f"repo{len(files)}", files)
        work = tmp_path / f"work{len(files)}"
        work.mkdir()
        out = subprocess.run([sys.executable, "-c", _IMPORTS_PIP_AUDIT, str(root), str(work), str(db)],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()

    assert run({"model.pkl": b"\x80\x04N.", "README.md": "hi"}) == "0 False"
    assert run({"model.pkl": b"\x80\x04N.", "README.md": "hi", "requirements.txt": REQS}) == "1 True"
