"""Repositories for the assess tests: the credit demo's data, models and policy, built in code."""

from __future__ import annotations

from pathlib import Path

from mlsecops.stages.assess import fixtures
from tests.conftest import make_repo

DATA = fixtures.CreditData()


def model(kind: tuple[tuple[float, ...], float]) -> bytes:
    return DATA.model(*kind)


def credit_repo(root: Path, head: dict[str, bytes | str | None], policy: str = fixtures.POLICY,
                base_model: bytes | None = None) -> tuple[str, str]:
    base: dict[str, bytes | str | None] = {
        "models/credit.onnx": model(fixtures.FAIR) if base_model is None else base_model,
        "data/eval.csv": DATA.csv(),
        ".mlsecops.yml": policy,
    }
    return make_repo(root, base, head)


def by_rule(report: dict, rule: str) -> list[dict]:
    return [f for f in report["findings"] if f["rule_id"] == rule]
