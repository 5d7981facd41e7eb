"""Where a SARIF result points, chosen so upload-sarif never reads a model file.

github/codeql-action's upload-sarif hashes the whole file behind every result that has a
`region.startLine` (its `fingerprints.ts`; 100 MB took minutes) and skips results without
one. So:

- a result in a text file of at most TEXT_LIMIT bytes keeps its line, with the
  `primaryLocationLineHash` upload-sarif computes for that line (line_hash.py): it hashes
  the same small file, finds the same value, and has nothing to warn about;
- a result in a binary, larger, linked or special file gets no region (GitHub shows it at
  line 1) and our own stable id as `primaryLocationLineHash`; upload-sarif never opens it;
- a result whose file is not in the work tree (a diff of commits that are not checked out)
  keeps its line and our id: upload-sarif cannot read it either.

Each file is read at most once, through line_hash.read_text (no links, no FIFOs, bounded).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Literal, NamedTuple
from urllib.parse import quote

from mlsecops.findings import Finding
from mlsecops.reporters.line_hash import line_hashes, read_text

TEXT_LIMIT = 4 * 1024 * 1024  # upload-sarif hashes about 0.6 MB/s: a few seconds at most


def uri(path: str, prefix: str) -> str:
    """Repository-relative and percent-encoded from the file name's bytes, so a name that is not
    UTF-8 still points at its file."""
    full = f"{prefix}/{path}" if prefix else path
    try:
        raw = full.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = full.encode("utf-8", "replace")
    return quote(raw, safe="/")


class _File(NamedTuple):
    kind: Literal["text", "binary", "absent"]
    hashes: list[str]


_BINARY = _File("binary", [])
_ABSENT = _File("absent", [])


class Locator:
    """Locations for the findings of one verdict. `source` is the scanned PATH in the work tree
    (upload-sarif's checkout path plus the prefix); None reads nothing and keeps every line."""

    def __init__(self, source: Path | None, prefix: str) -> None:
        self.source = source
        self.prefix = prefix
        self._files: dict[str, _File] = {}

    def locate(self, finding: Finding) -> tuple[dict, str]:
        """(physicalLocation, primaryLocationLineHash) of one finding."""
        artifact = {"artifactLocation": {"uri": uri(finding.path, self.prefix)}}
        own = f"{finding.fingerprint}:1"
        line = max(1, finding.line or 1)
        file = self._file(finding.path)
        if file.kind == "binary":
            return artifact, own  # no line, so upload-sarif does not read the file
        located = {**artifact, "region": {"startLine": line}}
        if line > len(file.hashes):
            return located, own  # upload-sarif finds no file or no such line: nothing to compare
        return located, file.hashes[line - 1]

    def _file(self, path: str) -> _File:
        if self.source is None:
            return _ABSENT
        if path not in self._files:
            self._files[path] = self._read(self.source, path)
        return self._files[path]

    @staticmethod
    def _read(source: Path, path: str) -> _File:
        parts = PurePosixPath(path).parts
        if not parts or PurePosixPath(path).is_absolute() or ".." in parts:
            return _BINARY
        full = source.joinpath(*parts)
        if not os.path.lexists(full):
            return _ABSENT
        data = read_text(full, TEXT_LIMIT)
        return _BINARY if data is None else _File("text", line_hashes(data))
