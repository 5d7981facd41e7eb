"""The PR comment and the job summary, rendered with jinja2 from `templates/`.

The comment starts with a hidden marker so the Action finds and updates one comment per
PR, and a hidden state line (`<!-- mlsecops:state fail -->`) so a later run knows what the
earlier one said (a comment that said "blocked" turns into "resolved"). What goes where is
decided in `comment_view`; the templates lay it out. It must fit GitHub's 65,536-character
limit and stay readable for a large scan: every list shows its first rows (10 by default)
with a link to the full report, and when the text is still too long the lists shrink step
by step.
"""

from __future__ import annotations

import re
from pathlib import Path

import jinja2

from mlsecops import __version__, install
from mlsecops.files import atomic_write
from mlsecops.reporters import comment_view, escape, links
from mlsecops.verdict import Status, Verdict

MARKER = "<!-- mlsecops:comment -->"
STATE = re.compile(r"^<!-- mlsecops:state (pass|fail|error|resolved) -->$", re.MULTILINE)
COMMENT_LIMIT = 65_536
DEFAULT_ROWS = 10
_ROW_STEPS = (10, 5, 3, 1, 0)


def state_marker(state: str) -> str:
    return f"<!-- mlsecops:state {state} -->"


def previous_state(body: str) -> str | None:
    """The state an earlier comment of ours recorded (None when it has none)."""
    m = STATE.search(body or "")
    return m.group(1) if m else None


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
    env.filters["url"] = links.markdown_url
    return env


def scan_args(verdict: Verdict, policy_arg: str | None) -> list[str]:
    args = ["."]
    if verdict.mode == "diff" and verdict.base:
        args += ["--base", verdict.base[:12]]
        if verdict.head:
            args += ["--head", verdict.head[:12]]
    if policy_arg:
        args += ["--policy", policy_arg]
    return args


def _checked(verdict: Verdict) -> str:
    """What the run looked at, in a few words: 'checked 1 manifest, 4 model files, 2 fuzz targets (8 s)'."""
    parts = []
    for name, st in verdict.stages.items():
        key = {"fuzz": "targets", "gate": "policy_changes"}.get(name, "artifacts")
        n = int(st.get(key, st.get("models", 0)) or 0)
        if name == "gate" and not n:
            continue  # the gate always reports; it checked something only when the policy changed
        what = {"deps": ("manifest", "manifests"), "models": ("model file", "model files"),
                "fuzz": ("fuzz target", "fuzz targets"),
                "assess": ("assessed model", "assessed models"),
                "gate": ("policy change", "policy changes")}.get(name, (f"{name} item", f"{name} items"))
        parts.append(f"{n} {what[0] if n == 1 else what[1]}")
    seconds = sum(float(st.get("seconds", 0)) for st in verdict.stages.values())
    text = "checked " + (", ".join(parts) if parts else "nothing") + f" in {seconds:.0f} s"
    if verdict.mode == "diff" and verdict.base:
        text += f", changes {verdict.base[:7]}…{(verdict.head or 'HEAD')[:7]}"
    return text


def _context(verdict: Verdict, max_rows: int, report_url: str | None, policy_arg: str | None,
             files: links.FileLinks, resolved: bool) -> dict:
    by_status = {s: [f for f in verdict.findings if f.status == s] for s in Status}
    view = comment_view.blocking(verdict, files, max_rows)
    sections = comment_view.nonblocking(verdict, files, max_rows)
    groups = [view.models, view.deps, view.behaviour, view.other, *sections.values()]
    truncated = (any(g.total > len(g.rows) for g in groups) or len(by_status[Status.waived]) > max_rows
                 or len(verdict.errors) > max(max_rows, 5))
    state = "resolved" if resolved and verdict.verdict == "pass" else verdict.verdict
    return {
        "marker": MARKER,
        "state_marker": state_marker(state),
        "v": verdict,
        "view": view,
        "sections": sections,
        "resolved": resolved,
        "blocking": by_status[Status.blocking],
        "advisory": by_status[Status.advisory],
        "waived": by_status[Status.waived],
        "max_rows": max_rows,
        "truncated": truncated,
        "report_url": report_url,
        "reproduce": install.for_version(extra="fuzz").reproduce(["scan", *scan_args(verdict, policy_arg)]).splitlines(),
        "version": __version__,
        "stage_names": list(verdict.stages),
        "checked": _checked(verdict),
        "rules_doc": links.docs_page("rules.md"),
        "policy_doc": f"{install.REPOSITORY}/blob/{links.docs_ref()}/README.md#policy",
    }


def render(
    verdict: Verdict,
    template: str = "comment.md.j2",
    limit: int = COMMENT_LIMIT,
    report_url: str | None = None,
    policy_arg: str | None = None,
    repo_url: str | None = None,
    resolved: bool = False,
    max_rows: int = DEFAULT_ROWS,
    notice: str = "",
) -> str:
    """Render, shrinking the lists until the text fits `limit` characters.

    `repo_url` (`https://github.com/owner/name`) turns file names into links at the head
    commit; `resolved` says an earlier comment reported problems that are gone now; `notice`
    is a warning shown under the title (the fork-safe poster's, escaped like everything else).
    """
    tmpl = environment().get_template(template)
    files = links.FileLinks(repo_url=repo_url, head=verdict.head, prefix=verdict.uri_prefix)
    if report_url is not None:
        try:
            links.markdown_url(report_url)
        except ValueError:
            report_url = None
    text = ""
    for rows in [r for r in _ROW_STEPS if r <= max_rows] or [0]:
        text = str(escape.unicode_safe(tmpl.render(**_context(verdict, rows, report_url, policy_arg, files, resolved),
                                                   notice=notice)))
        if len(text) <= limit:
            return text
    return text[: limit - 200] + "\n\n… (truncated: the report is too long for a comment)\n"


def write(verdict: Verdict, path: Path, report_url: str | None = None, policy_arg: str | None = None) -> None:
    atomic_write(path, str(escape.unicode_safe(render(verdict, report_url=report_url, policy_arg=policy_arg))))
