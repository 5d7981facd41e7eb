"""Jinja templates shipped with models (HF `chat_template`, YAML configs, `.j2` files):
every string of a JSON or YAML config that is a template, and a `.j2` file, judged by
shared/templating.py (which GGUF metadata templates go through too)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, BinaryIO

from mlsecops.findings import Severity
from mlsecops.formats.kinds import Format
from mlsecops.stages.models import rules
from mlsecops.stages.models.context import ScanState
from mlsecops.stages.models.interface import Handles
from mlsecops.stages.models.shared.templating import DUNDER_TEXT, MAX_NODES, judge_template

MAX_TEXT = 16 * 1024 * 1024
MAX_RENDERED = 16
"""Templates rendered per file; more are read only, and the file says so (MLS115)."""


def _strings(node: Any, key: str = "", budget: list[int] | None = None, seen: set[int] | None = None) -> Iterator[tuple[str, str]]:
    """(key path, string) for every string in a JSON/YAML document, bounded and alias-safe."""
    budget = budget if budget is not None else [MAX_NODES]
    seen = seen if seen is not None else set()
    budget[0] -= 1
    if budget[0] < 0 or id(node) in seen:
        return
    if isinstance(node, str):
        yield key, node
    elif isinstance(node, dict):
        seen.add(id(node))
        for k, v in node.items():
            yield from _strings(v, f"{key}.{k}" if key else str(k), budget, seen)
    elif isinstance(node, list):
        seen.add(id(node))
        for i, v in enumerate(node):
            yield from _strings(v, f"{key}[{i}]", budget, seen)


def _is_template(key: str, text: str) -> bool:
    return ("{{" in text or "{%" in text) and ("template" in key.lower() or len(text) < MAX_TEXT)


def analyze_config(state: ScanState, fmt: Format, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> None:
    fh.seek(0)
    raw = fh.read(MAX_TEXT)
    text = raw.decode("utf-8", "replace")
    doc: Any
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        import yaml

        try:
            doc = yaml.safe_load(text)
        except (yaml.YAMLError, RecursionError, ValueError):
            doc = None
    if doc is None:
        if DUNDER_TEXT.search(text):
            judge_template(state, text, member, name)
        return
    rendered = 0
    for key, value in _strings(doc):
        if _is_template(key, value):
            rendered += 1
            judge_template(state, value, member, key or name, render=rendered <= MAX_RENDERED)
    if rendered > MAX_RENDERED:
        state.observe(rules.SCAN_LIMIT_EXCEEDED, Severity.high, f"{name} holds {rendered} templates; the {rendered - MAX_RENDERED} after the "
                      f"first {MAX_RENDERED} were read but not rendered", member, "template-limit")


def analyze_jinja(state: ScanState, fmt: Format, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> None:
    fh.seek(0)
    judge_template(state, fh.read(MAX_TEXT).decode("utf-8", "replace"), member, name)


ANALYZERS = (Handles(frozenset({Format.config}), analyze_config), Handles(frozenset({Format.jinja}), analyze_jinja))
