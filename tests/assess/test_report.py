"""The assess section of the PR comment renders hostile values from the data as text."""

from __future__ import annotations

from mlsecops.reporters import markdown
from mlsecops.verdict import Verdict

HOSTILE = "F | x\n<img src=x onerror=alert(1)> [link](https://evil.example) @admin"


def _verdict() -> Verdict:
    group = {"group": HOSTILE, "values": {"count": 10.0, "selection_rate": 0.5}}
    model = {"path": "models/m.onnx", "data": "data/eval.csv", "status": "assessed", "format": "onnx", "rows": 10,
             "base": "the model is new in this change (not in the base commit)", "notes": [HOSTILE],
             "metrics": [{"metric": "demographic_parity_difference", "fairness": True, "head": 0.2, "base": None,
                          "change": None, "bound": "max 0.1", "ok": False, "note": "max_drop not checked"}],
             "robustness": [], "groups": {"columns": ["sex"], "head": [group], "base": [], "truncated": 0}}
    return Verdict(verdict="fail", stages={"assess": {"models": 1, "seconds": 1.0}},
                   details={"assess": {"models": [model]}})


def test_hostile_group_names_render_as_text() -> None:
    text = markdown.render(_verdict())
    section = text[text.index("Model assessment:"):text.index("<details><summary>Reproduce locally")]
    assert "<img" not in section and "](https" not in section and "@admin" not in section
    row = next(line for line in section.splitlines() if "head |" in line)
    assert row.count(" | ") == 3  # group, model, count, selection_rate: the `|` in the name did not add a cell
    assert "| – | 0.2000 | – | max 0\\.1" in section


def test_section_is_absent_without_assessed_models() -> None:
    v = Verdict(verdict="pass", stages={"assess": {"models": 0, "seconds": 0.0}}, details={"assess": {"models": []}})
    assert "Model assessment" not in markdown.render(v)
