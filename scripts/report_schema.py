"""Write schemas/mlsecops-report.schema.json from the pydantic model of the JSON report.

    python scripts/report_schema.py          (tests/test_report_schema.py checks it is current)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlsecops.reporters.report_model import json_schema  # noqa: E402

SCHEMA = ROOT / "schemas" / "mlsecops-report.schema.json"


def text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    SCHEMA.write_text(text(), encoding="utf-8")
    print(f"wrote {SCHEMA.relative_to(ROOT)}")
