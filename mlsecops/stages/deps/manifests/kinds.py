"""Which format a manifest is in, from its file name (any other file the globs select is a requirements file)."""

from __future__ import annotations

import posixpath
import re

_PYLOCK = re.compile(r"^pylock(\.[^./]+)?\.toml$")
_NAMED = {
    "pyproject.toml": "pyproject",
    "uv.lock": "uv.lock",
    "poetry.lock": "poetry.lock",
    "Pipfile.lock": "Pipfile.lock",
    "Pipfile": "Pipfile",
    "setup.py": "setup.py",
    "setup.cfg": "setup.cfg",
}


def kind_of(rel: str) -> str:
    name = posixpath.basename(rel)
    if name in _NAMED:
        return _NAMED[name]
    if _PYLOCK.match(name):
        return "pylock.toml"
    if name.endswith((".yml", ".yaml")):
        return "conda"
    return "requirements"
