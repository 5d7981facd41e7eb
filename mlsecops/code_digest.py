"""A digest of the gate's own code and data, for the result caches' keys.

A cached result answers only for the code that computed it. The version string
does not change between commits of a development tree or a patched install, so
the caches also key on the bytes of the modules and data files that compute the
result: a fix to the walker or the allowlist invalidates every cached verdict.
"""

from __future__ import annotations

import hashlib
from importlib.resources import files
from importlib.resources.abc import Traversable

_SUFFIXES = (".py", ".json", ".yml", ".yaml", ".j2", ".txt")


def _walk(node: Traversable, prefix: str) -> list[tuple[str, Traversable]]:
    out: list[tuple[str, Traversable]] = []
    for child in node.iterdir():
        name = f"{prefix}/{child.name}"
        if child.is_dir():
            if child.name != "__pycache__":
                out += _walk(child, name)
        elif child.name.endswith(_SUFFIXES):
            out.append((name, child))
    return out


def code_digest(*parts: str) -> str:
    """SHA-256 over the files under these folders of the mlsecops package (e.g. "formats", "data")."""
    h = hashlib.sha256()
    root = files("mlsecops")
    for part in parts:
        node = root.joinpath(*part.split("/"))
        for name, leaf in sorted(_walk(node, part), key=lambda item: item[0]):
            data = leaf.read_bytes()
            h.update(f"{name}\x00{len(data)}\x00".encode())
            h.update(data)
    return h.hexdigest()
