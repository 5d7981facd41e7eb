"""Adversarial, end to end: a fork cannot make the bot say "pass", nor write the bot's comment.

The posting workflow (examples/workflows/mlsecops-fork-comment.yml) is run the way GitHub runs
it, against a fake GitHub API: the artifact is "downloaded" into the workspace, then each later
step runs as written: a `docker://…mlsecops…` step as its entrypoint and args (the gate's own
code), an `actions/github-script` step as its script under Node with the Octokit calls it makes
mapped onto the same API. The fork controls the whole artifact (and the scan workflow at its
head); the scan run failed. Attacks: a report and a body that say "passed"; HTML, links and
mentions in finding messages; a forged marker aimed at the trusted gate's own comment; a PR
that edits the scan workflow to make its run succeed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlsecops.reporters import json_report
from mlsecops.reporters.markdown import MARKER
from tests.action.action_support import TOKEN, ApiServer, FakeGitHub
from tests.conftest import ROOT
from tests.rendering import github_render, untrusted_links

WORKFLOW = ROOT / "examples" / "workflows" / "mlsecops-fork-comment.yml"
REPO = "octo/models"
HEAD = "c" * 40
RUN_ID = 4242
PR = 7
GATE_COMMENT = MARKER + "\n<!-- mlsecops:workflow mlsecops gate -->\n<!-- mlsecops:state fail -->\n## ❌ blocked by the trusted gate\n"
FORGED_PASS = "✅ mlsecops: passed, nothing blocks this merge"
INJECT = ('<img src=x onerror=alert(1)> [urgent: approve](https://evil.example/phish) @octo/maintainers '
          '\n<!-- mlsecops:comment -->\n<!-- mlsecops:workflow mlsecops gate --> ✅ passed')

SHIM = r"""
const fs = require('fs');
const api = process.env.FAKE_API, token = process.env.FAKE_TOKEN;
async function call(method, path, body) {
  const r = await fetch(api + path, {method, headers: {authorization: 'Bearer ' + token, 'content-type': 'application/json'},
                                     body: body ? JSON.stringify(body) : undefined});
  return {data: await r.json()};
}
const [owner, repo] = process.env.GITHUB_REPOSITORY.split('/');
const context = {repo: {owner, repo}};
const failures = [];
const core = {setFailed: (m) => { failures.push(m); console.error('setFailed: ' + m); }};
const github = {
  rest: {
    pulls: {get: (p) => call('GET', `/repos/${p.owner}/${p.repo}/pulls/${p.pull_number}`)},
    issues: {
      listComments: (p) => call('GET', `/repos/${p.owner}/${p.repo}/issues/${p.issue_number}/comments?per_page=100`),
      updateComment: (p) => call('PATCH', `/repos/${p.owner}/${p.repo}/issues/comments/${p.comment_id}`, {body: p.body}),
      createComment: (p) => call('POST', `/repos/${p.owner}/${p.repo}/issues/${p.issue_number}/comments`, {body: p.body}),
    },
  },
  paginate: async (fn, p) => { let all = [], page = 1; for (;;) { const path_p = {...p};
      const r = await call('GET', `/repos/${p.owner}/${p.repo}/issues/${p.issue_number}/comments?per_page=100&page=${page}`);
      all = all.concat(r.data); if (r.data.length === 0 || page > 50) return all; page++; } },
};
const script = fs.readFileSync(process.argv[2], 'utf8');
(async () => { await (new Function('require', 'github', 'context', 'core', 'process',
  'return (async () => {' + script + '})();'))(require, github, context, core, process);
  process.exit(failures.length ? 1 : 0); })().catch((e) => { console.error(e); process.exit(1); });
"""


def _expr(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{\{\s*([^}]+?)\s*\}\}", lambda m: values.get(m.group(1), ""), str(text))


def run_posting_workflow(gh: FakeGitHub, workspace: Path, artifact: Path, event: dict[str, Any]) -> list[str]:
    """Run the comment job's steps as GitHub would; return each step's outcome line."""
    doc = yaml.safe_load(WORKFLOW.read_text())
    event_path = workspace.parent / "event.json"
    event_path.write_text(json.dumps(event))
    values = {"github.token": TOKEN, "github.event.workflow_run.id": str(RUN_ID), "runner.temp": str(workspace.parent),
              "github.event.workflow_run.head_sha": event["workflow_run"]["head_sha"]}
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))},
           "GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": gh.url, "GITHUB_SERVER_URL": "https://github.com",
           "GITHUB_EVENT_PATH": str(event_path), "GITHUB_WORKSPACE": str(workspace), "GITHUB_EVENT_NAME": "workflow_run"}
    outcomes = []
    for step in doc["jobs"]["comment"]["steps"]:
        uses, with_ = step.get("uses", ""), {k: _expr(v, values) for k, v in (step.get("with") or {}).items()}
        step_env = {**env, **{k: _expr(v, values) for k, v in (step.get("env") or {}).items()}}
        if uses.startswith("actions/download-artifact@"):
            dest = Path(with_["path"])
            shutil.copytree(artifact, dest if dest.is_absolute() else workspace / dest)
            outcomes.append("downloaded")
        elif uses.startswith("docker://") and "mlsecops" in uses:
            args = shlex.split(with_["args"])
            assert with_["entrypoint"].endswith("/python") and args[0] == "-m"
            proc = subprocess.run([sys.executable, *args], cwd=workspace, env=step_env, capture_output=True, text=True,
                                  timeout=120)
            outcomes.append(f"mlsecops exit {proc.returncode}: {proc.stdout.strip()} {proc.stderr.strip()}")
        elif uses.startswith("actions/github-script@"):
            if shutil.which("node") is None:
                pytest.skip("node is not installed: cannot run the github-script step")
            script = workspace.parent / "script.js"
            script.write_text(with_["script"])
            shim = workspace.parent / "shim.js"
            shim.write_text(SHIM)
            proc = subprocess.run(["node", str(shim), str(script)], cwd=workspace, capture_output=True, text=True, timeout=60,
                                  env={**step_env, "FAKE_API": gh.url, "FAKE_TOKEN": TOKEN})
            outcomes.append(f"github-script exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
        else:
            raise AssertionError(f"a step this harness does not know: {step}")
    return outcomes


def forged_artifact(root: Path) -> Path:
    """What a fork uploads: a report and a body that say "passed", with hostile text inside."""
    from tests.test_reports import verdict

    art = root / "artifact"
    art.mkdir()
    v = verdict()
    v.verdict = "pass"  # the forgery
    v.head = HEAD
    for f in v.findings:
        f.message = INJECT
    report = json_report.render(v)
    report["summary"]["blocking"] = 0
    (art / "report.json").write_text(json.dumps(report))
    (art / "body.md").write_text(f"{MARKER}\n<!-- mlsecops:workflow mlsecops gate -->\n## {FORGED_PASS}\n{INJECT}\n")
    (art / "pr-number").write_text(f"{PR}\n")
    return art


def github(conclusion: str, files: list[str] | None = None) -> FakeGitHub:
    gh = FakeGitHub(page_size=100)
    gh.add_comment(GATE_COMMENT, user="github-actions[bot]", kind="Bot")  # the trusted pull_request gate's comment
    gh.routes[f"/repos/{REPO}/actions/runs/{RUN_ID}"] = {
        "id": RUN_ID, "name": "mlsecops fork-safe scan", "event": "pull_request", "head_sha": HEAD,
        "conclusion": conclusion, "html_url": f"https://github.com/{REPO}/actions/runs/{RUN_ID}",
        "path": ".github/workflows/mlsecops-fork-scan.yml"}
    gh.routes[f"/repos/{REPO}/pulls/{PR}"] = {"number": PR, "head": {"sha": HEAD}}
    gh.pr_files = [{"filename": f} for f in (files or ["models/model.pkl"])]
    return gh


def _event(conclusion: str) -> dict[str, Any]:
    return {"workflow_run": {"id": RUN_ID, "name": "mlsecops fork-safe scan", "event": "pull_request", "head_sha": HEAD,
                             "conclusion": conclusion, "pull_requests": []}}


def _bot_comments(gh: FakeGitHub) -> list[str]:
    return [c["body"] for c in gh.comments if c["user"]["type"] == "Bot"]


def test_a_fork_cannot_forge_pass_inject_content_or_hijack_a_comment(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    with ApiServer(github("failure")) as gh:
        outcomes = run_posting_workflow(gh, workspace, forged_artifact(tmp_path), _event("failure"))
        bodies = _bot_comments(gh)
    assert bodies[0] == GATE_COMMENT, "the trusted gate's comment was overwritten through a forged marker"
    assert len(bodies) == 2, (outcomes, bodies)
    posted = bodies[1]
    lines = posted.splitlines()
    assert lines[:2] == [MARKER, "<!-- mlsecops:workflow mlsecops fork-safe scan -->"], lines[:3]
    assert posted.count("<!-- mlsecops:") == 3  # marker, workflow, state: none from the artifact
    render = github_render()
    seen = render.text_of(posted)
    assert FORGED_PASS not in seen and "passed, nothing blocks" not in seen, seen[:300]
    assert seen.startswith("❌ mlsecops: blocked"), seen[:200]
    html = render.to_html(posted)
    assert not untrusted_links(html, f"https://github.com/{REPO}/"), untrusted_links(html)
    assert "<img" not in html and "evil.example" not in " ".join(re.findall(r'href="([^"]*)"', html))
    assert "@octo/maintainers" not in posted  # no live team mention
    assert "the report was not used" in seen


def test_a_pr_that_edits_the_scan_workflow_cannot_pass(tmp_path: Path) -> None:
    """The fork rewrote the scan workflow so that its run succeeds and uploads a clean report."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    with ApiServer(github("success", files=[".github/workflows/mlsecops-fork-scan.yml"])) as gh:
        outcomes = run_posting_workflow(gh, workspace, forged_artifact(tmp_path), _event("success"))
        bodies = _bot_comments(gh)
    assert len(bodies) == 2, outcomes
    seen = github_render().text_of(bodies[1])
    assert not seen.startswith("✅"), seen[:200]
    assert "changes .github/workflows/" in seen


def test_an_honest_report_of_a_failed_run_is_shown_in_full(tmp_path: Path) -> None:
    from tests.test_reports import verdict

    art = tmp_path / "artifact"
    art.mkdir()
    v = verdict()
    v.head = HEAD
    (art / "report.json").write_text(json.dumps(json_report.render(v)))
    (art / "pr-number").write_text(f"{PR}\n")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    with ApiServer(github("failure")) as gh:
        outcomes = run_posting_workflow(gh, workspace, art, _event("failure"))
        bodies = _bot_comments(gh)
    assert len(bodies) == 2, outcomes
    seen = github_render().text_of(bodies[1])
    assert seen.startswith("❌ mlsecops: blocked, fix 1 model file and 2 dependencies"), seen[:200]
    assert "jinja2==2.10.1" in seen and "WARNING" not in bodies[1]
