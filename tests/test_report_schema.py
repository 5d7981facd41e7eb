"""The JSON report has a schema (from its pydantic model, committed), every report validates against it,
and a report read back renders the same PR comment as the verdict it came from."""

from __future__ import annotations

import importlib.util
import json

import jsonschema
import pytest

from mlsecops.reporters import json_report, markdown
from mlsecops.reporters.report_model import Report
from tests.conftest import ROOT
from tests.test_reports import HOSTILE, verdict


def _script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("report_schema", ROOT / "scripts" / "report_schema.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_schema_is_current() -> None:
    assert (ROOT / "schemas" / "mlsecops-report.schema.json").read_text() == _script().text(), \
        "run: python scripts/report_schema.py"


def test_reports_validate_and_round_trip() -> None:
    schema = json.loads((ROOT / "schemas" / "mlsecops-report.schema.json").read_text())
    v = verdict()
    data = json.loads(json.dumps(json_report.render(v)))
    jsonschema.validators.validator_for(schema)(schema).validate(data)
    back = Report.model_validate(data).to_verdict()
    assert markdown.render(back) == markdown.render(v)
    assert HOSTILE in [f.path for f in back.findings]


@pytest.mark.parametrize("change", [
    lambda d: d.update(verdict="passed"),
    lambda d: d.update(extra="x"),
    lambda d: d["findings"][0].update(rule_id="<!-- mlsecops:comment -->"),
    lambda d: d["findings"][0].update(message="x" * 30_000),
    lambda d: d["findings"][0].update(status="ignored"),
])
def test_a_report_off_schema_is_refused_by_both(change) -> None:  # type: ignore[no-untyped-def]
    schema = json.loads((ROOT / "schemas" / "mlsecops-report.schema.json").read_text())
    data = json.loads(json.dumps(json_report.render(verdict())))
    change(data)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validators.validator_for(schema)(schema).validate(data)
    with pytest.raises(ValueError):
        Report.model_validate(data)
