"""Which conda packages are PyPI projects: the committed name map, plus the policy's own names.

A conda package is audited against PyPI advisories only when it *is* a PyPI
project repackaged (`pytorch` is PyPI's `torch`, `py-opencv` is
`opencv-python`); `python`, `openssl` or `cudatoolkit` are not, and nothing in a
PyPI advisory database speaks of them. The map is
`stages/deps/data/conda_pypi.txt`, derived from prefix.dev's parselmouth
mapping (the source and commit are in its header and in every finding that
uses it); `scripts/conda_mapping.py` regenerates it. The policy's
`deps.conda_names` adds or overrides names for private channels.
"""

from __future__ import annotations

from pathlib import Path

from packaging.utils import canonicalize_name
from pydantic import BaseModel

MAP_FILE = Path(__file__).resolve().parents[1] / "data" / "conda_pypi.txt"
POLICY_LABEL = "the policy's deps.conda_names"


class CondaNames(BaseModel):
    """conda package name -> the PyPI projects it holds, and where that knowledge comes from."""

    names: dict[str, list[str]]
    label: str
    policy: dict[str, list[str]] = {}

    def pypi(self, conda: str) -> tuple[list[str], str] | None:
        """(PyPI names, the mapping that says so) for a conda package, or None when it maps to none."""
        key = conda.lower()
        if key in self.policy:
            return self.policy[key], POLICY_LABEL
        if key in self.names:
            return self.names[key], self.label
        return None


def _label(header: list[str]) -> str:
    fields = dict(line[1:].strip().split(": ", 1) for line in header if ": " in line)
    source = fields.get("source", "")
    parts = source.split()
    commit = parts[parts.index("commit") + 1][:12] if "commit" in parts and parts.index("commit") + 1 < len(parts) else "?"
    date = source.rsplit("(", 1)[-1].rstrip(")") if "(" in source else "?"
    return f"parselmouth conda-to-PyPI map ({fields.get('channels', '?').split(' (')[0]}; commit {commit}, {date})"


def load(extra: dict[str, list[str]] | None = None, path: Path = MAP_FILE) -> CondaNames:
    """The shipped map (read on each call: about 20,000 short lines) with the policy's names over it."""
    header: list[str] = []
    names: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            header.append(line)
            continue
        parts = line.split()
        if parts:
            names[parts[0]] = parts[1:] or [parts[0]]
    policy = {k.lower(): [canonicalize_name(n) for n in v] for k, v in (extra or {}).items()}
    return CondaNames(names=names, label=_label(header), policy=policy)
