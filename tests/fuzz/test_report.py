"""Fuzz findings in the comment and SARIF: hostile text stays inert, locations are right."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from tests.rendering import github_render, untrusted_links
from mlsecops.findings import StageResult, Stage
from mlsecops.policy.judge import judge
from mlsecops.policy.model import Policy
from mlsecops.reporters import markdown, sarif
from mlsecops.stages.fuzz import report
from mlsecops.stages.fuzz.investigate import Found
from mlsecops.stages.fuzz.outcome import FrameInfo
from mlsecops.stages.fuzz.targets import Target
from mlsecops.stages.fuzz.triage import Triaged

HOSTILE = "boom <img src=x onerror=alert(1)> [click](http://evil) @admin ghs_abcdefghijklmnopqrstuvwxyz012345\x1b[31m"


def _found() -> Found:
    t = Triaged(kind="python-exception", target="harness", signature="exception|harness|ValueError|fuzz/f.py:x",
                severity="medium", exc_type="ValueError", message=HOSTILE,
                frames=[FrameInfo(file="pkg/[x](y).py", line=3, func="parse")])
    target = Target(kind="harness", path="fuzz/fuzz_[evil]|x.py", key="harness:x", line=8)
    return Found(target=target, triaged=t, data=b"MLS!", original_size=5, minimized=True, reproducible=True,
                 pre_existing=False)


def test_comment_and_sarif_render_fuzz_findings_safely(tmp_path):
    f = report.finding(_found(), ".mlsecops/reproducers/MLS301-abc.bin", "python -m mlsecops.stages.fuzz.replay --harness x y",
                       "network namespace")
    assert "ghs_" not in f.message and "\x1b" not in f.message
    result = StageResult(stage=Stage.fuzz, findings=[f], stats={"targets": 1, "executions": 10, "crashes": 1, "seconds": 1.0})
    verdict = judge([result], Policy(), date.today())
    text = markdown.render(verdict)
    assert "<details><summary>Fuzzing: 1 crash" in text  # medium: below the default threshold, collapsed
    assert "<img" not in text and "@admin" not in text
    assert not untrusted_links(github_render().to_html(text))
    assert "python &#45;m mlsecops&#46;stages&#46;fuzz&#46;replay" in text or "python -m mlsecops.stages.fuzz.replay" in text
    out = tmp_path / "out.sarif"
    sarif.write(verdict, out)
    run = json.loads(out.read_text())["runs"][0]
    assert run["automationDetails"]["id"] == "mlsecops/fuzz/"
    region = run["results"][0]["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] == 8
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} == {"MLS301"}


def test_rules_cover_every_crash_kind():
    from mlsecops.rules import catalog
    from mlsecops.stages.fuzz.rules import KIND_RULE

    rules = catalog()
    assert all(rid in rules for rid in KIND_RULE.values())
    assert Path(__file__).name
