"""Benign breadth: every file in the generated benign corpus passes the default policy, with no error.

The corpus is made by the real libraries (tests/models/benign_corpus.py) once per session.
A file that still blocks because of code another area owns is listed in KNOWN with the
cause, and has its own strict xfail: the owner's fix turns it into an unexpected pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.models import benign_corpus
from tests.models.helpers import blocks, scan_path

pytest.importorskip("sklearn")

_GETATTR = ("h/pickle: a pickled bound method is builtins.getattr(<allowlisted object>, '<constant>'); the walker must "
            "resolve it to the attribute and judge that (issue 12 item 5). The attributes are on the allowlist "
            "(zoneinfo:ZoneInfo._unpickle, torch.nn.modules.linear:LazyLinear._infer_parameters, "
            "scipy.interpolate._interpolate:interp1d._call_linear_np, scipy.stats...:*_gen._entropy)")
_STATE = ("h/pickle: scipy distributions exec() the _parse_arg_template string of their pickled state; the walker must "
          "pass the BUILD states to judge(..., states=...) so the scipy-argparser-template check can accept scipy's own")
_VECTORIZE = ("; they also pickle numpy.vectorize (a bound _entropy method in it), which the allowlist holds out "
              "because the adversarial suite treats it as a gadget: allowing it is the coordinator's call")
_BYTES = ("h/pickle: pickle.dumps(tensor) stores torch.storage._load_from_bytes(<torch.save bytes>); the embedded "
          "checkpoint must be scanned and judged instead of flagging the call (issue 12 item 5)")
_CONSTRUCT = ("h/pickle: transformers' training_args.bin rebuilds accelerate.state.PartialState with NEWOBJ + BUILD; its "
              "__init__ (reached only by REDUCE) starts distributed state, so the walker must say judge(..., reduced=False)")
_KERAS = "h/containers: modelscan's Keras scanner needs TensorFlow; a .keras file without Lambda layers must not be an error"

KNOWN: dict[str, str] = {
    **{f"pandas/{n}": _GETATTR for n in (
        "datetime_index.p2.pkl", "datetime_index.p5.pkl", "frame.p2.pkl", "frame.p5.pkl", "frame.to_pickle.bz2",
        "frame.to_pickle.gzip", "frame.to_pickle.pkl", "frame.to_pickle.tar", "frame.to_pickle.xz", "frame.to_pickle.zip",
        "multiindex.p2.pkl", "multiindex.p5.pkl", "series_datetime_tz.p2.pkl", "series_datetime_tz.p5.pkl",
        "timestamps.p2.pkl", "timestamps.p5.pkl")},
    "scipy/splines.p2.pkl": _GETATTR,
    "torch/lazy_module.pt": _GETATTR,
    **{f"scipy/{n}": _STATE + _VECTORIZE for n in ("frozen.p2.pkl", "frozen.p5.pkl")},
    **{f"scipy/{n}": _STATE for n in ("histogram.p2.pkl", "histogram.p5.pkl")},
    **{f"sklearn_workflows/random_search_{kind}{suffix}": _STATE if kind == "loguniform" else f"{_STATE}{_VECTORIZE}; and {_GETATTR}"
       for kind in ("loguniform", "scipy")
       for suffix in (".joblib", ".bz2.joblib", ".gzip.joblib", ".xz.joblib", ".zlib.joblib", ".p2.pkl", ".p5.pkl")},
    **{f"torch/pickle_dumps_{n}.pkl": _BYTES for n in (
        "bfloat16", "bool", "channels_last", "complex", "float8", "generator_state", "module", "parameter", "quantized",
        "quantized_channel", "sparse_coo", "sparse_csr", "uint8")},
    "huggingface/training_args.bin": _CONSTRUCT,
    "keras/dense.keras": _KERAS,
}


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> benign_corpus.Corpus:
    return benign_corpus.build(tmp_path_factory.mktemp("benign"))


def _problems(root: Path, path: Path) -> list[str]:
    """What keeps the file from passing the default policy: blocking findings and scan errors."""
    work = root.parent / "scan"
    work.mkdir(exist_ok=True)
    result = scan_path(work, path)
    shown = [f"{f.rule_id} {f.severity.value}: {f.message}" for f in result.findings if f.severity.rank >= 3]
    assert bool(shown) == blocks(result)
    return shown + [f"error: {e}" for e in result.errors]


@pytest.mark.slow
@pytest.mark.parametrize("group", list(benign_corpus.GROUPS))
def test_benign_group_passes_the_default_policy(corpus: benign_corpus.Corpus, group: str) -> None:
    if group in corpus.skipped:
        pytest.skip(corpus.skipped[group])
    paths = corpus.paths(group)
    assert paths, f"the {group} group wrote nothing"
    failures = {}
    for path in paths:
        name = path.relative_to(corpus.root).as_posix()
        if name in KNOWN:
            continue
        problems = _problems(corpus.root, path)
        if problems:
            failures[name] = problems[:3]
    assert not failures, "\n".join(f"{n}: {p}" for n, p in failures.items())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(KNOWN))
def test_known_false_alarm_owned_elsewhere(corpus: benign_corpus.Corpus, name: str, request: pytest.FixtureRequest) -> None:
    group = name.split("/")[0]
    if group in corpus.skipped:
        pytest.skip(corpus.skipped[group])
    request.applymarker(pytest.mark.xfail(strict=True, reason=KNOWN[name]))
    path = corpus.root / name
    assert path.exists(), f"{name} is no longer generated: remove it from KNOWN"
    assert not _problems(corpus.root, path)


def test_corpus_is_broad(corpus: benign_corpus.Corpus) -> None:
    """The breadth the issue asks for is really there (when the libraries are installed)."""
    names = set(corpus.samples)
    assert len([n for n in names if n.startswith("sklearn_estimators/")]) > 150
    for compressor in ("zlib", "gzip", "bz2", "lzma", "xz"):
        assert f"sklearn_estimators/all_estimators.{compressor}.joblib" in names
    for expected in ("numpy/masked.p5.pkl", "numpy/generator.p5.pkl", "text/requirements.txt"):
        assert expected in names
    assert len(names) > 400, len(names)
