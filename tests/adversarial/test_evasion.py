"""Evasion: every variant in `evasions.py` is blocked by the default policy, and the
pickle-level ones are proven real first (the loader oracle shows the import a real
unpickler would make). Then every malicious file of the shared corpus, renamed and
repacked, stays blocked too.

Regression tests for what this suite found: pickles without a PROTO opcode (or with
PROTO 0/1, a FRAME or a long first argument) were not recognised at all; GGUF,
safetensors and tar headers that are also valid pickle opcodes hid a pickle; a zip
whose last end record has an overlong comment was read differently from zipfile.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
from pathlib import Path

import pytest

from tests.adversarial import evasions as E
from tests.adversarial.attacks import zipped
from tests.adversarial.harness import loader_imports, run_gate
from tests.conftest import CORPUS, needs_shared


@pytest.mark.parametrize("name", sorted(set(E.PICKLES) - E.HIDDEN_ONLY))
def test_each_pickle_variant_is_real(name: str) -> None:
    """The oracle: CPython's unpickler reaches an import in every variant (nothing is imported)."""
    assert loader_imports(E.PICKLES[name]), f"{name} is not a working pickle: the test would prove nothing"


@pytest.fixture(scope="module")
def evasion_run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("evasion")
    root = tmp / "ws"
    for rel, data in E.files(tmp).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return E.files(tmp), run_gate(root, tmp / "out", timeout=240)


def test_every_variant_is_blocked(evasion_run) -> None:  # type: ignore[no-untyped-def]
    variants, run = evasion_run
    assert run.report is not None, run.stderr[-2000:]
    missed = sorted(rel for rel in variants if not run.blocked(rel))
    assert not missed, f"not blocked: {missed}"
    assert run.code == 1


def test_gadgets_outside_the_denylist_are_blocked_by_the_risky_tier(evasion_run) -> None:  # type: ignore[no-untyped-def]
    _, run = evasion_run
    for module, name in E.GADGETS:
        rel = f"gadgets/{module}.{name}.pkl"
        severities = {f["severity"] for f in run.findings if f["path"] == rel and f["rule_id"] in ("MLS101", "MLS102")}
        assert severities & {"critical", "high"}, (rel, [f for f in run.findings if f["path"] == rel])


@pytest.mark.parametrize("rel, rule", [
    ("polyglots/model.gguf", "MLS119"), ("polyglots/model.safetensors", "MLS119"), ("polyglots/model.tar", "MLS119"),
    ("pickles/no_proto_binary.pkl", "MLS101"), ("pickles/proto_marker_1.pkl", "MLS101"),
    ("pickles/big_string_first.pkl", "MLS101"), ("pickles/frame_first.pkl", "MLS101"),
    ("containers/no_proto_data.pt", "MLS101"), ("containers/lzma_no_proto.lzma", "MLS101"),
    ("polyglots/eocd_divergence.zip", "MLS101"), ("pickles/stack_global_computed.pkl", "MLS104"),
    ("pickles/ext1.pkl", "MLS104"), ("pickles/build_on_module.pkl", "MLS107"), ("pickles/nested_base64.pkl", "MLS106"),
])
def test_regressions_report_the_right_rule(evasion_run, rel: str, rule: str) -> None:  # type: ignore[no-untyped-def]
    _, run = evasion_run
    assert rule in run.rules_for(rel), (rel, sorted(run.rules_for(rel)))


def test_text_files_that_start_like_opcodes_are_not_pickles(tmp_path: Path) -> None:
    """The wider pickle sniffing must not turn word lists and source files into findings."""
    root = tmp_path / "ws"
    root.mkdir()
    texts = {
        "vocab_i.txt": b"is\nthe\nof\nand\n", "vocab_c.txt": b"cat\ndog\n", "script.py": b"import os\nprint(os.name)\n",
        "notes.md": b"(draft) persistence notes\n", "data.csv": b"a,b\n1,2\n", "p.txt": b"Pstorage\nplain text\n",
        "s.txt": b"S'quoted'\n", "list.txt": b"]]]]]]]]\n", "proto.txt": b"\x80\x01hello world\n",
    }
    for name, data in texts.items():
        (root / name).write_bytes(data)
    run = run_gate(root, tmp_path / "out", timeout=120)
    assert run.code == 0, (run.findings, run.errors)
    assert not run.findings


def _corpus_malicious_pickles() -> list[str]:
    if not (CORPUS / "labels.tsv").exists():
        return []
    with (CORPUS / "labels.tsv").open() as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [r["path"] for r in rows if r["label"] == "malicious" and r["family"] in ("pickle-family", "mixed")]


def test_corpus_exploits_stay_blocked_renamed_and_repacked(tmp_path: Path) -> None:
    """Every malicious pickle-family file of the corpus, three ways: under a misleading name,
    gzipped inside a zip, and inside a tar.xz. Each must still be blocked."""
    paths = _corpus_malicious_pickles()
    if not paths:
        needs_shared(CORPUS / "labels.tsv")
    root = tmp_path / "ws"
    expected: list[str] = []
    for i, rel in enumerate(paths):
        data = (CORPUS / rel).read_bytes()
        variants = {
            f"renamed/{i:03d}/notes.txt": data,
            f"zipped/{i:03d}.zip": zipped({"weights/blob.bin.gz": gzip.compress(data, mtime=0)}, 8),
            f"tarred/{i:03d}.tar.xz": E.tar_member_bytes(data),
            f"bz2/{i:03d}.dat": bz2.compress(data),
        }
        for vrel, vdata in variants.items():
            path = root / vrel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(vdata)
            expected.append(vrel)
    run = run_gate(root, tmp_path / "out", timeout=300)
    assert run.report is not None, run.stderr[-2000:]
    missed = [v for v in expected if not run.blocked(v)]
    assert not missed, f"{len(missed)} corpus variants not blocked, e.g. {missed[:10]}"


def test_zip_reader_uses_the_end_record_loaders_use() -> None:
    """zipfile (and miniz) read the last end record even when its comment overruns the file."""
    import zipfile

    from mlsecops.formats import ziparchive

    data = E.eocd_divergence()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        loader_sees = zf.read("archive/data.pkl")
    fh = io.BytesIO(data)
    entry = ziparchive.read_directory(fh, len(data), 10).entries[0]
    ours, _ = ziparchive.read_member(fh, entry, 1 << 20)
    assert ours == loader_sees


def test_end_record_bytes_alone_do_not_make_a_zip() -> None:
    """Taking the last end record as loaders do must not turn any binary holding `PK\\5\\6` near its
    end into a zip: a prefixed zip needs a readable directory."""
    from mlsecops.formats.detect import detect

    blob = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8 + b"PK\x05\x06" + b"\xff" * 18
    assert detect(io.BytesIO(blob), "image.png", len(blob)) is None
    prefixed = E.png_with_zip()
    assert detect(io.BytesIO(prefixed), "image.png", len(prefixed)) is not None
