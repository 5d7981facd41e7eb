"""The list of changed files from GitHub's REST API, for a history too shallow to diff.

A pull request: `GET /repos/{owner}/{repo}/pulls/{number}/files`, paginated
(GitHub lists at most 3,000 files). A push or merge queue entry:
`GET /repos/{owner}/{repo}/compare/{base}...{head}` (at most 300 files, in
one page). A list that may be incomplete is reported as such, so the caller can
tell the user to fetch more history instead.
"""

from __future__ import annotations

from typing import Any, Literal

from mlsecops.action.api import GitHubApi
from mlsecops.changes.filelist import ChangedFile

PR_FILES_LIMIT = 3000
COMPARE_FILES_LIMIT = 300
_STATUSES = {"added", "modified", "renamed", "copied", "removed", "changed"}


def _entry(item: Any) -> ChangedFile | None:
    if not isinstance(item, dict) or not isinstance(item.get("filename"), str):
        return None
    status = item.get("status")
    if status not in _STATUSES:
        return None  # "unchanged" or something new: nothing to scan
    old = item.get("previous_filename") if isinstance(item.get("previous_filename"), str) else None
    return ChangedFile(path=item["filename"], status="modified" if status == "changed" else status, old_path=old)


def listed(api: GitHubApi, repo: str, kind: Literal["pull", "compare"], number: int | None,
           base: str | None, head: str | None) -> tuple[list[ChangedFile], bool]:
    """(changed files, complete?)."""
    if kind == "pull" and number is not None:
        items = list(api.paginate(f"/repos/{repo}/pulls/{number}/files", max_pages=PR_FILES_LIMIT // 100))
        limit = PR_FILES_LIMIT
    else:
        resp = api.request("GET", f"/repos/{repo}/compare/{base}...{head}")
        data = resp.json()
        items = data.get("files", []) if isinstance(data, dict) else []
        limit = COMPARE_FILES_LIMIT
    files = [f for f in (_entry(i) for i in items) if f is not None]
    return files, len(items) < limit
