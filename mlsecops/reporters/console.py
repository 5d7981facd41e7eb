"""What a person reads in the terminal or the CI log: the verdict, then what blocks.

The CLI also runs as a plain workflow step (`run: mlsecops scan .`), where the
runner reads stdout for workflow commands: every line is made inert
(`escape.inert_log`), so no file name can start `::error` or `##[stop-commands]`.
"""

from __future__ import annotations

import sys
from typing import TextIO

from mlsecops.reporters.escape import inert_log, plain
from mlsecops.verdict import Status, Verdict

_MAX_LINES = 50


def render(verdict: Verdict) -> str:
    lines: list[str] = []
    for name, st in verdict.stages.items():
        stats = ", ".join(f"{v} {k}" for k, v in st.items() if k != "seconds")
        n = sum(1 for f in verdict.findings if f.stage.value == name)
        lines.append(f"{name:7} {stats or 'nothing to do'}; {n} finding(s) in {st.get('seconds', 0):.1f}s")
    lines.append("")
    shown = [f for f in verdict.findings if f.status != Status.waived]
    for f in shown[:_MAX_LINES]:
        where = f.path + (f":{f.line}" if f.line else "") + (f" [{f.member}]" if f.member else "")
        lines.append(f"{f.status.value.upper():9} {f.severity.value:8} {f.rule_id:8} {plain(where, 120)}")
        lines.append(f"{'':27}{plain(f.message, 200)}")
    if len(shown) > _MAX_LINES:
        lines.append(f"... and {len(shown) - _MAX_LINES} more (see the JSON/SARIF report)")
    waived = verdict.count(Status.waived)
    if waived:
        lines.append(f"{waived} finding(s) waived by the policy")
    for w in verdict.expired_waivers:
        lines.append(f"EXPIRED WAIVER {plain(w.waiver)}: {plain(w.reason, 100)}")
    for e in verdict.errors:
        lines.append(f"ERROR     {e.stage.value:8} {plain(e.path, 100)}: {plain(e.message, 300)}")
    lines.append("")
    lines.append(
        f"verdict: {verdict.verdict.upper()} ({verdict.count(Status.blocking)} blocking, "
        f"{verdict.count(Status.advisory)} advisory, {waived} waived, {len(verdict.errors)} error(s)); "
        f"policy {verdict.policy}"
    )
    return inert_log("\n".join(lines))


def write(verdict: Verdict, stream: TextIO = sys.stdout) -> None:
    stream.write(render(verdict) + "\n")
    stream.flush()
