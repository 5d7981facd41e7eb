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
