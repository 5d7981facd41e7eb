"""Red team of the assess stage: a pull request that games the verdict, or reads data through a model file.

Each test is an attack that got through (or crashed the stage) before its fix; docs/assess.md
says what the gate still cannot claim.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

pytest.importorskip("fairlearn")
pytest.importorskip("onnxruntime")

from mlsecops.context import Context  # noqa: E402
from mlsecops.findings import Stage  # noqa: E402
from mlsecops.pipeline import scan  # noqa: E402
from mlsecops.policy.loader import load_policy_text  # noqa: E402
from mlsecops.stages.assess import formats, sandboxed  # noqa: E402
from mlsecops.stages.assess.fixtures import FAIR, FAIR_RETRAINED, POLICY, UNFAIR, WEAK  # noqa: E402
from mlsecops.stages.assess.job import Job, ModelInput, ModelResult, Results  # noqa: E402
from mlsecops.stages.fuzz.spec import JailStatus  # noqa: E402
from tests.assess import attacks  # noqa: E402
from tests.assess.helpers import DATA, by_rule, credit_repo, model  # noqa: E402
from tests.conftest import git, make_repo, scan_json, write  # noqa: E402


def assess_scan(tmp_path: Path, repo: Path, base: str, *extra: str) -> tuple[int, dict]:
    return scan_json(tmp_path, repo, "--base", base, "--stages", "assess", *extra)


def _context(repo: Path, base: str, cache: Path | None, policy: str = POLICY) -> Context:
    return Context(root=repo, base=base, workdir=repo.parent / "work", policy=load_policy_text(policy, "p.yml"),
                   stages=[Stage.assess], cache_dir=cache, today=date(2026, 1, 1))


# --- reading data through the model file ---------------------------------------------------------

def test_an_onnx_model_reading_the_evaluation_labels_through_external_data_is_refused(tmp_path: Path) -> None:
    """The model reads data.csv (beside it in the sandbox) as a tensor and outputs its labels: accuracy 1.0."""
    repo = tmp_path / "repo"
    cheat = attacks.label_reader(len(DATA.csv().encode()))
    base, _ = credit_repo(repo, {"models/credit.onnx": cheat})
    code, report = assess_scan(tmp_path, repo, base)
    assert code == 2, report["details"]["assess"]
    [err] = report["errors"]
    assert err["message"].startswith("MLS405") and "external data" in err["message"] and "'data.csv'" in err["message"]
    assert report["details"]["assess"]["models"][0]["status"] == "not assessed"


@pytest.mark.parametrize("location", ["data.csv", "../../etc/hostname", "/proc/self/environ", "weights.bin"])
def test_every_onnx_external_data_reference_is_refused_before_anything_runs(tmp_path: Path, location: str) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(attacks.label_reader(16, location))
    with pytest.raises(formats.Refused, match="external data"):
        formats.model_format(path, "m.onnx")


# --- gaming the verdict through the evaluation data ----------------------------------------------

@pytest.mark.parametrize("attack", sorted(attacks.DATA_ATTACKS))
def test_an_unfair_model_with_evaluation_data_changed_to_hide_it_is_blocked_on_the_base_data(
        tmp_path: Path, attack: str) -> None:
    repo = tmp_path / "repo"
    base, _ = credit_repo(repo, {"models/credit.onnx": model(UNFAIR), "data/eval.csv": attacks.DATA_ATTACKS[attack]()})
    code, report = assess_scan(tmp_path, repo, base)
    assert code != 0, report["details"]["assess"]
    fair = [f for f in by_rule(report, "MLS403") if "at the base commit" in f["message"]]
    assert fair and fair[0]["status"] == "blocking", report["findings"]
    assert "demographic_parity_difference" in fair[0]["message"]
    reports = report["details"]["assess"]["models"]
    assert [r["data"] for r in reports] == ["data/eval.csv", "data/eval.csv (base commit's version)"]
    assert any("changed in this change" in n for n in reports[0]["notes"])


def test_data_relabelled_to_a_weak_models_predictions_is_judged_on_the_base_data(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    base, _ = credit_repo(repo, {"models/credit.onnx": model(WEAK), "data/eval.csv": attacks.relabelled_to(WEAK)})
    code, report = assess_scan(tmp_path, repo, base)
    assert code == 1
    on_base = [f for f in report["findings"] if "at the base commit" in f["message"]]
    assert {"MLS401", "MLS402"} <= {f["rule_id"] for f in on_base}
    head = report["details"]["assess"]["models"][0]
    assert next(m for m in head["metrics"] if m["metric"] == "accuracy")["head"] == 1.0  # what the PR's data says


def test_a_data_change_that_keeps_the_model_within_its_bounds_passes(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    rows = DATA.csv().splitlines()
    base, _ = credit_repo(repo, {"models/credit.onnx": model(FAIR_RETRAINED), "data/eval.csv": "\n".join(rows[:1601]) + "\n"})
    code, report = assess_scan(tmp_path, repo, base)
    assert code == 0, report
    assert [r["rows"] for r in report["details"]["assess"]["models"]] == [1600, 2000]
    assert report["stages"]["assess"]["models"] == 1


def test_fairness_over_a_single_group_is_not_a_pass(tmp_path: Path) -> None:
    """A new model and a new data file (no base version of either) where everyone is in one group."""
    repo = tmp_path / "repo"
    base, _ = make_repo(repo, {".mlsecops.yml": POLICY},
                        {"models/credit.onnx": model(UNFAIR), "data/eval.csv": attacks.constant_sensitive()})
    code, report = assess_scan(tmp_path, repo, base)
    assert code == 2
    msgs = [e["message"] for e in report["errors"]]
    assert any("demographic_parity_difference could not be computed" in m and "one group" in m for m in msgs), msgs


def test_a_data_change_hidden_by_the_policys_ignore_globs_is_still_assessed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    base, _ = credit_repo(repo, {"data/eval.csv": attacks.shuffled_sensitive()}, policy=POLICY + "ignore: ['data/**']\n")
    code, report = assess_scan(tmp_path, repo, base)
    [entry, *_] = report["details"]["assess"]["models"]
    assert entry["status"] == "assessed", entry


# --- which output decides -------------------------------------------------------------------------

def test_a_model_whose_labels_and_scores_are_two_different_models_is_not_judged_on_one_of_them(tmp_path: Path) -> None:
    """Labels from the fair model, class scores from the unfair one: a service thresholding the scores is unfair."""
    repo = tmp_path / "repo"
    base, _ = credit_repo(repo, {"models/credit.onnx": attacks.two_faced(FAIR, UNFAIR)})
    code, report = assess_scan(tmp_path, repo, base)
    assert code == 2
    [err] = report["errors"]
    assert "decide differently on" in err["message"] and "`decision`" in err["message"]
    for decision, rules in (("scores", ["MLS403"]), ("labels", [])):
        repo = tmp_path / decision
        policy = POLICY.replace("      target: approved\n", f"      target: approved\n      decision: {decision}\n")
        base, _ = credit_repo(repo, {"models/credit.onnx": attacks.two_faced(FAIR, UNFAIR)}, policy=policy)
        code, report = assess_scan(tmp_path, repo, base)
        assert [f["rule_id"] for f in report["findings"]] == rules and not report["errors"], report
        notes = report["details"]["assess"]["models"][0]["notes"]
        assert any(f"judged: the {decision}" in n for n in notes), notes


# --- the base model made unassessable, so max_drop would be skipped ------------------------------

def test_data_the_base_model_cannot_read_does_not_skip_max_drop(tmp_path: Path) -> None:
    """Without `features`, the PR adds a column: the weak head model takes it, the base model cannot."""
    repo = tmp_path / "repo"
    weak4, data = attacks.with_extra_feature(WEAK)
    policy = POLICY.replace("      features: [income, age, debt]\n", "").replace("min: 0.80,", "min: 0.70,")
    base, _ = credit_repo(repo, {"models/credit.onnx": weak4, "data/eval.csv": data}, policy=policy)
    code, report = assess_scan(tmp_path, repo, base)
    assert code != 0, report["details"]["assess"]
    msgs = [e["message"] for e in report["errors"]]
    assert any("max_drop" in m and "base model" in m for m in msgs), msgs


def test_a_base_model_that_did_not_finish_is_mls405_when_max_drop_is_declared(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    base, _ = credit_repo(repo, {"models/credit.onnx": model(FAIR_RETRAINED)})
    head = ModelResult(role="head", rows=2000, metrics={"accuracy": 0.5, "demographic_parity_difference": 0.01,
                                                         "equalized_odds_difference": 0.01})

    def starved(*args: object, **kwargs: object) -> sandboxed.Outcome:
        return sandboxed.Outcome(results=Results(results=[head, ModelResult(role="base")]),
                                 status=JailStatus(reason="deadline", message="wall-clock limit"), inflight="base:predict")

    monkeypatch.setattr(sandboxed, "run", starved)
    verdict, _ = scan(_context(repo, base, None, POLICY.replace("min: 0.80,", "min: 0.10,")))
    assert verdict.verdict == "error"
    assert any("max_drop" in e.message and "did not finish" in e.message for e in verdict.errors)


# --- the cache ------------------------------------------------------------------------------------

def test_a_cached_result_answers_to_either_spelling_of_a_metric(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    base, _ = credit_repo(repo, {"models/credit.onnx": model(FAIR_RETRAINED)})
    first, _ = scan(_context(repo, base, tmp_path / "cache"))
    assert first.verdict == "pass", first.errors
    second, _ = scan(_context(repo, base, tmp_path / "cache", POLICY.replace("accuracy:", "accuracy_score:")))
    assert second.stages["assess"]["cached"] == 2
    assert second.verdict == "pass", second.errors


def test_a_cached_result_does_not_outlive_a_lower_max_rows(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    base, _ = credit_repo(repo, {"models/credit.onnx": model(FAIR_RETRAINED)})
    first, _ = scan(_context(repo, base, tmp_path / "cache"))
    assert first.verdict == "pass", first.errors
    lower = POLICY.replace("fail_on: high\n", "fail_on: high\n  max_rows: 1000\n", 1)
    second, _ = scan(_context(repo, base, tmp_path / "cache", lower))
    assert second.verdict == "error" and "max_rows" in second.errors[0].message


def test_a_cached_result_is_never_returned_for_other_bytes_under_the_same_git_blob(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two checkouts of one commit: with `core.autocrlf` the CSV's bytes differ from its blob (git calls both
    clean). A result computed on one checkout's bytes must not answer for the other's."""
    repo = tmp_path / "repo"
    base, head = credit_repo(repo, {"models/credit.onnx": model(FAIR_RETRAINED),
                                    "data/eval.csv": "\n".join(DATA.csv().splitlines()[:1801]) + "\n"})
    crlf = tmp_path / "crlf"
    git(tmp_path, "clone", "-q", "-c", "core.autocrlf=true", str(repo), str(crlf))
    assert b"\r\n" in (crlf / "data" / "eval.csv").read_bytes()
    first, _ = scan(_context(crlf, base, tmp_path / "cache"))
    assert first.verdict == "pass", first.errors
    real, seen = sandboxed.run, []

    def spy(job, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(Path(job.data).read_bytes())
        return real(job, *args, **kwargs)

    monkeypatch.setattr(sandboxed, "run", spy)
    second, _ = scan(_context(repo, base, tmp_path / "cache"))
    assert second.verdict == "pass", second.errors
    assert any(b"\r\n" not in data and len(data.splitlines()) == 1801 for data in seen), "the LF bytes were not evaluated"


# --- skops ---------------------------------------------------------------------------------------

def test_a_skops_tree_pointing_outside_its_nodes_is_refused_before_predict(tmp_path: Path) -> None:
    """scikit-learn indexes a Tree's nodes unchecked (a SIGSEGV, or reads of other memory): checked first.
    The worker runs in a child process here, so the crash it was before cannot take pytest with it."""
    from tests.assess.test_worker import entry

    (tmp_path / "eval.csv").write_text(DATA.csv())
    for i, (child, feature) in enumerate(((10**9, None), (None, 10**6), (0, None))):
        path = attacks.crafted_tree_skops(tmp_path / f"tree{i}.skops", child=child, feature=feature)
        job = Job(data=str(tmp_path / "eval.csv"), data_format="csv", entry=entry(),
                  models=[ModelInput(role="head", file=str(path), format="skops")],
                  out=str(tmp_path / f"results{i}.json"), inflight=str(tmp_path / f"inflight{i}.txt"), max_rows=10_000)
        (tmp_path / f"job{i}.json").write_text(job.model_dump_json())
        proc = subprocess.run([sys.executable, "-m", "mlsecops.stages.assess.worker", str(tmp_path / f"job{i}.json")],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, (child, feature, proc.returncode, proc.stderr[-500:])
        [r] = Results.model_validate_json((tmp_path / f"results{i}.json").read_text()).results
        assert "decision tree" in r.error and not r.metrics, r.error


@pytest.mark.parametrize("kind", ["tree", "forest", "boosting", "hist-boosting"])
def test_the_tree_check_passes_what_scikit_learn_builds(kind: str) -> None:
    import pandas as pd
    from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    from mlsecops.stages.assess import treecheck

    X = pd.DataFrame(DATA.X, columns=["income", "age", "debt"])  # noqa: N806
    X["band"] = pd.Categorical((DATA.X[:, 0] // 20).astype(int).astype(str))
    estimator = {"tree": DecisionTreeClassifier(max_depth=6), "forest": RandomForestClassifier(n_estimators=4),
                 "boosting": GradientBoostingClassifier(n_estimators=5),
                 "hist-boosting": HistGradientBoostingClassifier(max_iter=5, categorical_features="from_dtype")}[kind]
    if kind == "hist-boosting":
        model = estimator.fit(X, DATA.y)
    else:
        model = make_pipeline(StandardScaler(), estimator).fit(X.drop(columns="band"), DATA.y)
    assert treecheck.check(model) >= 1
