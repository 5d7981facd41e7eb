"""Read manifest files of the scanned tree: bounded in size, never outside the root.

A manifest may name other files (`-r base.txt`, a lock file next to a
pyproject.toml). Those are resolved relative to the file that names them and
must stay inside the scanned PATH after symlinks are followed: a requirements
file in a pull request must not make the gate read `/etc/passwd` or a file
outside the checkout. A file the changeset holds is read from the changeset's
copy (in diff mode that is the head version); any other file from the tree.
Remote includes (`-r https://...`) are never fetched.
"""

from __future__ import annotations

import codecs
import posixpath
import re
import stat
from pathlib import Path

from mlsecops.changes.artifact import Changeset
from mlsecops.stages.deps.manifests.interface import ManifestError

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class ManifestReader:
    """Bounded, confined access to the files manifests are made of."""

    def __init__(self, changeset: Changeset, max_bytes: int) -> None:
        self.root = changeset.root.resolve()
        self.max_bytes = max_bytes
        self._sources = {a.path: a.source for a in changeset.artifacts}

    def source(self, rel: str) -> Path:
        """The file to read for repo-relative `rel`; raises ManifestError when unusable."""
        if rel in self._sources:
            path = self._sources[rel]
        else:
            try:
                path = (self.root / rel).resolve(strict=True)
            except OSError as exc:
                raise ManifestError(rel, f"cannot read {rel}: {exc.strerror or 'not found'}") from None
            if path != self.root and self.root not in path.parents:
                raise ManifestError(rel, f"{rel} resolves outside the scanned folder: not read")
        try:
            st = path.stat()
        except OSError as exc:
            raise ManifestError(rel, f"cannot read {rel}: {exc.strerror or exc}") from None
        if not stat.S_ISREG(st.st_mode):
            raise ManifestError(rel, f"{rel} is not a regular file: not read")
        if st.st_size > self.max_bytes:
            raise ManifestError(
                rel,
                f"{rel} is {st.st_size / 1024 / 1024:.1f} MB, over the {self.max_bytes / 1024 / 1024:g} MB "
                "limit (deps.limits.max_manifest_mb): not audited",
            )
        return path

    def link_target(self, rel: str) -> str | None:
        """For a file that is a symbolic link (not one the changeset copied), the repo-relative path it
        leads to; None for anything else, or a link that leads outside the scanned folder."""
        if rel in self._sources or not (self.root / rel).is_symlink():
            return None
        try:
            path = (self.root / rel).resolve(strict=True)
            return path.relative_to(self.root).as_posix()
        except (OSError, ValueError):
            return None

    def exists(self, rel: str) -> bool:
        try:
            self.source(rel)
        except ManifestError:
            return False
        return True

    def read_bytes(self, rel: str) -> bytes:
        path = self.source(rel)
        try:
            with open(path, "rb") as fh:
                data = fh.read(self.max_bytes + 1)
        except OSError as exc:
            raise ManifestError(rel, f"cannot read {rel}: {exc.strerror or exc}") from None
        if len(data) > self.max_bytes:
            raise ManifestError(rel, f"{rel} grew over the size limit while being read: not audited")
        return data

    def read_text(self, rel: str) -> str:
        data = self.read_bytes(rel)
        if data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8):]
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise ManifestError(rel, "not UTF-8 text", line=line) from None

    def join(self, from_rel: str, target: str, line: int | None = None) -> str:
        """The repo-relative path of `target` named in `from_rel`; raises ManifestError."""
        if _SCHEME.match(target) or target.startswith("file:"):
            raise ManifestError(from_rel, f"remote include {target!r} is not fetched: not audited", line)
        target = target.replace("\\", "/")
        if target.startswith("/"):
            try:
                rel = Path(target).resolve().relative_to(self.root).as_posix()
            except (OSError, ValueError):
                raise ManifestError(from_rel, f"include {target!r} is outside the scanned folder: not read", line) from None
        else:
            rel = posixpath.normpath(posixpath.join(posixpath.dirname(from_rel), target))
        if rel == ".." or rel.startswith("../"):
            raise ManifestError(from_rel, f"include {target!r} is outside the scanned folder: not read", line)
        return rel

    def sibling(self, rel: str, name: str) -> str:
        """The repo-relative path of `name` in the folder of `rel`."""
        folder = posixpath.dirname(rel)
        return posixpath.join(folder, name) if folder else name
