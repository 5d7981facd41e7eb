"""What a person reads in the terminal or the CI log: what ran, what blocks and how to fix it, the verdict.

Laid out for 80 columns: blocking dependencies one line per package with the release that
fixes them, other findings one line each with the message wrapped beneath. Colour when
the output is a terminal, unless `NO_COLOR` is set (no-color.org); `FORCE_COLOR` turns it
on anywhere (CI logs render ANSI colours). The CLI also runs as a plain workflow step
(`run: mlsecops scan .`), where the runner reads stdout for workflow commands: every line
is made inert (`escape.inert_log`), and text from the scan has its own escapes removed
before our colours are added, so no file name can colour, move or command anything.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Mapping
from typing import TextIO

from mlsecops.reporters import comment_view, links
from mlsecops.reporters.escape import inert_log, plain
from mlsecops.verdict import JudgedFinding, Status, Verdict

WIDTH = 80
_MAX_LINES = 40
_INDENT = " " * 12
_CODES = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "magenta": "35", "dim": "2", "bold": "1"}
_SEVERITY_COLOUR = {"critical": "red", "high": "magenta", "medium": "yellow", "low": "blue", "info": "dim"}


def color_wanted(stream: TextIO, env: Mapping[str, str]) -> bool:
    """NO_COLOR (any non-empty value) wins; then FORCE_COLOR (not "0"); else only on a terminal."""
    if env.get("NO_COLOR"):
        return False
    force = env.get("FORCE_COLOR")
    if force is not None and force != "" and force != "0":
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and env.get("TERM") != "dumb"


class _Paint:
    def __init__(self, on: bool) -> None:
        self.on = on

    def __call__(self, text: str, *styles: str) -> str:
        if not self.on or not styles:
            return text
        return "\x1b[" + ";".join(_CODES[s] for s in styles) + "m" + text + "\x1b[0m"


def _wrap(text: str, indent: str = _INDENT, limit: int = 300) -> list[str]:
    return textwrap.wrap(plain(text, limit), WIDTH, initial_indent=indent, subsequent_indent=indent,
                         break_on_hyphens=False) or [indent]


def _stage_lines(verdict: Verdict) -> list[str]:
    lines = []
    for name, st in verdict.stages.items():
        if name == "gate" and not any(f.stage.value == "gate" for f in verdict.findings):
            continue  # the gate reports on every run; a line only when it found something
        stats = ", ".join(f"{v:,} {k}" if isinstance(v, int) else f"{v} {k}" for k, v in st.items() if k != "seconds")
        left = f"{name:8} {stats or 'nothing to do'}"
        secs = f"{float(st.get('seconds', 0)):.1f} s"
        room = WIDTH - len(secs) - 1
        parts = textwrap.wrap(left, room, subsequent_indent=" " * 9) or [""]
        lines += parts[:-1] + [f"{parts[-1]:{room}} {secs}"]
    return lines


def _findings(findings: list[JudgedFinding], paint: _Paint) -> list[str]:
    """One entry per finding; a fix repeated from the entry above is not printed again."""
    out: list[str] = []
    last_fix = None
    for f in findings:
        out += _finding_lines(f, paint, show_fix=f.fix != last_fix)
        last_fix = f.fix
    return out


def _finding_lines(f: JudgedFinding, paint: _Paint, show_fix: bool = True) -> list[str]:
    where = f.path + (f":{f.line}" if f.line and f.line > 1 else "") + (f" [{f.member}]" if f.member else "")
    sev = paint(f"{f.severity.value:9}", _SEVERITY_COLOUR[f.severity.value])
    head = f"  {sev} {f.rule_id.split('/')[0]:7} "
    out = [head + plain(where, WIDTH - 21)]
    out += _wrap(f.message, limit=240)
    if f.fix and show_fix:
        out += [paint(line, "dim") for line in _wrap(f"fix: {f.fix}", limit=200)]
    return out


def _dep_lines(row: comment_view.DepRow, paint: _Paint) -> list[str]:
    sev = paint(f"{row.severity:9}", _SEVERITY_COLOUR[row.severity])
    where = ", ".join(w.text for w in row.where[:2])
    fix = paint(f"-> {row.upgrade}", "green") if row.upgrade else paint(row.no_fix or "no fix known", "yellow")
    head = f"  {sev} {plain(row.package, 30)} {plain(row.version, 20)} ({plain(where, 40)})"
    ids = ", ".join(a.text for a in row.advisories)
    return [head, *_wrap(f"{len(row.advisories)} advisor{'ies' if len(row.advisories) != 1 else 'y'}: {ids}", limit=400),
            f"{_INDENT}{fix}"]


def render(verdict: Verdict, color: bool = False) -> str:
    paint = _Paint(color)
    lines = _stage_lines(verdict)
    files = links.FileLinks()
    blocking = [f for f in verdict.findings if f.status == Status.blocking]
    if blocking:
        view = comment_view.blocking(verdict, files, _MAX_LINES)
        lines += ["", paint(f"BLOCKING  fix {view.fix_list()}", "red", "bold")]
        for row in view.deps.rows:
            lines += _dep_lines(row, paint)  # type: ignore[arg-type]
        lines += _findings([f for f in blocking if not (f.stage.value == "deps" and f.rule_id == "MLS201")][:_MAX_LINES], paint)
    advisory = [f for f in verdict.findings if f.status == Status.advisory]
    if advisory:
        lines += ["", paint("ADVISORY  does not block", "yellow", "bold")]
        lines += _findings(advisory[:_MAX_LINES], paint)
        if len(advisory) > _MAX_LINES:
            lines.append(f"  ... and {len(advisory) - _MAX_LINES} more (see the JSON or SARIF report)")
    if verdict.notes:
        lines += ["", paint("NOTES", "bold")]
        for n in verdict.notes[:10]:
            lines += _wrap(f"{n.stage.value}: {n.path}: {n.message}", "  ", 400)
    waived = verdict.count(Status.waived)
    if waived:
        lines.append(f"{waived} finding(s) waived by the policy")
    for w in verdict.expired_waivers:
        lines += _wrap(f"EXPIRED WAIVER {w.waiver}: {w.reason}", "", 300)
    if verdict.errors:
        lines += ["", paint("COULD NOT CHECK", "red", "bold")]
        for e in verdict.errors:
            lines += _wrap(f"{e.stage.value}: {e.path + ': ' if e.path else ''}{e.message}", "  ", 400)
    colour = {"pass": "green", "fail": "red", "error": "red"}[verdict.verdict]
    summary = (f"verdict: {verdict.verdict.upper()} ({verdict.count(Status.blocking)} blocking, "
               f"{verdict.count(Status.advisory)} advisory, {waived} waived, {len(verdict.errors)} error(s))")
    lines += ["", paint(summary, colour, "bold"),
              *textwrap.wrap(f"policy {plain(verdict.policy, 200)}", WIDTH, subsequent_indent="  ", break_on_hyphens=False)]
    return inert_log("\n".join(lines))


def write(verdict: Verdict, stream: TextIO = sys.stdout, color: bool = False) -> None:
    stream.write(render(verdict, color) + "\n")
    stream.flush()
