"""Run the gate as a GitHub Action step: runner environment in; reports, outputs and exit code out.

The order matters for safety. The token is taken out of the environment first
(no child process inherits it) and masked; stdout and stderr are wrapped so no
later text can show it or act as a workflow command. Workflow commands are
stopped while the scan runs and resumed only to send our own annotations. The
exit code is the verdict's (0 pass, 1 fail, 2 error); the PR comment and the
job summary are best effort and never change it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import TextIO

from mlsecops.action import changed_files, commands, comment, gitenv, history, inputs, outputs, revisions, runtime
from mlsecops.action.api import ApiError, GitHubApi
from mlsecops.action.inputs import ActionInputs, InputError
from mlsecops.action.redact import LogStream, Redactor
from mlsecops.changes import git
from mlsecops.changes.artifact import ChangesetError
from mlsecops.changes.filelist import ChangedFile
from mlsecops.cli import EXIT_ERROR, clear_stale_outputs, default_cache_dir, progress_printer, write_reports
from mlsecops.context import Context, Outputs
from mlsecops.findings import Stage
from mlsecops.pipeline import scan
from mlsecops.policy import PolicyError
from mlsecops.policy import source as policy_source
from mlsecops.reporters import comment_view, console, escape, github, json_report, markdown
from mlsecops.stages.models.spawn import WorkerStarter
from mlsecops.verdict import Verdict

TOKEN_INPUT = inputs.env_name("github-token")


class Step:
    """What one run of the step shares: the log, the redactor, the runtime, the inputs."""

    def __init__(self, env: MutableMapping[str, str], rt: runtime.Runtime, log: LogStream, redact: Redactor,
                 token: str | None) -> None:
        self.env = env
        self.rt = rt
        self.log = log
        self.redact = redact
        self.token = token
        self.pr_number: int | None = None

    def say(self, text: str) -> None:
        self.log.write(f"mlsecops: {text}\n")
        self.log.flush()

    def warn(self, text: str) -> None:
        if self.rt.actions:
            commands.message(self.log, "warning", text)
        else:
            self.say(f"warning: {text}")

    def api(self) -> GitHubApi | None:
        """A client for the REST API; all its retries share MLSECOPS_API_TIMEOUT seconds (default 90)."""
        if not self.token:
            return None
        try:
            deadline = float(self.env.get("MLSECOPS_API_TIMEOUT") or 90)
        except ValueError:
            deadline = 90.0
        return GitHubApi(self.rt.api_url, self.token, self.redact, deadline_seconds=deadline, log=self.say)


_RUNNER_SECRETS = ("ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL",
                   "ACTIONS_CACHE_URL", "ACTIONS_RESULTS_URL", "ACTIONS_RUNTIME_URL")


def take_token(env: MutableMapping[str, str]) -> str | None:
    """Remove the token from the environment (children never see it) and return it.
    The runner's own credentials (cache, OIDC, artifacts) are dropped too: the gate needs none."""
    token = (env.pop(TOKEN_INPUT, None) or "").strip()
    fallback = (env.pop("GITHUB_TOKEN", None) or "").strip()
    for name in _RUNNER_SECRETS:
        env.pop(name, None)
    return token or fallback or None


def run(env: MutableMapping[str, str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    env = os.environ if env is None else env
    raw_out, raw_err = stdout or sys.stdout, stderr or sys.stderr
    token = take_token(env)
    rt = runtime.read(env)
    redact = Redactor(token)
    if rt.actions and token:
        commands.add_mask(raw_out, token)
    log_out, log_err = LogStream(raw_out, redact), LogStream(raw_err, redact)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = log_out, log_err  # type: ignore[assignment]
    step = Step(env, rt, log_out, redact, token)
    try:
        return _run(step)
    except Exception as exc:  # noqa: BLE001 - a crash must still end as a readable error, exit 2
        if env.get("MLSECOPS_DEBUG"):
            traceback.print_exc(file=log_err)
        commands.message(log_out, "error", f"mlsecops failed: {type(exc).__name__}: {exc}")
        return EXIT_ERROR
    finally:
        log_out.flush()
        log_err.flush()
        sys.stdout, sys.stderr = saved


def _config_error(step: Step, text: str) -> int:
    commands.message(step.log, "error", text, title="mlsecops configuration error")
    if step.rt.output_file:
        try:
            outputs.write_outputs(step.rt.output_file, {"verdict": "error", "findings": "0", "blocking": "0", "sarif-file": ""})
        except outputs.OutputError as exc:
            step.say(str(exc))
    if step.rt.summary_file:
        try:
            outputs.append_summary(step.rt.summary_file, f"## ⚠️ mlsecops could not run\n\n```\n{step.redact(text)[:4000]}\n```\n")
        except outputs.OutputError as exc:
            step.say(str(exc))
    return EXIT_ERROR


def _run(step: Step) -> int:
    try:
        args = inputs.read(step.env)
    except InputError as exc:
        return _config_error(step, str(exc))
    workspace = step.rt.workspace.absolute()
    # The SARIF path is in the PR's own workspace: a file committed there must not survive a run
    # that stops early and then be uploaded as if it were this run's result.
    clear_stale_outputs([str(_under(workspace, args.sarif_file)),
                         str(_under(workspace, args.comment_file)) if args.comment_file else None])
    with tempfile.TemporaryDirectory(prefix="mlsecops-") as tmp, WorkerStarter(Path(tmp) / "models") as workers:
        if Stage.models in args.stages:
            workers.prestart()  # it imports the engines while git fetches the history
        return _scan(step, args, Path(tmp), workers)


def _scan(step: Step, args: ActionInputs, tmp: Path, workers: WorkerStarter) -> int:
    workspace = step.rt.workspace.absolute()
    root = _under(workspace, args.path)
    gitenv.add_safe_directories(step.env, gitenv.trusted_dirs(root, workspace))
    event, note = runtime.load_event(step.rt.event_path)
    if note:
        step.warn(note)
    revs = revisions.choose(args, step.rt.event_name, event)
    step.pr_number = revs.pr_number
    step.say(revs.reason)
    base, head, files = _prepare_history(step, args, revs, root, event)
    try:
        resolved = policy_source.resolve(root, _policy_arg(workspace, args.policy), base, head)
    except PolicyError as exc:
        return _config_error(step, f"invalid policy\n{exc}")
    if files is not None:
        resolved = _guard_listed_policy(step, args, resolved, root, files, base)
    sarif_path = _under(workspace, args.sarif_file)
    context = Context(
        root=root, base=base, head=head, changed_files=files,
        policy=resolved.policy, policy_source=resolved.source, policy_findings=resolved.findings,
        stages=args.stages, fuzz_budget=args.fuzz_budget,
        advisory_db=_under(workspace, args.advisory_db) if args.advisory_db else None,
        outputs=Outputs(sarif=sarif_path, sarif_category=args.sarif_category), workdir=tmp, cache_dir=default_cache_dir(),
        report_url=step.rt.run_url, progress=progress_printer(False), workers=workers,
    )
    stop_token = commands.stop(step.log) if step.rt.actions else None
    try:
        verdict, _ = scan(context)
        console.write(verdict, step.log)
        problems = write_reports(verdict, context, args.policy)
    except ChangesetError as exc:
        verdict, problems = None, [str(exc)]
    finally:
        if stop_token:
            commands.resume(step.log, stop_token)
    if verdict is None:
        return _config_error(step, problems[0])
    _scrub_file(step, sarif_path)
    return _report(step, args, verdict, problems)


def _report(step: Step, args: ActionInputs, verdict: Verdict, problems: list[str]) -> int:
    for p in problems:
        commands.message(step.log, "error", p)
    if step.rt.actions:
        for line in github.annotations(verdict, reserved_warnings=1):
            step.log.command(line)
    def body(resolved: bool) -> str:
        text = markdown.render(verdict, "comment.md.j2", limit=markdown.COMMENT_LIMIT - 200, report_url=step.rt.run_url,
                               policy_arg=args.policy, repo_url=_repo_url(step), resolved=resolved)
        return comment.with_markers(step.redact(text), step.rt.workflow)

    if args.comment_file:
        # A .json comment file is the JSON report: what the fork-safe posting workflow renders from.
        data = (json.dumps(escape.unicode_safe(json_report.render(verdict)), ensure_ascii=False)
                if args.comment_file.endswith(".json") else body(False))
        _write_text(step, _under(step.rt.workspace.absolute(), args.comment_file), step.redact(data))
    comment_note = _post_comment(step, args, body, comment_view.scanned(verdict))
    exit_code = verdict.exit_code if not problems else EXIT_ERROR
    if step.rt.output_file:
        try:
            outputs.write_outputs(step.rt.output_file, github.outputs(verdict, args.sarif_file if not problems else ""))
        except outputs.OutputError as exc:
            commands.message(step.log, "error", str(exc))
            exit_code = EXIT_ERROR
    if step.rt.summary_file:
        _write_summary(step, args, verdict, comment_note)
    step.say(f"verdict {verdict.verdict}: exit code {exit_code}")
    return exit_code


def _repo_url(step: Step) -> str | None:
    return f"{step.rt.server_url.rstrip('/')}/{step.rt.repository}" if step.rt.repository else None


def _post_comment(step: Step, args: ActionInputs, body: Callable[[bool], str], scanned: bool) -> str | None:
    """Post or update the PR comment; return a note for the summary when that was not possible."""
    revs_pr = step.pr_number
    if not args.comment or revs_pr is None:
        return None
    api = step.api()
    if api is None or not step.rt.repository:
        note = "no token or repository is available, so the PR comment was not posted; the report is in this summary"
        step.warn(note)
        return note
    try:
        result = comment.sync(api, step.rt.repository, revs_pr, step.rt.workflow, body, scanned)
    except ApiError as exc:
        hint = (" (a pull request from a fork gets a read-only token: see the fork-safe workflow in docs/action.md)"
                if exc.status in (403, 404) else "")
        note = f"could not post the PR comment: {exc}{hint}; the report is in the job summary"
        step.warn(note)
        return note
    step.say(f"PR comment {result.action}" + (f": {result.url}" if result.url else "") + (f" ({result.reason})" if result.reason else ""))
    return None


def _write_summary(step: Step, args: ActionInputs, verdict: Verdict, note: str | None) -> None:
    path = step.rt.summary_file
    assert path is not None
    extra = f"\n> [!WARNING]\n> {escape.md(note, 600)}\n" if note else ""
    budget = outputs.summary_budget(path) - len(extra.encode("utf-8"))
    if budget <= 0:
        step.warn("the job summary is full (GitHub allows 1 MiB per step); the report was not added to it")
        return
    text = outputs.fit(lambda limit: markdown.render(verdict, "summary.md.j2", limit=limit,
                                                     report_url=step.rt.run_url, policy_arg=args.policy), budget)
    try:
        outputs.append_summary(path, step.redact(text) + extra)
    except outputs.OutputError as exc:
        step.warn(str(exc))


def _prepare_history(step: Step, args: ActionInputs, revs: revisions.Revisions, root: Path,
                     event: runtime.Event) -> tuple[str | None, str | None, list[ChangedFile] | None]:
    """(base, head, changed files from the API or None): what the changeset is built from."""
    if not revs.base:
        return None, revs.head, None
    top = git.toplevel(root)
    if top is None:
        step.warn(f"{root} is not a git work tree, so there is nothing to diff; scanning the whole folder")
        return None, None, None
    head = revs.head or "HEAD"
    depth = (event.pull_request.commits or 0) + 10 if event.pull_request else None
    if history.ensure(top, revs.base, head, step.say, first_depth=depth):
        return revs.base, revs.head, None
    api = step.api()
    if revs.files_api and api is not None and step.rt.repository:
        try:
            files, complete = changed_files.listed(api, step.rt.repository, revs.files_api, revs.pr_number, revs.base, head)
        except ApiError as exc:
            step.warn(f"the history is too shallow to diff and the changed-files API failed ({exc}); scanning the whole tree")
            return None, None, None
        if not complete:
            step.warn("the API lists only part of the changed files; scanning the whole tree (use fetch-depth: 0 to diff)")
            return None, None, None
        step.warn(f"the history is too shallow to diff {revs.base[:12]}...{head[:12]}; scanning the {len(files)} changed "
                  "file(s) the GitHub API lists, as checked out (use fetch-depth: 0 to diff exactly)")
        return revs.base, revs.head, files
    step.warn(f"cannot diff {revs.base[:12]}...{head[:12]} (history too shallow, no API fallback); scanning the whole tree")
    return None, None, None


def _guard_listed_policy(step: Step, args: ActionInputs, resolved: policy_source.ResolvedPolicy, root: Path,
                         files: list[ChangedFile], base: str | None) -> policy_source.ResolvedPolicy:
    """Without a diff, the API's file list still says whether the PR edits the policy file; if git
    cannot show the base version, the shipped default applies (a PR must not loosen its own gate)."""
    if args.policy or resolved.findings:
        return resolved  # an explicit policy, or resolve() already compared with the base commit
    top = git.toplevel(root)
    if top is None or (base and history.has_commit(top, base)):
        return resolved
    rel = root.resolve().relative_to(top.resolve()).as_posix()
    policy_path = policy_source.REPO_POLICY if rel == "." else f"{rel}/{policy_source.REPO_POLICY}"
    if not any(policy_path in (f.path, f.old_path) for f in files):
        return resolved
    step.warn("the pull request changes the policy file and its base version cannot be read; the shipped default policy applies")
    default = policy_source.resolve(root, "default", None, None)
    default.findings.extend(policy_source.change_findings(
        default.policy, policy_source.REPO_POLICY, "its base version could not be read, so the shipped default applies"))
    return default


def _scrub_file(step: Step, path: Path) -> None:
    """Reports are built from repository content only, but a secret must not leave even by accident."""
    try:
        data = path.read_bytes()
    except OSError:
        return
    clean = step.redact.bytes(data)
    if clean != data:
        path.write_bytes(clean)


def _write_text(step: Step, path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        step.warn(f"cannot write {path}: {exc.strerror or exc}")


def _policy_arg(workspace: Path, policy: str | None) -> str | None:
    """A policy file relative to the workspace, or a shipped name as given."""
    if policy and _under(workspace, policy).exists():
        return str(_under(workspace, policy))
    return policy


def _under(workspace: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else workspace / path
