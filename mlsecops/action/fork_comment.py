"""Post the PR comment for a pull request from a fork, from a `workflow_run` workflow, trusting
nothing the pull request could have written.

The scan ran on the fork's code with a read-only token (examples/workflows/mlsecops-fork-scan.yml)
and uploaded an artifact: `report.json` (the Action's `comment-file` as JSON) and `pr-number`.
A fork controls that artifact, and even the scan workflow's file at its head. So here:

- the verdict comes from the scan run's conclusion, read through the API (`GET
  /repos/{repo}/actions/runs/{id}`), never from the artifact: a report that says "pass" for
  a run that failed is refused and the comment says the run failed;
- a pull request that edits `.github/workflows/` cannot get "pass" at all: the run that
  judged it was defined by the pull request itself;
- the PR number must name the pull request whose head is the run's head commit;
- the report must validate against its schema (`schemas/mlsecops-report.schema.json`, the
  pydantic model `Report`), size-capped; anything else is not rendered;
- the comment is rendered here, by the gate's own templates, which escape every value from
  the report (no HTML, link, mention or marker from the artifact survives), and it goes to
  the one comment that carries the scan workflow's marker and was written by a bot.

    python -m mlsecops.action.fork_comment ARTIFACT_DIR

Reads GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL, GITHUB_SERVER_URL and the
workflow_run event (GITHUB_EVENT_PATH). Exit 0 when the comment was posted or skipped on
purpose, 2 when it could not be (the message says why).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from mlsecops.action import comment
from mlsecops.action.api import ApiError, GitHubApi
from mlsecops.action.redact import Redactor
from mlsecops.reporters import comment_view, markdown
from mlsecops.reporters.report_model import Report
from mlsecops.verdict import Verdict

MAX_REPORT_BYTES = 8 * 1024 * 1024
_NUMBER = re.compile(r"[0-9]{1,10}")
_SHA = re.compile(r"[0-9a-f]{40}")


class FailedPost(Exception):
    """The comment cannot be posted; the message says why."""


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class WorkflowRun(_Loose):
    id: int
    name: str = "mlsecops"
    event: str = ""
    head_sha: str = ""
    conclusion: str | None = None
    html_url: str | None = None
    path: str = ""


class Decision(BaseModel):
    """What the comment will say, and why: the verdict comes from the run, the details from the report."""

    verdict: Literal["pass", "fail", "error"]
    report: Report | None = None
    notice: str = ""


def conclusion_verdict(conclusion: str | None) -> Literal["pass", "fail", "error"]:
    if conclusion == "success":
        return "pass"
    if conclusion == "failure":
        return "fail"
    return "error"  # cancelled, timed_out, action_required, neutral, skipped, stale, startup_failure, None


def read_report(folder: Path) -> tuple[Report | None, str]:
    """The artifact's report, validated against the schema; or None and the reason."""
    path = folder / "report.json"
    try:
        if path.is_symlink() or not path.is_file():
            return None, "the artifact has no report.json"
        if path.stat().st_size > MAX_REPORT_BYTES:
            return None, f"the artifact's report is larger than {MAX_REPORT_BYTES >> 20} MiB"
        data = json.loads(path.read_bytes())
        return Report.model_validate(data), ""
    except (OSError, ValueError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        where = ".".join(str(p) for p in first["loc"]) if first else ""
        return None, f"the artifact's report does not match the report schema ({where or type(exc).__name__})"


def decide(run_verdict: Literal["pass", "fail", "error"], report: Report | None, report_problem: str,
           edits_workflows: bool) -> Decision:
    """The run's conclusion sets the verdict. The report only adds details, and only when it
    agrees with the run; it may make the verdict worse, never better."""
    if edits_workflows and run_verdict == "pass":
        return Decision(verdict="error", notice="This pull request changes .github/workflows/, so the scan that "
                        "judged it ran a workflow the pull request itself defines: its result cannot pass the gate. "
                        "A maintainer has to review the workflow change.")
    if report is None:
        return Decision(verdict=run_verdict if run_verdict != "pass" else "error",
                        notice=f"The scan run's details could not be shown: {report_problem}. The verdict is the "
                        "scan run's own result.")
    if run_verdict != "pass" and report.verdict == "pass":
        return Decision(verdict=run_verdict, notice="The uploaded report says the pull request passed, but the scan "
                        "run did not succeed; the report was not used. See the scan run for what happened.")
    rank = {"pass": 0, "fail": 1, "error": 2}
    worst = max(run_verdict, report.verdict, key=lambda v: rank[v])
    if run_verdict != "pass" and report.verdict != "pass":
        worst = report.verdict  # both say it failed: the report says how
    return Decision(verdict=worst, report=report)


def _verdict(decision: Decision) -> Verdict:
    if decision.report is None:
        return Verdict(verdict=decision.verdict)
    verdict = decision.report.to_verdict()
    verdict.verdict = decision.verdict
    return verdict


def _edits_workflows(api: GitHubApi, repo: str, number: int) -> bool:
    for f in api.paginate(f"/repos/{repo}/pulls/{number}/files"):
        for key in ("filename", "previous_filename"):
            name = f.get(key) if isinstance(f, dict) else None
            if isinstance(name, str) and name.startswith(".github/workflows/"):
                return True
    return False


def post(env: Mapping[str, str], folder: Path) -> comment.CommentResult:
    token = (env.get("GITHUB_TOKEN") or "").strip()
    repo = env.get("GITHUB_REPOSITORY") or ""
    if not token or not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo):
        raise FailedPost("GITHUB_TOKEN and GITHUB_REPOSITORY are needed")
    event = json.loads(Path(env.get("GITHUB_EVENT_PATH") or "").read_text(encoding="utf-8"))
    run_event = WorkflowRun.model_validate(event["workflow_run"])
    if run_event.event != "pull_request":
        return comment.CommentResult(action="skipped", reason=f"the scan ran for a {run_event.event!r} event")
    api = GitHubApi(env.get("GITHUB_API_URL") or "https://api.github.com", token, Redactor(token), deadline_seconds=90)
    run = WorkflowRun.model_validate(api.request("GET", f"/repos/{repo}/actions/runs/{run_event.id}").json())
    if not _SHA.fullmatch(run.head_sha):
        raise FailedPost("the scan run has no head commit")
    number_text = (folder / "pr-number").read_text(encoding="utf-8").strip() if (folder / "pr-number").is_file() else ""
    if not _NUMBER.fullmatch(number_text):
        raise FailedPost("the artifact's pr-number is not a pull request number")
    number = int(number_text)
    pr: Any = api.request("GET", f"/repos/{repo}/pulls/{number}").json()
    if not isinstance(pr, dict) or (pr.get("head") or {}).get("sha") != run.head_sha:
        raise FailedPost(f"pull request #{number} is not the pull request of this run (its head is not {run.head_sha[:12]})")
    report, problem = read_report(folder)
    if report is not None and report.head and report.head != run.head_sha:
        report, problem = None, "the report is for another commit"
    decision = decide(conclusion_verdict(run.conclusion), report, problem, _edits_workflows(api, repo, number))
    verdict = _verdict(decision)
    verdict.head = run.head_sha
    server = (env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")

    def render(resolved: bool) -> str:
        return markdown.render(verdict, "comment.md.j2", limit=markdown.COMMENT_LIMIT - 200, report_url=run.html_url,
                               repo_url=f"{server}/{repo}", resolved=resolved, notice=decision.notice)

    return comment.sync(api, repo, number, run.name, render, comment_view.scanned(verdict) or bool(decision.notice))


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__.split("\n\n")[3], file=sys.stderr)
        return 2
    try:
        result = post(os.environ if env is None else env, Path(args[0]))
    except (FailedPost, ApiError, OSError, ValueError, KeyError) as exc:
        print(f"mlsecops: the PR comment was not posted: {exc}", file=sys.stderr)
        return 2
    print(f"mlsecops: PR comment {result.action}" + (f" ({result.reason})" if result.reason else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
