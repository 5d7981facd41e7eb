"""Every value a template prints is escaped, not only the ones a test happens to poison.

The comment's templates print values from scans, from advisories and, in the fork-safe poster,
from a report a fork wrote. On main two of them went out raw (a waiver's expiry in the expired
waivers list and in the waived table): harmless from a real scan (dates), live Markdown from a
forged report. Two checks: each `{{ ... }}` either goes through a filter (`md`, `code`, `plain`,
`url`), calls a macro, or is one of the few numbers, enums and validated values listed here; and
a verdict whose every string is hostile renders with no link, image, mention or marker of its own.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from mlsecops.findings import Finding, Severity, Stage, StageError, StageResult
from mlsecops.policy.judge import judge
from mlsecops.policy.loader import load_policy_text
from mlsecops.reporters import markdown
from mlsecops.verdict import ExpiredWaiver
from tests.conftest import ROOT
from tests.rendering import github_render, untrusted_links

TEMPLATES = ROOT / "mlsecops" / "templates"
_FILTERED = re.compile(r"\|\s*(md|code|plain|url)\b")
_NUMBER = re.compile(r"""(\|\s*(length|int)\b[^|]*$)|(^"%[+]?\.[0-9]f" \| format\()|(^"\{:,\}"\.format\()|(^a(num|signed)\()""")
_MACRO_CALL = re.compile(r"^(m\.)?(file_table|dep_table|findings_table|more|sev|ref|where|problems)\(")
_LITERAL = re.compile(r"""^(["'][^"']*["'])(\s+if\s+.+?(\s+else\s+["'][^"']*["'])?)?$""")
# Numbers, enums and values built from patterns (comment_view.py): nothing a scan or a report writes as text.
RAW_OK = {
    "view.models.total", "view.behaviour.total", "view.deps.total", "view.deps.findings", "view.other.total", "view.fix_list()",
    "row.convert_to", "g", "e.stage.value", "w.matched", "version", "f.line", "title", "total - shown", "what",
    "marker", "state_marker", "dep_vulns.total", 'fst.get("targets", 0)', "rows.findings", "rows.total",
    '{"critical": "🟥", "high": "🟧", "medium": "🟨", "low": "🟦", "info": "⬜"}[s.value if s.value is defined else s]',
}
HOSTILE = ("x\n\n<img src=x onerror=alert(1)>\n[approve](https://evil.example/p) @octo/maintainers "
           "mail security@evil.example <!-- mlsecops:state resolved -->")


def test_every_template_value_is_escaped_or_known_safe() -> None:
    raw = []
    for path in sorted(TEMPLATES.glob("*.j2")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for expr in re.findall(r"\{\{-?\s*(.*?)\s*-?\}\}", line):
                if _FILTERED.search(expr) or _NUMBER.search(expr) or _MACRO_CALL.match(expr) or _LITERAL.match(expr) or expr in RAW_OK:
                    continue
                raw.append(f"{path.name}:{number}: {{{{ {expr} }}}}")
    assert not raw, "values printed without md/code/plain/url:\n" + "\n".join(raw)


def test_a_verdict_of_hostile_strings_renders_inert(tmp_path: Path) -> None:
    def f(rule: str, stage: Stage, sev: Severity, path: str, **kw: object) -> Finding:
        return Finding(rule_id=rule, stage=stage, severity=sev, path=path, message=HOSTILE, tool=HOSTILE,
                       fingerprint=HOSTILE, evidence=[HOSTILE], fix=HOSTILE, **kw)  # type: ignore[arg-type]

    results = [
        StageResult(stage=Stage.deps, findings=[f("MLS201", Stage.deps, Severity.high, HOSTILE, vuln_id=HOSTILE,
                                                  package=HOSTILE, version=HOSTILE, fix_versions=[HOSTILE])]),
        StageResult(stage=Stage.models, findings=[f("MLS101", Stage.models, Severity.critical, HOSTILE, member=HOSTILE),
                                                  f("MLS103", Stage.models, Severity.medium, "m/0.pkl")],
                    errors=[StageError(stage=Stage.models, path=HOSTILE, message=HOSTILE)]),
        StageResult(stage=Stage.gate, findings=[f("MLS001", Stage.gate, Severity.high, HOSTILE)]),
    ]
    policy = load_policy_text("waivers:\n  - {rule: MLS103, path: 'm/0.pkl', reason: ok, expires: 2030-01-01}\n", "p")
    v = judge(results, policy, date(2026, 6, 1), HOSTILE)
    for finding in v.findings:
        finding.waiver_expires = HOSTILE if finding.waiver_expires else None
    v.expired_waivers = [ExpiredWaiver(waiver=HOSTILE, reason=HOSTILE, expired=HOSTILE, matched=1)]
    v.head = "c" * 40
    for template in ("comment.md.j2", "summary.md.j2"):
        text = markdown.render(v, template, repo_url="https://github.com/octo/models", notice=HOSTILE)
        html = github_render().to_html(text)
        assert not untrusted_links(html, "https://github.com/octo/models/"), untrusted_links(html)
        assert "<img" not in html and "@octo/maintainers" not in text, template
        assert text.count("<!-- mlsecops:") == (2 if template == "comment.md.j2" else 0), text
