"""Harness discovery and the in-repo import closure, from source text only (nothing executed)."""

from __future__ import annotations

from mlsecops.stages.fuzz import harnesses
from tests.conftest import write


def test_discovery_finds_test_one_input_and_what_it_imports(tmp_path):
    write(tmp_path, {
        "src/pkg/__init__.py": "from .core import run\n",
        "src/pkg/core.py": "from . import util\n",
        "src/pkg/util.py": "import json\n",
        "fuzz/helpers.py": "X = 1\n",
        "fuzz/fuzz_pkg.py": "import atheris\nimport helpers\nfrom pkg import core\n\n\ndef TestOneInput(data):\n    core.run(data)\n",
        "fuzz/fuzz_none.py": "def not_a_harness():\n    pass\n",
        "fuzz/fuzz_broken.py": "def TestOneInput(:\n",
        ".venv/lib/python3.11/site-packages/x/fuzz_x.py": "def TestOneInput(d):\n    pass\n",
        "tools/fuzz_hidden.py": "raise SystemExit('never executed')\ndef TestOneInput(d):\n    pass\n",
    })
    found = {h.path: h for h in harnesses.discover(tmp_path, ["**/fuzz_*.py"])}
    assert set(found) == {"fuzz/fuzz_pkg.py", "tools/fuzz_hidden.py"}
    h = found["fuzz/fuzz_pkg.py"]
    assert h.line == 6
    assert set(h.closure) == {"fuzz/helpers.py", "src/pkg/__init__.py", "src/pkg/core.py", "src/pkg/util.py"}
    assert set(h.packages) == {"helpers", "pkg"}
    assert harnesses.affected(h, {"src/pkg/util.py"})
    assert not harnesses.affected(h, {"README.md"})
