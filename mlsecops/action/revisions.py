"""Which commits to compare, decided from the event (or the base-ref/head-ref inputs).

pull_request and pull_request_target compare the PR's `base.sha...head.sha`
(three dots: what the PR adds since it forked, not what the base branch did
since); merge_group compares the queue entry with its base; push compares
`before...after`. A push that created a branch has an all-zero `before`: there
is nothing to compare with, so the whole tree is scanned, as it is for any
other event (schedule, workflow_dispatch, release).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel

from mlsecops.action.inputs import ActionInputs
from mlsecops.action.runtime import Event

PR_EVENTS = frozenset({"pull_request", "pull_request_target"})
_ZERO = re.compile(r"^0+$")


class Revisions(BaseModel):
    base: str | None = None
    head: str | None = None
    pr_number: int | None = None
    reason: str
    files_api: Literal["pull", "compare"] | None = None
    """Which REST endpoint can list the changed files if the history is too shallow."""


def _is_sha(value: str | None) -> bool:
    return bool(value) and not _ZERO.match(value or "")


def choose(inputs: ActionInputs, event_name: str, event: Event) -> Revisions:
    pr_number = event.pull_request.number if event_name in PR_EVENTS and event.pull_request else None
    if inputs.base_ref:
        head = inputs.head_ref or _event_head(event_name, event)
        return Revisions(base=inputs.base_ref, head=head, pr_number=pr_number,
                         reason=f"diff {inputs.base_ref}...{head or 'HEAD'} (base-ref input)")
    if event_name in PR_EVENTS and event.pull_request:
        pr = event.pull_request
        return Revisions(base=pr.base.sha, head=inputs.head_ref or pr.head.sha, pr_number=pr.number,
                         reason=f"pull request #{pr.number}: diff {pr.base.sha[:12]}...{pr.head.sha[:12]}",
                         files_api="pull")
    if event_name == "merge_group" and event.merge_group:
        mg = event.merge_group
        return Revisions(base=mg.base_sha, head=inputs.head_ref or mg.head_sha,
                         reason=f"merge queue: diff {mg.base_sha[:12]}...{mg.head_sha[:12]}", files_api="compare")
    if event_name == "push":
        if event.deleted or not _is_sha(event.after):
            return Revisions(head=inputs.head_ref, reason="push deleted a ref: scanning the whole tree")
        if not _is_sha(event.before):
            return Revisions(head=inputs.head_ref, reason="push created a branch (no previous commit): scanning the whole tree")
        return Revisions(base=event.before, head=inputs.head_ref or event.after,
                         reason=f"push: diff {event.before[:12]}...{(event.after or '')[:12]}", files_api="compare")  # type: ignore[index]
    return Revisions(head=inputs.head_ref,
                     reason=f"{event_name or 'no'} event: scanning the whole tree")


def _event_head(event_name: str, event: Event) -> str | None:
    if event_name in PR_EVENTS and event.pull_request:
        return event.pull_request.head.sha
    if event_name == "push" and _is_sha(event.after):
        return event.after
    return None
