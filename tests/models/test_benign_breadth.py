"""Benign breadth: every file in the generated benign corpus passes the default policy, with no error.

The corpus is made by the real libraries (tests/models/benign_corpus.py) once per session.
Every file passes: pickled bound methods resolve to the allowlisted attribute, scipy's
distributions pass their state check, `pickle.dumps(tensor)` payloads are scanned as the
checkpoints they are, training_args.bin rebuilds accelerate's PartialState without calling it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.models import benign_corpus
from tests.models.helpers import blocks, scan_path

pytest.importorskip("sklearn")


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
        problems = _problems(corpus.root, path)
        if problems:
            failures[name] = problems[:3]
    assert not failures, "\n".join(f"{n}: {p}" for n, p in failures.items())


def test_corpus_is_broad(corpus: benign_corpus.Corpus) -> None:
    """The breadth the issue asks for is really there (when the libraries are installed)."""
    names = set(corpus.samples)
    assert len([n for n in names if n.startswith("sklearn_estimators/")]) > 150
    for compressor in ("zlib", "gzip", "bz2", "lzma", "xz"):
        assert f"sklearn_estimators/all_estimators.{compressor}.joblib" in names
    for expected in ("numpy/masked.p5.pkl", "numpy/generator.p5.pkl", "text/requirements.txt"):
        assert expected in names
    assert len(names) > 400, len(names)
