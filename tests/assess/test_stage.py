"""The assess stage end to end: git repositories with a base and a pull request, scanned in the sandbox."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

pytest.importorskip("fairlearn")
pytest.importorskip("onnxruntime")

from mlsecops import fixtures as gate_fixtures  # noqa: E402
from mlsecops.context import Context  # noqa: E402
from mlsecops.findings import Stage  # noqa: E402
from mlsecops.pipeline import scan  # noqa: E402
from mlsecops.policy.loader import load_policy_text  # noqa: E402
from mlsecops.stages.assess import sandboxed  # noqa: E402
from mlsecops.stages.assess import stage as assess_stage  # noqa: E402
from mlsecops.stages.assess.fixtures import FAIR, FAIR_RETRAINED, POLICY, UNFAIR, WEAK  # noqa: E402
from mlsecops.stages.assess.job import ModelResult, Results  # noqa: E402
from mlsecops.stages.fuzz.spec import JailStatus  # noqa: E402
from tests.assess.helpers import DATA, by_rule, credit_repo, model  # noqa: E402
from tests.conftest import SARIF_SCHEMA, git, make_repo, run_cli, scan_json, write  # noqa: E402


def assess_scan(tmp_path: Path, repo: Path, base: str, *extra: str) -> tuple[int, dict]:
    return scan_json(tmp_path, repo, "--base", base, "--stages", "assess", *extra)


def test_unfair_model_with_the_same_accuracy_is_blocked_with_the_group_table(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    base, _ = credit_repo(repo, {"models/credit.onnx": model(UNFAIR)})
    md = tmp_path / "comment.md"
    code, report = assess_scan(tmp_path, repo, base, "--markdown", str(md))
    assert code == 1, report
    assert [f["rule_id"] for f in report["findings"]] == ["MLS403"]
    f = report["findings"][0]
    assert f["status"] == "blocking" and f["stage"] == "assess" and f["path"] == "models/credit.onnx"
    assert "demographic_parity_difference" in f["message"] and "max 0.1" in f["message"]
    assert any(e.startswith("sex = F: n=") and "selection_rate" in e for e in f["evidence"])
    assert any(e.startswith("base model: sex = M") for e in f["evidence"])
    entry = report["details"]["assess"]["models"][0]
    acc = next(m for m in entry["metrics"] if m["metric"] == "accuracy")
    assert acc["ok"] and abs(acc["change"]) < 0.02  # same accuracy, within max_drop
    assert report["stages"]["assess"]["models"] == 1
    text = md.read_text()
    assert "Model assessment:" in text and "| F | head |" in text and "| F | base |" in text
    assert "<details open>" in text
    sarif = json.loads((tmp_path / "out.sarif").read_text())
    run = next(r for r in sarif["runs"] if r["automationDetails"]["id"] == "mlsecops/assess/")
    assert [r["ruleId"] for r in run["results"]] == ["MLS403"]
    if SARIF_SCHEMA.exists():
        import jsonschema

        schema = json.loads(SARIF_SCHEMA.read_text())
        jsonschema.validators.validator_for(schema)(schema).validate(sarif)


def test_a_fair_change_passes(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    base, _ = credit_repo(repo, {"models/credit.onnx": model(FAIR_RETRAINED)})
    code, report = assess_scan(tmp_path, repo, base)
    assert code == 0, report
    assert report["findings"] == [] and report["errors"] == []
    assert all(m["ok"] for m in report["details"]["assess"]["models"][0]["metrics"])


def test_an_accuracy_regression_beyond_max_drop_is_mls402(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    base, _ = credit_repo(repo, {"models/credit.onnx": model(WEAK)},
                          policy=POLICY.replace("min: 0.80, max_drop", "min: 0.70, max_drop"))
    code, report = assess_scan(tmp_path, repo, base)
    assert code == 1
    [f] = by_rule(report, "MLS402")
    assert "accuracy went from 0.8755 (base model) to 0.767" in f["message"]
    assert not by_rule(report, "MLS401")  # 0.767 is above this policy's min 0.70


@pytest.mark.parametrize("name", ["models/credit.onnx", "models/credit.pkl", "models/credit.joblib"])
def test_a_pickled_model_is_mls405_and_never_loaded(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "unpickled"
    payload = gate_fixtures.malicious_pickle(command=f"touch {marker}")
    # The fixture is live: unpickling it does create the marker.
    subprocess.run([sys.executable, "-c", "import pickle,sys; pickle.loads(sys.stdin.buffer.read())"],
                   input=payload, check=True)
    assert marker.exists()
    marker.unlink()
    repo = tmp_path / "repo"
    policy = POLICY.replace("models/credit.onnx", name)
    base, _ = credit_repo(repo, {name: payload, "models/credit.onnx": None} if name != "models/credit.onnx"
                          else {name: payload}, policy=policy)
    code, report = assess_scan(tmp_path, repo, base)
    assert code == 2  # a stage error, and the default policy fails closed
    [err] = report["errors"]
    assert err["stage"] == "assess" and err["path"] == name
    assert err["message"].startswith("MLS405") and "never loads pickles" in err["message"]
    assert "ONNX" in err["message"] and "skops" in err["message"]
    assert not marker.exists()


def test_a_new_model_skips_max_drop_and_says_so(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    base, _ = make_repo(repo, {"data/eval.csv": DATA.csv(), ".mlsecops.yml": POLICY},
                        {"models/credit.onnx": model(FAIR)})
    code, report = assess_scan(tmp_path, repo, base)
    assert code == 0, report
    entry = report["details"]["assess"]["models"][0]
    assert entry["base"].startswith("the model is new")
    acc = next(m for m in entry["metrics"] if m["metric"] == "accuracy")
    assert acc["base"] is None and acc["note"].startswith("max_drop not checked: the model is new")
    assert any("max_drop bounds not checked" in n for n in entry["notes"])


def test_diff_mode_assesses_when_the_model_or_its_data_changed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    base, _ = credit_repo(repo, {"README.md": "docs only\n"})
    code, report = assess_scan(tmp_path, repo, base)
    assert code == 0 and report["details"]["assess"]["models"][0]["status"] == "unchanged"
    assert report["stages"]["assess"]["models"] == 0
    data_change = DATA.csv().replace("\n", "\n", 1)
    rows = data_change.splitlines()
    write(repo, {"data/eval.csv": "\n".join(rows[:1200]) + "\n"})
    git(repo, "commit", "-qam", "fewer rows")
    code, report = assess_scan(tmp_path, repo, base)
    entry = report["details"]["assess"]["models"][0]
    assert entry["status"] == "assessed" and entry["rows"] == 1199 and entry["base"] == "assessed"


def test_missing_column_is_a_stage_error_naming_it(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    base, _ = credit_repo(repo, {"models/credit.onnx": model(FAIR_RETRAINED)},
                          policy=POLICY.replace("sensitive: [sex]", "sensitive: [gender]"))
    code, report = assess_scan(tmp_path, repo, base)
    assert code == 2
    assert "'gender' not in the data" in report["errors"][0]["message"]


def _context(repo: Path, base: str, cache: Path | None, policy: str = POLICY) -> Context:
    return Context(root=repo, base=base, workdir=repo.parent / "work", policy=load_policy_text(policy, "p.yml"),
                   stages=[Stage.assess], cache_dir=cache, today=date(2026, 1, 1))


def test_results_are_cached_by_model_data_and_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    base, _ = credit_repo(repo, {"models/credit.onnx": model(UNFAIR)})
    first, _ = scan(_context(repo, base, tmp_path / "cache"))

    def no_sandbox(*args: object, **kwargs: object) -> None:
        raise AssertionError("the sandbox ran although both results were cached")

    monkeypatch.setattr(sandboxed, "run", no_sandbox)
    second, _ = scan(_context(repo, base, tmp_path / "cache"))
    assert second.stages["assess"]["cached"] == 2
    assert [f.fingerprint for f in second.findings] == [f.fingerprint for f in first.findings]
    assert second.details == first.details
    # A different configuration is a different key: the sandbox would run again.
    third, _ = scan(_context(repo, base, tmp_path / "cache", POLICY.replace("sigma: 0.1", "sigma: 0.3")))
    assert "the sandbox ran" in third.errors[0].message


def test_without_the_extra_the_stage_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    base, _ = credit_repo(repo, {"models/credit.onnx": model(UNFAIR)})
    monkeypatch.setattr(assess_stage, "missing_modules", lambda names: ["fairlearn"])
    verdict, _ = scan(_context(repo, base, None))
    assert verdict.verdict == "error"
    assert "mlsecops-gate[assess] @ git+" in verdict.errors[0].message


def test_a_runtime_crash_on_edge_values_is_mls404_and_keeps_the_metrics(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    base, _ = credit_repo(repo, {"models/credit.onnx": model(FAIR_RETRAINED)})
    finished = ModelResult(role="head", rows=2000, metrics={"accuracy": 0.9, "demographic_parity_difference": 0.01,
                                                            "equalized_odds_difference": 0.01})
    base_result = finished.model_copy(update={"role": "base"})

    def crashed(*args: object, **kwargs: object) -> sandboxed.Outcome:
        return sandboxed.Outcome(results=Results(results=[finished, base_result]),
                                 status=JailStatus(reason="signaled", signal=11), inflight="head:edge_values:subnormal")

    monkeypatch.setattr(sandboxed, "run", crashed)
    verdict, _ = scan(_context(repo, base, None))
    [f] = verdict.findings
    assert f.rule_id == "MLS404" and "subnormal" in f.message and "SIGSEGV" in f.message
    assert verdict.details["assess"]["models"][0]["status"] == "assessed"


def test_a_crash_before_the_results_is_mls405(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    base, _ = credit_repo(repo, {"models/credit.onnx": model(FAIR_RETRAINED)})
    monkeypatch.setattr(sandboxed, "run", lambda *a, **k: sandboxed.Outcome(
        results=Results(), status=JailStatus(reason="memory", message="resident memory 3000 MiB over the limit"),
        inflight="head:predict"))
    verdict, _ = scan(_context(repo, base, None))
    assert verdict.verdict == "error" and not verdict.findings
    assert "did not finish (resident memory 3000 MiB over the limit during predict)" in verdict.errors[0].message


def test_cli_accepts_assess_and_reports_it_in_console(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    base, _ = credit_repo(repo, {"models/credit.onnx": model(UNFAIR)})
    proc = run_cli("scan", str(repo), "--base", base, "--stages", "assess", "--sarif", str(tmp_path / "s.sarif"),
                   "--no-cache", "-q")
    assert proc.returncode == 1, proc.stderr
    assert "assess " in proc.stdout and "MLS403" in proc.stdout
    bad = run_cli("scan", str(repo), "--stages", "assess,judge")
    assert bad.returncode == 2 and "deps, models, fuzz, assess" in bad.stderr


def test_a_symlinked_folder_is_not_followed_in_the_work_tree(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "eval.csv").write_text(DATA.csv())
    repo = tmp_path / "repo"
    repo.mkdir()
    write(repo, {"models/credit.onnx": model(FAIR), ".mlsecops.yml": POLICY})
    (repo / "data").symlink_to(outside, target_is_directory=True)
    code, report = scan_json(tmp_path, repo, "--stages", "assess")
    assert code == 2
    assert "data is a symlink (not followed)" in report["errors"][0]["message"]
