"""What the runner tells a step: the GITHUB_* variables and the event payload, as pydantic models.

Only the fields the Action uses are modelled; everything else in the payload is
ignored. A missing or unreadable event file is not an error: the Action then
scans the whole tree, as it does for events it has no diff for (schedule,
workflow_dispatch).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

MAX_EVENT_BYTES = 25 * 1024 * 1024


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RepoRef(_Loose):
    full_name: str | None = None
    default_branch: str | None = None
    fork: bool = False


class Commitish(_Loose):
    sha: str
    ref: str | None = None
    repo: RepoRef | None = None


class PullRequest(_Loose):
    number: int
    base: Commitish
    head: Commitish
    commits: int | None = None
    changed_files: int | None = None


class MergeGroup(_Loose):
    base_sha: str
    head_sha: str


class Event(_Loose):
    """The parts of a webhook payload the Action reads (pull_request, push, others)."""

    number: int | None = None
    pull_request: PullRequest | None = None
    merge_group: MergeGroup | None = None
    before: str | None = None
    after: str | None = None
    created: bool = False
    deleted: bool = False
    forced: bool = False
    repository: RepoRef | None = None


class Runtime(_Loose):
    """The GITHUB_* variables a container action receives."""

    actions: bool = False
    workspace: Path = Path(".")
    event_name: str = ""
    event_path: Path | None = None
    repository: str | None = None
    api_url: str = "https://api.github.com"
    server_url: str = "https://github.com"
    run_id: str | None = None
    workflow: str | None = None
    sha: str | None = None
    output_file: Path | None = None
    summary_file: Path | None = None

    @property
    def run_url(self) -> str | None:
        """The run's page: where the full report (SARIF artifact, summary) can be found."""
        if not (self.repository and self.run_id):
            return None
        return f"{self.server_url.rstrip('/')}/{self.repository}/actions/runs/{self.run_id}"


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def read(env: Mapping[str, str]) -> Runtime:
    return Runtime(
        actions=env.get("GITHUB_ACTIONS", "").lower() == "true",
        workspace=Path(env.get("GITHUB_WORKSPACE") or "."),
        event_name=env.get("GITHUB_EVENT_NAME", ""),
        event_path=_path(env.get("GITHUB_EVENT_PATH")),
        repository=env.get("GITHUB_REPOSITORY") or None,
        api_url=env.get("GITHUB_API_URL") or "https://api.github.com",
        server_url=env.get("GITHUB_SERVER_URL") or "https://github.com",
        run_id=env.get("GITHUB_RUN_ID") or None,
        workflow=env.get("GITHUB_WORKFLOW") or None,
        sha=env.get("GITHUB_SHA") or None,
        output_file=_path(env.get("GITHUB_OUTPUT")),
        summary_file=_path(env.get("GITHUB_STEP_SUMMARY")),
    )


def load_event(path: Path | None) -> tuple[Event, str | None]:
    """The event payload, and a note when it could not be read (the Action goes on without it)."""
    if path is None:
        return Event(), None
    try:
        if path.stat().st_size > MAX_EVENT_BYTES:
            return Event(), f"the event file {path} is larger than {MAX_EVENT_BYTES} bytes; ignored"
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return Event(), f"cannot read the event file {path}: {getattr(exc, 'strerror', None) or exc}"
    if not isinstance(data, dict):
        return Event(), f"the event file {path} does not hold a JSON object; ignored"
    try:
        return Event.model_validate(data), None
    except ValidationError as exc:
        return Event(), f"the event payload has an unexpected shape ({exc.errors()[0]['msg']}); ignored"
