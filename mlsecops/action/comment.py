"""One sticky PR comment per pull request and workflow, found again by a hidden marker.

The comment body starts with `markdown.MARKER`, then a second hidden line naming
the workflow, so two workflows that both run mlsecops keep a comment each. The
existing comment is looked up through every page of the PR's comments; only a
comment that starts with both markers and was written by a bot or by someone
with write access counts, so a PR author cannot plant a look-alike comment for
the Action to fill in. Found: PATCH it; not found: POST one. A POST that failed
in a way that may still have created the comment is retried only after looking
again, so a flaky API does not leave two comments.

The lifecycle (`sync`): a pull request that touches nothing the gate scans gets no comment
unless one was posted before; an earlier comment is always updated, and one that said
"blocked" (its hidden state line) turns into "resolved" once a later push fixes everything.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel

from mlsecops.action.api import ApiError, GitHubApi
from mlsecops.reporters.markdown import MARKER, previous_state

TRUSTED_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
_UNSAFE = re.compile(r"[^A-Za-z0-9 ._/()\[\]+#@-]")
MAX_TRIES = 3


class CommentResult(BaseModel):
    action: Literal["created", "updated", "skipped"]
    url: str | None = None
    reason: str = ""


def workflow_marker(workflow: str | None) -> str:
    """The hidden second line: the workflow's name, reduced to characters safe in an HTML comment."""
    name = _UNSAFE.sub("_", (workflow or "default").strip())[:100].replace("--", "-_") or "default"
    return f"<!-- mlsecops:workflow {name} -->"


def with_markers(body: str, workflow: str | None) -> str:
    """The body with both hidden markers first (idempotent: a body that has them keeps one of each)."""
    rest = body[len(MARKER):].lstrip("\n") if body.startswith(MARKER) else body
    if rest.startswith("<!-- mlsecops:workflow ") and "\n" in rest:
        rest = rest.split("\n", 1)[1]
    return f"{MARKER}\n{workflow_marker(workflow)}\n{rest}"


def is_ours(comment: Any, workflow: str | None) -> bool:
    if not isinstance(comment, dict):
        return False
    body = comment.get("body") or ""
    if not body.startswith(MARKER):
        return False
    second = body[len(MARKER):].lstrip("\r\n").split("\n", 1)[0].strip()
    if second != workflow_marker(workflow):
        return False
    user = comment.get("user") or {}
    return user.get("type") == "Bot" or comment.get("author_association") in TRUSTED_ASSOCIATIONS


def find(api: GitHubApi, repo: str, number: int, workflow: str | None) -> dict[str, Any] | None:
    for comment in api.paginate(f"/repos/{repo}/issues/{number}/comments"):
        if is_ours(comment, workflow):
            return comment  # type: ignore[no-any-return]
    return None


def sync(api: GitHubApi, repo: str, number: int, workflow: str | None, render: Callable[[bool], str],
         scanned: bool) -> CommentResult:
    """The comment's lifecycle. `render(resolved)` gives the body; `scanned` says whether the run
    looked at anything. Raises ApiError when the comment cannot be read or written."""
    existing = find(api, repo, number, workflow)
    if existing is None and not scanned:
        return CommentResult(action="skipped", reason="the pull request changes nothing the gate scans")
    resolved = existing is not None and previous_state(existing.get("body") or "") in ("fail", "error", "resolved")
    return upsert(api, repo, number, render(resolved), workflow, existing=existing)


def upsert(api: GitHubApi, repo: str, number: int, body: str, workflow: str | None,
           existing: dict[str, Any] | None = None) -> CommentResult:
    """Create or update the comment (`existing`: already looked up). Raises ApiError when it cannot."""
    text = with_markers(body, workflow)
    last: ApiError | None = None
    for attempt in range(MAX_TRIES):
        if existing is None or attempt:
            existing = find(api, repo, number, workflow)
        if existing is not None:
            resp = api.request("PATCH", f"/repos/{repo}/issues/comments/{int(existing['id'])}", json={"body": text})
            return CommentResult(action="updated", url=_url(resp.json()))
        try:
            resp = api.request("POST", f"/repos/{repo}/issues/{number}/comments", json={"body": text})
        except ApiError as exc:
            if not exc.retryable:
                raise
            last = exc  # it may have been created: look again before posting again
            continue
        return CommentResult(action="created", url=_url(resp.json()))
    raise last or ApiError("could not create the comment")


def _url(data: Any) -> str | None:
    return data.get("html_url") if isinstance(data, dict) else None
