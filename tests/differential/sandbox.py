"""Run a loader on generated, benign files in a child process: scrubbed environment, its own
temporary folder, address-space and CPU limits, a timeout. The child's `find_class` records
every import and returns a harmless stub for anything outside numpy, joblib and torch's
own machinery, so the generated marker classes are named, never imported."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

PRELUDE = r'''
import json, sys
seen = []
STUBS = {}
REAL = ("numpy", "joblib", "builtins", "copyreg", "collections", "_codecs", "torch")
def stub(module, name):
    key = (module, name)
    if key not in STUBS:
        STUBS[key] = type(name, (), {"__init__": lambda self, *a, **k: None, "__setstate__": lambda self, s: None})
    return STUBS[key]
def recording(original):
    def find_class(self, module, name):
        seen.append([module, name])
        if module.split(".")[0] in REAL:
            return original(self, module, name)
        return stub(module, name)
    return find_class
'''


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    resource.setrlimit(resource.RLIMIT_CPU, (300, 300))


def run(body: str, paths: list[Path], cwd: Path, timeout: float = 600) -> dict[str, Any]:
    """Run PRELUDE + body in a sandboxed child; the body reads the JSON list of paths on stdin
    and prints one JSON object (path -> answer)."""
    proc = subprocess.run([sys.executable, "-I", "-c", PRELUDE + body], input=json.dumps([str(p) for p in paths]).encode(),
                          capture_output=True, cwd=cwd, env={"PYTHONHASHSEED": "0"}, timeout=timeout,
                          preexec_fn=_limits)
    if proc.returncode != 0:
        raise AssertionError(f"the oracle failed: {proc.stderr.decode()[-2000:]}")
    return json.loads(proc.stdout)  # type: ignore[no-any-return]
