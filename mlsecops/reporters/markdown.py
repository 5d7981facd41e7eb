"""The PR comment and the job summary, rendered with jinja2 from `templates/`.

The comment starts with a hidden marker so the Action finds and updates one
comment per PR. It must fit GitHub's 65,536-character limit: when the full
render is too long, detail tables are shortened step by step and a link to the
full report is added.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from mlsecops import __version__, install
from mlsecops.files import atomic_write
from mlsecops.reporters import escape
from mlsecops.verdict import Status, Verdict

MARKER = "<!-- mlsecops:comment -->"
COMMENT_LIMIT = 65_536
_ROW_STEPS = (200, 100, 50, 20, 10, 5, 0)


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mlsecops", "templates"),
        autoescape=False,  # Markdown, not HTML: every untrusted value goes through a filter
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = escape.md
    env.filters["code"] = escape.code
    env.filters["plain"] = escape.plain
    return env


def _reproduce(verdict: Verdict, policy_arg: str | None) -> str:
    """The shell block that reruns this scan locally, with commands that work today (install.py)."""
    cmd = ["scan", "."]
    if verdict.mode == "diff" and verdict.base:
        cmd += ["--base", verdict.base[:12]]
        if verdict.head:
            cmd += ["--head", verdict.head[:12]]
    if policy_arg:
        cmd += ["--policy", policy_arg]
    return install.for_version().reproduce(cmd)


def _context(verdict: Verdict, max_rows: int, report_url: str | None, policy_arg: str | None) -> dict:
    by_status = {s: [f for f in verdict.findings if f.status == s] for s in Status}
    truncated = any(len(v) > max_rows for v in by_status.values())
    return {
        "marker": MARKER,
        "v": verdict,
        "blocking": by_status[Status.blocking],
        "advisory": by_status[Status.advisory],
        "waived": by_status[Status.waived],
        "max_rows": max_rows,
        "truncated": truncated,
        "report_url": report_url,
        "reproduce": _reproduce(verdict, policy_arg),
        "version": __version__,
        "stage_names": list(verdict.stages),
    }


def render(
    verdict: Verdict,
    template: str = "comment.md.j2",
    limit: int = COMMENT_LIMIT,
    report_url: str | None = None,
    policy_arg: str | None = None,
) -> str:
    """Render, shrinking detail tables until the text fits `limit` characters."""
    tmpl = environment().get_template(template)
    text = ""
    for rows in _ROW_STEPS:
        text = tmpl.render(**_context(verdict, rows, report_url, policy_arg))
        if len(text) <= limit:
            return text
    return text[: limit - 200] + "\n\n… (truncated: the report is too long for a comment)\n"


def write(verdict: Verdict, path: Path, report_url: str | None = None, policy_arg: str | None = None) -> None:
    atomic_write(path, str(escape.unicode_safe(render(verdict, report_url=report_url, policy_arg=policy_arg))))
