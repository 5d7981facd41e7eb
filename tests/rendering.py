"""The comment as GitHub renders it: scripts/github_render.py (cmark-gfm, headless Chromium),
plus the checks every rendering test shares: which links a comment may hold, and tables
whose rows all have the header's number of cells."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
TRUSTED_LINKS = ("https://github.com/mlsecops/mlsecops/blob/v", "https://osv.dev/vulnerability/",
                 "https://github.com/advisories/GHSA-")


def github_render() -> ModuleType:
    spec = importlib.util.spec_from_file_location("github_render", ROOT / "scripts" / "github_render.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def links(html: str) -> list[str]:
    return re.findall(r'<a [^>]*href="([^"]*)"', html)


def untrusted_links(html: str, *also: str) -> list[str]:
    """Links that point anywhere but the gate's docs, advisory pages and the given prefixes."""
    return [u for u in links(html) if not u.startswith(TRUSTED_LINKS + also)]


def ragged_tables(html: str) -> list[str]:
    """Rows whose cell count differs from their table's header (a name that split a row)."""
    bad = []
    for table in re.findall(r"<table>.*?</table>", html, re.S):
        head = len(re.findall(r"<th[ >]", table))
        for row in re.findall(r"<tr>(.*?)</tr>", table, re.S):
            cells = len(re.findall(r"<t[dh][ >]", row))
            if cells != head:
                bad.append(row)
    return bad
