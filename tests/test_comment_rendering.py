"""The PR comment as people see it: rendered by cmark-gfm (GitHub's renderer) and laid out by
headless Chromium with GitHub's markdown styles, 1,000 px wide.

The demo pull request's comment fits one screen (1,500 px); a 200-finding scan stays
navigable (bounded text and height, every list cut with a link to the full report); every
link resolves to something that exists (rule anchors in docs/rules.md, advisory pages,
files at the head commit). The screenshot tests skip when Chromium is not installed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from mlsecops.findings import Finding, Severity, Stage, StageResult, fingerprint
from mlsecops.policy.judge import judge
from mlsecops.policy.model import Policy
from mlsecops.reporters import links, markdown
from mlsecops.reporters.report_model import Report
from tests.conftest import ROOT, run_cli
from tests.rendering import github_render, links as hrefs, ragged_tables, untrusted_links

render = github_render()
REPO_URL = "https://github.com/acme/model-service"
RUN_URL = "https://github.com/acme/model-service/actions/runs/1"
ONE_SCREEN = 1500


def needs_chromium() -> None:
    if render.chromium() is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium): the screenshot tests need it")


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """`make demo`'s scan: the demo repository's pull request, every stage, a 10 s fuzz budget."""
    tmp = tmp_path_factory.mktemp("demo")
    repo = tmp / "demo-repo"
    subprocess.run([sys.executable, str(ROOT / "examples" / "make_demo_repo.py"), str(repo)], check=True,
                   capture_output=True, timeout=300)
    proc = run_cli("scan", str(repo), "--base", "demo-base", "--head", "demo-head", "--advisory-db",
                   str(ROOT / "examples" / "advisories"), "--fuzz-budget", "10", "--no-cache", "-q",
                   "--sarif", str(tmp / "m.sarif"), "--json", str(tmp / "report.json"))
    assert proc.returncode == 1, proc.stderr[-2000:]
    return Report.model_validate(json.loads((tmp / "report.json").read_text()))


def test_demo_comment_fits_one_screen(demo_report: Report, tmp_path: Path) -> None:
    needs_chromium()
    text = markdown.render(demo_report.to_verdict(), repo_url=REPO_URL, report_url=RUN_URL)
    height = render.screenshot(text, tmp_path / "comment.png")
    print(f"demo comment: {height} px tall at {render.WIDTH} px wide, {len(text)} characters")
    assert height <= ONE_SCREEN, height
    assert (tmp_path / "comment.png").stat().st_size > 10_000


def test_demo_comment_reads_right(demo_report: Report) -> None:
    """What the reviewer reads first: the verdict and what to do, then one row per package and per file."""
    text = markdown.render(demo_report.to_verdict(), repo_url=REPO_URL, report_url=RUN_URL)
    html = render.to_html(text)
    seen = render.text_of(text)
    assert seen.splitlines()[0].startswith("❌ mlsecops: blocked, fix 3 model files, 5 dependencies and 1 assessed model")
    for pkg, fixed in (("numpy", "1.19.1"), ("jinja2", "2.11.3"), ("pyyaml", "5.4"), ("requests", "2.31.0"), ("torch", "1.13.1")):
        assert len(re.findall(rf"\b{pkg}=={re.escape(fixed)}\b", seen)) == 1, pkg  # one upgrade line per package
    assert seen.count("PYSEC-2021-856") == 1  # no advisory is listed twice
    assert "An issue was discovered" not in seen  # no cut-off CVE prose in the comment
    assert 'save_file(model.state_dict(), "models/checkpoint.safetensors")' in seen
    assert "<details><summary>Fuzzing" in html and "crashed" not in re.sub(r"<details>.*?</details>", "", html, flags=re.S)
    assert not untrusted_links(html, f"{REPO_URL}/blob/{demo_report.head}/", RUN_URL)
    assert not ragged_tables(html)


def _finding(i: int, stage: Stage, rule: str, sev: Severity, **kw: object) -> Finding:
    path = str(kw.pop("path", f"models/m{i:03d}.pkl"))
    return Finding(rule_id=rule, stage=stage, severity=sev, path=path, line=int(kw.pop("line", 1)),  # type: ignore[arg-type]
                   message=str(kw.pop("message", f"Imports evil{i}.run and calls it: runs programs")),
                   fingerprint=fingerprint(rule, path, str(i)), **kw)  # type: ignore[arg-type]


def big_verdict():  # type: ignore[no-untyped-def]
    """200 blocking findings: 120 vulnerabilities in 40 packages, 60 model files, 20 harness crashes."""
    deps = [_finding(i, Stage.deps, "MLS201", Severity.high, path="requirements.txt", line=i // 3 + 1,
                     vuln_id=f"PYSEC-2024-{i}", package=f"pkg{i // 3}", version="1.0", fix_versions=["2.0"],
                     message=f"pkg{i // 3} 1.0 is affected by PYSEC-2024-{i}: " + "a long advisory text " * 20,
                     properties={"group": f"pkg{i // 3}==1.0", "safe_version": "2.0"}) for i in range(120)]
    models = [_finding(i, Stage.models, "MLS101", Severity.critical) for i in range(60)]
    fuzz = [_finding(i, Stage.fuzz, "MLS302", Severity.high, path=f"fuzz/fuzz_{i}.py", message="SIGSEGV in parser")
            for i in range(20)]
    results = [StageResult(stage=Stage.deps, findings=deps, stats={"artifacts": 1}),
               StageResult(stage=Stage.models, findings=models, stats={"artifacts": 60}),
               StageResult(stage=Stage.fuzz, findings=fuzz, stats={"targets": 20})]
    v = judge(results, Policy(), date(2026, 6, 1))
    v.head = "a" * 40
    return v


def test_a_200_finding_scan_stays_navigable(tmp_path: Path) -> None:
    v = big_verdict()
    assert v.count(v.findings[0].status) == 200
    text = markdown.render(v, repo_url=REPO_URL, report_url=RUN_URL)
    assert len(text) <= 20_000  # far below GitHub's 65,536
    seen = render.text_of(text)
    for what in ("30 more packages", "50 more files", "10 more files"):
        assert f"…and {what} in the full report" in seen, what
    assert f"]({RUN_URL})" in text
    needs_chromium()
    height = render.height(text)
    print(f"200-finding comment: {height} px, {len(text)} characters")
    assert height <= 3 * ONE_SCREEN


def test_every_rule_link_points_at_an_existing_heading() -> None:
    """Rule links go to docs/rules.md at the release tag, at the anchor GitHub gives the rule's heading."""
    headings = {links.anchor(h) for h in re.findall(r"^## (.+)$", (ROOT / "docs" / "rules.md").read_text(), re.M)}
    from mlsecops.rules import catalog

    for rule_id in catalog():
        url = links.rule_doc(rule_id)
        assert url and url.startswith("https://github.com/mlsecops/mlsecops/blob/v"), url
        assert url.split("#", 1)[1] in headings, rule_id
    assert links.advisory("GHSA-462w-v97r-4m45") == "https://github.com/advisories/GHSA-462w-v97r-4m45"
    assert links.advisory("PYSEC-2019-217") == "https://osv.dev/vulnerability/PYSEC-2019-217"
    assert links.advisory("x](https://evil)") is None
    files = links.FileLinks(repo_url=REPO_URL, head="b" * 40, prefix="svc")
    assert files.file("a b/(x).txt", 3) == f"{REPO_URL}/blob/{'b' * 40}/svc/a%20b/%28x%29.txt#L3"
    assert files.file("m/\udcff.pkl").endswith("/svc/m/%FF.pkl")  # a non-UTF-8 name: its own bytes
    assert links.FileLinks(repo_url=REPO_URL, head="main").file("x") is None  # only at a commit
    assert links.FileLinks(repo_url="javascript:alert(1)//x/y", head="b" * 40).file("x") is None


def test_a_pass_says_so_and_nothing_else_shouts() -> None:
    v = judge([StageResult(stage=Stage.models, stats={"artifacts": 2})], Policy(), date(2026, 6, 1))
    seen = render.text_of(markdown.render(v))
    assert seen.splitlines()[0] == "✅ mlsecops: passed, nothing blocks this merge"
    resolved = render.text_of(markdown.render(v, resolved=True))
    assert resolved.splitlines()[0].startswith("✅ mlsecops: resolved")
    assert "mlsecops:state resolved" in markdown.render(v, resolved=True)
    hrefs(render.to_html(markdown.render(v)))
