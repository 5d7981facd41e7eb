"""The command line end to end: the contract's flags, outputs and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema

from mlsecops import fixtures as fx
from tests.conftest import ROOT, SARIF_SCHEMA, make_repo, run_cli, scan_json


def demo(tmp_path: Path) -> Path:
    repo = tmp_path / "demo"
    subprocess.run([sys.executable, str(ROOT / "examples" / "make_demo_repo.py"), str(repo)], check=True, capture_output=True)
    return repo


def test_demo_pull_request_fails_with_every_report_written(tmp_path: Path) -> None:
    repo = demo(tmp_path)
    out = tmp_path / "out"
    proc = run_cli("scan", str(repo), "--base", "demo-base", "--head", "demo-head", "--stages", "models",
                   "--sarif", str(out / "m.sarif"), "--json", str(out / "r.json"), "--markdown", str(out / "c.md"), "--no-cache")
    assert proc.returncode == 1, proc.stderr
    report = json.loads((out / "r.json").read_text())
    blocking = {(f["path"], f["rule_id"]) for f in report["findings"] if f["status"] == "blocking"}
    assert blocking == {("models/classifier.pkl", "MLS101"), ("models/checkpoint.pt", "MLS101"), ("data/vocab.txt", "MLS101")}
    assert report["stages"]["models"]["artifacts"] == 5  # the changed model-like files (the credit ONNX model among them)
    assert (out / "c.md").read_text().startswith("<!-- mlsecops:comment -->")
    schema = json.loads(SARIF_SCHEMA.read_text())
    assert not list(jsonschema.validators.validator_for(schema)(schema).iter_errors(json.loads((out / "m.sarif").read_text())))
    assert "BLOCKING" in proc.stdout and "verdict: FAIL" in proc.stdout


def test_clean_change_passes_and_plain_folder_works(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    base, head = make_repo(repo, {"a.safetensors": fx.safetensors_file({"w": 4})}, {"b.pt": fx.torch_zip({"w": 2})})
    code, report = scan_json(tmp_path, repo, "--base", base, "--head", head, "--stages", "models")
    assert code == 0 and report["verdict"] == "pass" and report["stages"]["models"]["artifacts"] == 1
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "x.bin").write_bytes(fx.malicious_pickle())
    code, report = scan_json(tmp_path, folder, "--stages", "models")
    assert code == 1 and report["findings"][0]["path"] == "x.bin"


def test_single_file_path(tmp_path: Path) -> None:
    f = tmp_path / "one.pkl"
    f.write_bytes(fx.malicious_pickle())
    code, report = scan_json(tmp_path, f, "--stages", "models")
    assert code == 1 and report["findings"][0]["path"] == "one.pkl"


def test_usage_and_configuration_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    missing = run_cli("scan", str(tmp_path / "nope"), "--stages", "models")
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    bad_stage = run_cli("scan", str(tmp_path), "--stages", "models,lint")
    assert bad_stage.returncode == 2 and "unknown stage" in bad_stage.stderr
    policy = tmp_path / "p.yml"
    policy.write_text("models:\n  fail_on: hihg\n")
    bad_policy = run_cli("scan", str(tmp_path), "--policy", str(policy))
    assert bad_policy.returncode == 2 and "p.yml:2: models.fail_on" in bad_policy.stderr
    no_repo = run_cli("scan", str(tmp_path), "--base", "HEAD~1", "--stages", "models")
    assert no_repo.returncode == 2 and "needs a git repository" in no_repo.stderr
    for proc in (missing, bad_stage, bad_policy, no_repo):
        assert "Traceback" not in proc.stderr


def test_pull_request_cannot_loosen_its_own_policy(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    base, head = make_repo(
        repo,
        {".mlsecops.yml": "models:\n  fail_on: high\n"},
        {".mlsecops.yml": "models:\n  fail_on: never\n", "evil.pkl": fx.malicious_pickle()},
    )
    code, report = scan_json(tmp_path, repo, "--base", base, "--head", head, "--stages", "models")
    assert code == 1
    assert {f["rule_id"] for f in report["findings"]} == {"MLS001", "MLS101"}
    assert "at base" in report["policy"]
    # outside diff mode the checked-out policy applies
    code, report = scan_json(tmp_path, repo, "--stages", "models")
    assert code == 0 and report["findings"][0]["status"] == "advisory"


def test_audit_only_and_strict_shipped_policies(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "evil.pkl").write_bytes(fx.malicious_pickle())
    (tmp_path / "p" / "state.pt").write_bytes(fx.torch_zip({"w": 2}))
    code, report = scan_json(tmp_path, tmp_path / "p", "--policy", "audit-only", "--stages", "models")
    assert code == 0 and all(f["status"] == "advisory" for f in report["findings"])
    code, report = scan_json(tmp_path, tmp_path / "p", "--policy", "strict", "--stages", "models")
    assert code == 1 and {f["path"] for f in report["findings"] if f["status"] == "blocking"} == {"evil.pkl", "state.pt"}


def test_outputs_are_written_atomically(tmp_path: Path) -> None:
    target = tmp_path / "ro"
    target.mkdir()
    target.chmod(0o500)
    try:
        proc = run_cli("scan", str(tmp_path), "--stages", "models", "--sarif", str(target / "sub" / "x.sarif"), "--no-cache")
        if proc.returncode == 2:  # not root: the folder really is read-only
            assert "cannot write" in proc.stderr
        assert not list(target.rglob("*.tmp"))
    finally:
        target.chmod(0o700)


def test_special_files_as_outputs_are_written_not_replaced(tmp_path: Path) -> None:
    import stat

    proc = run_cli("scan", str(tmp_path), "--stages", "models", "--sarif", "/dev/null", "--json", "/dev/null", "--no-cache", "-q")
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISCHR(Path("/dev/null").stat().st_mode)


def test_the_cli_imports_the_gate_only_when_a_command_needs_it() -> None:
    """`--version` and argument errors stay instant, and a scan can start its first
    models worker before this process spends its time importing pydantic and jinja2."""
    code = ("import sys; from mlsecops import cli; heavy = [m for m in ('pydantic', 'jinja2', 'yaml', 'fickling', "
            "'modelscan') if m in sys.modules]; print(heavy or 'none')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "none"


def test_a_models_worker_is_started_ahead_only_when_the_models_stage_runs(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from mlsecops import cli
    from mlsecops.stages.models.spawn import WorkerStarter

    started: list[int] = []
    real = WorkerStarter.prestart

    def counting(self: WorkerStarter) -> None:
        started.append(1)
        real(self)

    monkeypatch.setattr(WorkerStarter, "prestart", counting)
    repo = tmp_path / "r"
    make_repo(repo, {}, {"m.pkl": fx.malicious_pickle(), "requirements.txt": b"numpy==2.2.6\n"})
    sarif = str(tmp_path / "s.sarif")
    assert cli.main(["scan", str(repo), "--stages", "deps", "--advisory-db", str(tmp_path / "empty"), "-q", "--sarif", sarif]) in (0, 2)
    assert started == []
    assert cli.main(["scan", str(repo), "--stages", "models", "--no-cache", "-q", "--sarif", sarif]) == 1
    assert started == [1]
