"""Documentation that is generated from code stays in step with it."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_rules_doc_is_current() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "rules_doc.py"), "--check"])
    assert proc.returncode == 0, "docs/rules.md is stale: run python scripts/rules_doc.py"


def test_every_rule_the_code_emits_is_documented() -> None:
    import re

    from mlsecops.rules import catalog

    known = set(catalog())
    emitted = set()
    for path in (ROOT / "mlsecops").rglob("*.py"):
        emitted |= set(re.findall(r'"(MLS\d{3})"', path.read_text()))
    assert emitted <= known, sorted(emitted - known)
