"""Results keyed by git blob id: an unchanged file is never scanned twice.

Git already hashed the content (the blob id is free to read), so nothing is
hashed here. The key also covers everything that could change the answer: the
mlsecops, fickling and modelscan versions, the bytes of the scanner's own code and
data (formats/, stages/models/, data/: a fix invalidates old verdicts) and the
models policy. Only clean results are kept (a file that errored is tried again).
A renamed file reuses its result with paths and fingerprints rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from mlsecops import __version__
from mlsecops.code_digest import code_digest
from mlsecops.findings import fingerprint
from mlsecops.stages.models.policy import ModelsPolicy
from mlsecops.stages.models.scanfile import FileResult, from_line, to_line

_JUDGED_IN_PARENT = {"fail_on", "allowed_formats", "blocked_formats", "blocked_format_severity"}


def _v(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "absent"


def salt(policy: ModelsPolicy) -> str:
    parts = [
        __version__,
        _v("fickling"),
        _v("modelscan"),
        code_digest("formats", "stages/models", "data"),
        json.dumps(policy.model_dump(mode="json", exclude=_JUDGED_IN_PARENT), sort_keys=True),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


class ResultCache:
    def __init__(self, root: Path | None, policy: ModelsPolicy) -> None:
        self.dir = root / "models" / salt(policy) if root else None
        self.hits = 0

    def _file(self, blob: str) -> Path | None:
        if self.dir is None or not blob or not all(c in "0123456789abcdef" for c in blob):
            return None
        return self.dir / blob[:2] / f"{blob}.json"

    def get(self, blob: str | None, path: str) -> FileResult | None:
        f = self._file(blob or "")
        if f is None:
            return None
        try:
            result = from_line(FileResult, f.read_bytes())
        except (OSError, ValueError):
            return None
        self.hits += 1
        if result.path != path:
            result.path = path
            for finding in result.findings:
                finding.path = path
                finding.fingerprint = fingerprint(finding.rule_id, path, finding.member, str(finding.properties.get("key", "")))
        return result

    def put(self, blob: str | None, result: FileResult) -> None:
        f = self._file(blob or "")
        if f is None or result.errors:
            return
        try:
            f.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=f.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                out.write(to_line(result))
            os.replace(tmp, f)
        except OSError:
            return  # a cache that cannot be written only costs time
