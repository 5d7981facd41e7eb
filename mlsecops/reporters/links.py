"""Links the PR comment may contain, each built here from trusted parts and checked to resolve.

- Rule help: `docs/rules.md` of the gate's own repository at the release tag this report
  came from (a stable ref: the text matches the code that produced the finding), with the
  anchor GitHub gives the rule's heading.
- Advisories: GitHub's advisory page for a GHSA id, OSV's page for every other id.
- Files: the scanned repository's file at the head commit, with the line when it means one.

Ids and paths come from advisories and pull requests: an id that is not shaped like an
advisory id gets no link, a path is percent-encoded, and a repository URL or commit that
does not look like one turns file links off. Nothing untrusted reaches a URL unescaped.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from pydantic import BaseModel

from mlsecops import __version__
from mlsecops.install import REPOSITORY
from mlsecops.rules import catalog

_GHSA = re.compile(r"GHSA(?:-[23456789cfghjmpqrvwx]{4}){3}")
_OSV_ID = re.compile(r"[A-Z][A-Z0-9]{1,15}(?:-[A-Za-z0-9._]{1,40}){1,4}")
_REPO_URL = re.compile(r"https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def docs_ref() -> str:
    return f"v{__version__}"


def rule_doc(rule_id: str) -> str | None:
    """Help for a rule (`MLS201/PYSEC-…` is rule MLS201), or None for a rule with no entry."""
    base = rule_id.split("/", 1)[0]
    rule = catalog().get(base)
    if rule is None:
        return None
    return f"{REPOSITORY}/blob/{docs_ref()}/docs/rules.md#{anchor(f'{rule.id} {rule.name}')}"


def docs_page(name: str) -> str:
    return f"{REPOSITORY}/blob/{docs_ref()}/docs/{name}"


def advisory(vuln_id: str | None) -> str | None:
    if not vuln_id:
        return None
    if _GHSA.fullmatch(vuln_id):
        return f"https://github.com/advisories/{vuln_id}"
    if _OSV_ID.fullmatch(vuln_id):
        return f"https://osv.dev/vulnerability/{vuln_id}"
    return None


class FileLinks(BaseModel):
    """Where the scanned files live on GitHub: `repo_url` (server and owner/name) at `head`."""

    repo_url: str | None = None
    head: str | None = None
    prefix: str = ""  # PATH relative to the repository root

    def usable(self) -> bool:
        return bool(self.repo_url and self.head and _REPO_URL.fullmatch(self.repo_url) and _SHA.fullmatch(self.head))

    def file(self, path: str, line: int | None = None) -> str | None:
        if not self.usable() or not path:
            return None
        full = f"{self.prefix.strip('/')}/{path}" if self.prefix.strip("/") else path
        # A name that is not UTF-8 reaches us with lone surrogates: its original bytes, percent-encoded.
        url = f"{self.repo_url}/blob/{self.head}/{quote(full, safe='/', errors='surrogateescape')}"
        return url + (f"#L{int(line)}" if line and line > 1 else "")


def markdown_url(url: str | None) -> str:
    """A URL safe between `(` and `)` in Markdown: only what `links` builds, re-checked."""
    if not url or not url.startswith("https://") or any(c in url for c in " ()<>\"'`\\\n\r\t"):
        raise ValueError(f"not a link this report builds: {url!r}")
    return url
