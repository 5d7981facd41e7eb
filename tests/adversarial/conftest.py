"""Fixtures of the adversarial suite: a workspace holding one attack next to a plain
malicious pickle (which every run must still find), and the policy limits attacks
are meant to run into."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.adversarial.attacks import EVIL
from tests.adversarial.harness import policy_file

SENTINEL = "zz_evil.pkl"
# Tight limits keep the suite fast; the benchmark runs the same attacks at full size.
TIGHT = {"timeout_seconds": 30, "memory_mb": 768, "max_expanded_mb": 64, "max_members": 20000, "max_depth": 8}


@pytest.fixture
def workspace(tmp_path: Path) -> Callable[[dict[str, bytes]], Path]:
    """A folder with the given files plus the sentinel malicious pickle."""

    def make(files: dict[str, bytes]) -> Path:
        root = tmp_path / "ws"
        root.mkdir(exist_ok=True)
        for rel, data in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        (root / SENTINEL).write_bytes(EVIL)
        return root

    return make


@pytest.fixture
def tight_policy(tmp_path: Path) -> Path:
    return policy_file(tmp_path / "policy", **TIGHT)
