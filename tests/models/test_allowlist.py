"""The allowlist by identity: generated data, re-exports, unsafe classes, and the fix a finding prints."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from mlsecops.stages.models.allowlist import check_state, judge, load_lists, policy_line
from tests.models.helpers import scan_bytes

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "mlsecops" / "data" / "pickle_allowlist.json"
DISTRIBUTIONS = {"sklearn": "scikit-learn", "xgboost": "xgboost-cpu", "dateutil": "python-dateutil"}


def _data() -> dict:  # type: ignore[type-arg]
    return json.loads(DATA.read_text("utf-8"))


def test_entries_are_exact_identities_not_patterns() -> None:
    data = _data()
    for section in ("allow", "aliases", "unsafe", "construct", "checks"):
        for key in data[section]:
            module, _, name = key.partition(":")
            assert name and not re.search(r"[*?\[\]]", key), (section, key)
            assert all(p.isidentifier() for p in module.split(".") + name.split(".")), (section, key)


def test_recorded_versions_are_the_pinned_test_versions() -> None:
    """The committed file says which library versions it came from; they are the `test` extra's pins."""
    text = "\n".join((ROOT / f).read_text("utf-8") for f in ("pyproject.toml", "Makefile", "constraints.txt"))
    pins = dict(re.findall(r'([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+-]+)', text))
    for package, version in _data()["versions"].items():
        dist = DISTRIBUTIONS.get(package, package)
        assert pins.get(dist) == version.split("+")[0], f"{dist}: pinned {pins.get(dist)}, allowlist built from {version}"


def _installed_matches() -> str | None:
    for package, version in _data()["versions"].items():
        try:
            have = metadata.version(DISTRIBUTIONS.get(package, package))
        except metadata.PackageNotFoundError:
            return f"{package} is not installed"
        if have != version:
            return f"{package} {have} is installed, the allowlist was built from {version}"
    return None


@pytest.mark.slow
def test_generated_allowlist_has_not_drifted(tmp_path: Path) -> None:
    """Regenerate from the installed libraries and compare: the committed file must be what the script writes."""
    mismatch = _installed_matches()
    if mismatch:
        pytest.fail(f"{mismatch}: install the pinned versions (make setup) or regenerate with scripts/build_allowlist.py")
    out = tmp_path / "allowlist.json"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_allowlist.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    new, old = json.loads(out.read_text()), _data()
    for section in old:
        if old[section] != new[section]:
            added = sorted(set(new[section]) - set(old[section]))[:10] if isinstance(old[section], dict) else new[section]
            gone = sorted(set(old[section]) - set(new[section]))[:10] if isinstance(old[section], dict) else old[section]
            pytest.fail(f"pickle_allowlist.json drifted in {section!r}: new {added}, gone {gone}; "
                        "run scripts/build_allowlist.py and review the diff")


def test_judging_imports_no_ml_library() -> None:
    """The scanning worker reads data files; it must never import the libraries it judges."""
    code = ("import sys; from mlsecops.stages.models.allowlist import judge, load_lists; l = load_lists(); "
            "[judge(m, n, l) for m, n in [('sklearn.linear_model._logistic', 'LogisticRegression'), ('torch._utils', "
            "'_rebuild_tensor_v2'), ('numpy', 'log1p'), ('pandas', 'DataFrame')]]; "
            "print(sorted(m for m in ('sklearn', 'torch', 'numpy', 'pandas', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize("module, name", [
    ("sklearn.linear_model._logistic", "LogisticRegression"),
    ("sklearn.ensemble._hist_gradient_boosting.binning", "_BinMapper"),
    ("sklearn.calibration", "_CalibratedClassifierCV" if False else "_CalibratedClassifier"),
    ("sklearn.linear_model", "LogisticRegression"),           # a public spelling of the same object
    ("numpy", "log1p"), ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.ma", "MaskedArray"), ("torch._utils", "_rebuild_tensor_v2"), ("torch", "float16"),
    ("torch.nn.modules.linear", "LazyLinear._infer_parameters"), ("pandas", "DataFrame"),
    ("collections", "OrderedDict"), ("copy_reg", "_reconstructor"), ("zoneinfo", "ZoneInfo._unpickle"),
])
def test_what_models_need_is_allowed(module: str, name: str) -> None:
    j = judge(module, name, load_lists())
    assert j.verdict == "allow", j


@pytest.mark.parametrize("spelled, target, verdict", [
    # Re-exports the old `<lib>.**:[A-Z]*` allowlist accepted under the ML library's name.
    ("lightgbm.basic:NamedTemporaryFile", "tempfile.NamedTemporaryFile", "deny"),
    ("sklearn.callback._transport:Client", "multiprocessing.connection.Client", "deny"),
    ("xgboost.sklearn:ThreadPoolExecutor", "concurrent.futures.thread.ThreadPoolExecutor", "deny"),
    ("numpy.random.bit_generator:Lock", "_thread.allocate_lock", "deny"),
    ("catboost.core:Mapping", "collections.abc.Mapping", "risky"),
    # A module imported under an ML module's name, then an attribute of it.
    ("pandas._libs.lib:np.load", "numpy.load", "deny"),
])
def test_reexports_are_never_allowed_under_the_ml_name(spelled: str, target: str, verdict: str) -> None:
    module, name = spelled.split(":")
    j = judge(module, name, load_lists())
    assert j.verdict == verdict, j
    assert f"re-export of {target}" in j.reason or (verdict == "deny" and target.replace(".", ":", 0) in j.reason), j


def test_unsafe_class_is_not_allowed_and_says_why() -> None:
    """ScoringMonitor.__setstate__ connects to the address held in its pickled state."""
    j = judge("sklearn.callback._scoring_monitor", "ScoringMonitor", load_lists())
    assert j.verdict == "risky" and j.cause == "unsafe", j
    assert "unsafe state" in j.reason and "multiprocessing.connection.Client" in j.reason
    assert j.fix == 'allow_globals: ["sklearn.callback._scoring_monitor:ScoringMonitor"]'


def test_scipy_distribution_needs_its_state_checked() -> None:
    """rv_generic.__setstate__ exec()s the _parse_arg_template string from the pickle."""
    lists = load_lists()
    j = judge("scipy.stats._continuous_distns", "norm_gen", lists)
    assert j.verdict == "risky" and j.check == "scipy-argparser-template", j
    template = lists.check_values["scipy-argparser-template"]["values"][0]
    assert judge("scipy.stats._continuous_distns", "norm_gen", lists, states=[{"_parse_arg_template": template}]).verdict == "allow"
    evil = {"_parse_arg_template": "import os\nos.system('id')\ndef _parse_args(*a): pass"}
    bad = judge("scipy.stats._continuous_distns", "norm_gen", lists, states=[evil])
    assert bad.verdict == "deny" and "not one of" in bad.reason, bad
    assert check_state("scipy-argparser-template", ({"_parse_arg_template": 7}, None), lists)
    assert check_state("no-such-check", {}, lists)


def test_class_whose_init_reaches_a_sink_is_allowed_only_when_not_called() -> None:
    lists = load_lists()
    assert judge("accelerate.state", "PartialState", lists).verdict == "risky"
    assert judge("accelerate.state", "PartialState", lists, reduced=True).verdict == "risky"
    assert judge("accelerate.state", "PartialState", lists, reduced=False).verdict == "allow"


@pytest.mark.parametrize("module, name, verdict, why", [
    ("sklearn.utils._testing", "TempMemmap", "risky", "not listed"),
    ("numpy", "save", "risky", "not listed"),
    ("mypkg.models", "Net", "unknown", "not listed"),
])
def test_findings_say_why_and_print_the_policy_line(module: str, name: str, verdict: str, why: str) -> None:
    j = judge(module, name, load_lists())
    assert j.verdict == verdict and why in j.reason, j
    assert j.fix == f'allow_globals: ["{module}:{name}"]'
    allowed = judge(module, name, load_lists(policy_allow=(f"{module}:{name}",)))
    assert allowed.verdict == "allow", "the printed line must be the one that allows it"


def test_policy_lists_keep_working() -> None:
    assert judge("mypkg.models", "Net", load_lists(policy_allow=("mypkg.**:*",))).verdict == "allow"
    assert judge("sklearn.linear_model._logistic", "LogisticRegression",
                 load_lists(policy_deny=("sklearn.linear_model.**:*",))).verdict == "deny"
    # deny_globals also catches the identity a re-export resolves to
    assert judge("catboost.core", "Mapping", load_lists(policy_deny=("collections.abc:*",))).verdict == "deny"


def test_policy_line_quotes_odd_names() -> None:
    assert policy_line("a.b", 'x"y') == 'allow_globals: ["a.b:x\\"y"]'


def test_scan_reports_the_reexport_and_the_fix(tmp_path: Path) -> None:
    """End to end: a pickle that calls an allowlisted-looking name which is really multiprocessing's Client."""
    payload = b"csklearn.callback._transport\nClient\n(S'127.0.0.1:9'\ntR."
    result = scan_bytes(tmp_path, "model.pkl", payload)
    hits = [f for f in result.findings if f.rule_id == "MLS101"]
    assert hits and "re-export of multiprocessing.connection.Client" in hits[0].message, result.findings
    unlisted = scan_bytes(tmp_path, "m2.pkl", b"csklearn.utils._testing\nTempMemmap\n(S'/tmp/x'\ntR.")
    f102 = [f for f in unlisted.findings if f.rule_id == "MLS102"]
    assert f102 and f102[0].fix == 'allow_globals: ["sklearn.utils._testing:TempMemmap"]', unlisted.findings
    assert "not listed" in f102[0].message
