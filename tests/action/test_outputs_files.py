"""$GITHUB_OUTPUT's heredoc form and the job summary's 1 MiB budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.action.action_support import parse_outputs
from mlsecops.action import outputs


def test_heredoc_outputs_cannot_set_other_outputs(tmp_path: Path) -> None:
    path = tmp_path / "out"
    hostile = "pass\nverdict=fail\nblocking<<EOF\n99\nEOF\nghadelimiter_x"
    outputs.write_outputs(path, {"verdict": "fail", "sarif-file": hostile, "blocking": "2"})
    parsed = parse_outputs(path.read_text())
    assert parsed == {"verdict": "fail", "sarif-file": hostile, "blocking": "2"}


def test_output_names_are_checked() -> None:
    with pytest.raises(outputs.OutputError):
        outputs.heredoc("a\nb", "x")


def test_summary_fits_the_byte_budget(tmp_path: Path) -> None:
    path = tmp_path / "summary"
    path.write_text("x" * (1024 * 1024 - 10_000))
    budget = outputs.summary_budget(path)
    assert 0 < budget < 10_000

    def render(limit: int) -> str:
        return ("❌ emoji " * 5000)[:limit]

    text = outputs.fit(render, budget)
    assert len(text.encode()) <= budget
    outputs.append_summary(path, text)
    assert path.stat().st_size <= outputs.SUMMARY_LIMIT_BYTES


def test_unwritable_outputs_raise_a_readable_error(tmp_path: Path) -> None:
    with pytest.raises(outputs.OutputError, match="cannot write the step outputs"):
        outputs.write_outputs(tmp_path / "missing" / "out", {"verdict": "pass"})
