"""Issue 12.8: chat templates judged by what they do when rendered.

Benign templates of popular models (written out in tests/models/chat_templates/benign) are not
flagged; malicious ones built in code (tests/models/chat_templates/malicious.py), each proven to
escape in a careless renderer, are all critical however the dunder name is built; a template that
loops, floods or recurses is bounded and reported instead of hanging the worker.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlsecops.findings import Severity
from mlsecops.formats.chat_template import render
from mlsecops.stages.models.shared.templating import _behaviour, _problems
from tests.conftest import scan_json
from tests.models.chat_templates import careless
from tests.models.chat_templates.malicious import SAMPLES, template

BENIGN = sorted((Path(__file__).parent / "chat_templates" / "benign").glob("*.jinja"))
CONVERSATION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"}]


def test_the_benign_corpus_is_real_jinja() -> None:
    assert len(BENIGN) >= 12
    jobs = [{"template": p.read_text(), "messages": CONVERSATION[1:]} for p in BENIGN]
    for path, out in zip(BENIGN, careless.render(jobs), strict=True):
        assert not out.startswith("ERROR") and "Hi" in out, (path.name, out)


@pytest.mark.parametrize("path", BENIGN, ids=lambda p: p.stem)
def test_benign_templates_are_not_flagged(path: Path) -> None:
    source = path.read_text()
    seen = render(source)
    assert seen.unsafe == [] and seen.bound is None, (seen.unsafe, seen.bound)
    assert seen.completed >= seen.renders // 2  # the probes really exercise it
    assert _behaviour(source) == ([], None) and _problems(source) == []


def test_every_malicious_sample_escapes_in_a_careless_renderer() -> None:
    names = [n for n, (_, marker, _) in SAMPLES.items() if marker]
    jobs = [{"template": template(n), "messages": SAMPLES[n][2] if SAMPLES[n][2] is not None else CONVERSATION}
            for n in names]
    for name, out in zip(names, careless.render(jobs), strict=True):
        assert SAMPLES[name][1] in out, (name, out[:300])


@pytest.mark.parametrize("name", list(SAMPLES))
def test_malicious_templates_are_critical(name: str) -> None:
    found, bound = _behaviour(template(name))
    assert found and found[0][0] == Severity.critical and bound is None, found


@pytest.mark.parametrize("name", ["map-attribute", "keys-from-the-conversation", "format-string-field", "flask-config"])
def test_reading_the_text_alone_misses_these(name: str) -> None:
    assert not any(sev == Severity.critical for sev, _ in _problems(template(name)))


@pytest.mark.parametrize(("body", "says"), [
    ("{% set xs = range(100000)|list %}{% for a in xs %}{% for b in xs %}{% endfor %}{% endfor %}", "CPU"),
    ("{% for a in range(100000) %}{% for b in range(100) %}xxxxxxxxxx{% endfor %}{% endfor %}", "KiB"),
    ("{% set ns = namespace(x='ab') %}{% for i in range(60) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}", "MiB"),
    ("{{ 'a' * 1000000000 }}", "MiB"),
    ("{% macro r(n) %}{{ r(n) }}{% endmacro %}{{ r(1) }}", "recursed"),
])
def test_a_template_that_would_not_end_is_bounded_and_reported(body: str, says: str) -> None:
    _, bound = _behaviour(body)
    assert bound and says in bound, bound


def test_a_template_no_conversation_can_render_is_not_passed_as_checked() -> None:
    found, _ = _behaviour("{{ messages[0]['content'] + 1 }}")
    assert found and found[0][0] == Severity.high and "could not be rendered" in found[0][1]


def test_every_sample_blocks_through_the_models_stage(tmp_path: Path) -> None:
    """End to end: tokenizer_config.json files in a folder, scanned by the CLI in its workers."""
    ws = tmp_path / "ws"
    for name in SAMPLES:
        (ws / name).mkdir(parents=True)
        (ws / name / "tokenizer_config.json").write_text(json.dumps({"chat_template": template(name), "bos_token": "<s>"}))
    for path in BENIGN[:4]:
        (ws / "ok" / path.stem).mkdir(parents=True)
        (ws / "ok" / path.stem / "tokenizer_config.json").write_text(json.dumps({"chat_template": path.read_text()}))
    (ws / "loop").mkdir()
    (ws / "loop" / "tokenizer_config.json").write_text(json.dumps({"chat_template": (
        "{% set xs = range(100000)|list %}{% for a in xs %}{% for b in xs %}{% endfor %}{% endfor %}")}))
    code, report = scan_json(tmp_path, ws, "--stages", "models")
    by_dir = {f["path"].split("/")[0]: f for f in report["findings"] if f["rule_id"] == "MLS118"}
    for name in SAMPLES:
        assert by_dir[name]["severity"] == "critical" and by_dir[name]["status"] == "blocking", name
    assert "ok" not in {f["path"].split("/")[0] for f in report["findings"]}
    (loop,) = [f for f in report["findings"] if f["path"].startswith("loop/")]
    assert loop["rule_id"] == "MLS115" and loop["status"] == "blocking" and "could not be checked to the end" in loop["message"]
    assert report["errors"] == [] and code == 1
