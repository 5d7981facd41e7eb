#!/usr/bin/env python
"""How long does the assess stage take, on the demo pull request and on a 100,000-row evaluation set?

One command: `python benchmarks/assess.py` (`--check` exits 1 when a run leaves
its budget or cannot assess). The demo repository (`examples/make_demo_repo.py`)
is scanned with `mlsecops scan --stages assess --no-cache` several times: the
stage's own time (from the JSON report) and the whole command's. Then once
more with the result cache warm. Then a repository whose evaluation CSV has
`--rows` rows (the demo's credit data, generated bigger) and whose policy turns
on every robustness check (gaussian noise, an ART HopSkipJump attack with a
5,000-query budget, edge values) is scanned cold, against the policy's default
budget (`assess.budget_seconds`, 300 s). Results go to `benchmarks/results/assess.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

import make_demo_repo  # noqa: E402

from mlsecops.stages.assess import fixtures  # noqa: E402
from mlsecops.stages.assess.policy import AssessPolicy  # noqa: E402

WORK = ROOT / "benchmarks" / "work" / "assess"
FULL_ROBUSTNESS = """      robustness:
        gaussian_noise: {sigma: 0.1, max_accuracy_drop: 0.05}
        black_box: {attack: hop_skip_jump, samples: 20, max_queries: 5000, eps: 0.25, max_success_rate: 0.9}
        edge_values: {rows: 16}
"""


def scan(repo: Path, base: str, head: str, *extra: str) -> tuple[float, dict]:
    report = WORK / "report.json"
    report.unlink(missing_ok=True)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "mlsecops", "scan", str(repo), "--base", base, "--head", head,
                           "--stages", "assess", "--json", str(report), "--sarif", str(WORK / "out.sarif"), "-q",
                           *extra], capture_output=True, text=True, cwd=WORK)
    wall = time.monotonic() - started
    if not report.exists():
        raise SystemExit(f"scan failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, json.loads(report.read_text())


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env={**os.environ, **make_demo_repo.ENV})


def big_repo(rows: int) -> Path:
    repo = WORK / f"rows-{rows}"
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    data = fixtures.CreditData(rows=rows)
    policy = fixtures.POLICY.split("      robustness:")[0] + FULL_ROBUSTNESS
    git(repo, "init", "-q", "-b", "main")
    make_demo_repo.write(repo, "models/credit.onnx", data.model(*fixtures.FAIR))
    make_demo_repo.write(repo, "data/eval.csv", data.csv())
    make_demo_repo.write(repo, ".mlsecops.yml", "version: 1\n" + policy)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "tag", "base")
    make_demo_repo.write(repo, "models/credit.onnx", data.model(*fixtures.UNFAIR))
    git(repo, "commit", "-q", "-am", "unfair model")
    git(repo, "tag", "head")
    return repo


def summary(report: dict) -> str:
    rules = sorted({f["rule_id"] for f in report["findings"]})
    return f"verdict {report['verdict']}, findings {', '.join(rules) or 'none'}, errors {len(report['errors'])}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    budget = AssessPolicy().budget_seconds
    problems: list[str] = []

    demo = WORK / "demo-repo"
    make_demo_repo.build(demo)
    cold = [scan(demo, "demo-base", "demo-head", "--no-cache") for _ in range(args.runs)]
    stage_cold = [r["stages"]["assess"]["seconds"] for _, r in cold]
    wall_cold = [w for w, _ in cold]
    cache = WORK / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    scan(demo, "demo-base", "demo-head", "--cache-dir", str(cache))
    warm_wall, warm = scan(demo, "demo-base", "demo-head", "--cache-dir", str(cache))
    demo_report = cold[-1][1]
    if demo_report["verdict"] != "fail" or {f["rule_id"] for f in demo_report["findings"]} != {"MLS403"}:
        problems.append(f"demo: expected one MLS403, got {summary(demo_report)}")

    repo = big_repo(args.rows)
    big_wall, big = scan(repo, "base", "head", "--no-cache")
    big_stage = big["stages"]["assess"]["seconds"]
    entry = big["details"]["assess"]["models"][0]
    if big_stage > budget:
        problems.append(f"{args.rows} rows: {big_stage:.1f} s, over the {budget:.0f} s budget")
    if big["errors"]:
        problems.append(f"{args.rows} rows: errors {big['errors']}")
    rob = {r["check"]: r for r in entry.get("robustness", [])}

    lines = [
        "# Assess stage: wall time on the demo and on a 100,000-row evaluation set",
        "",
        f"Command: `python benchmarks/assess.py` · {date.today().isoformat()} · {platform.machine()}, "
        f"{os.cpu_count()} cores · Python {platform.python_version()}",
        "",
        "The stage's time is `stages.assess.seconds` of the JSON report: format detection, git reads, one "
        "sandboxed worker (jail, Landlock, rlimits; the worker imports pandas, scikit-learn, fairlearn and "
        "onnxruntime, which is most of it) that runs the head and the base model, and judging. The command's "
        "time adds the CLI's start-up.",
        "",
        "| Run | stage (s) | command (s) | result |",
        "|---|---|---|---|",
        f"| demo PR, cold (median of {args.runs}) | {statistics.median(stage_cold):.2f} "
        f"(min {min(stage_cold):.2f}, max {max(stage_cold):.2f}) | {statistics.median(wall_cold):.2f} | "
        f"{summary(demo_report)} |",
        f"| demo PR, results cached | {warm['stages']['assess']['seconds']:.2f} | {warm_wall:.2f} | "
        f"{warm['stages']['assess'].get('cached', 0)} cached, {summary(warm)} |",
        f"| {args.rows:,} rows, every robustness check, cold | {big_stage:.2f} | {big_wall:.2f} | {summary(big)} |",
        "",
        f"Budget: `assess.budget_seconds` = {budget:.0f} s (the default); the {args.rows:,}-row run used "
        f"{100 * big_stage / budget:.0f}% of it. Sandboxed model time (head + base) on {args.rows:,} rows: "
        f"{entry.get('seconds', 0):.2f} s.",
        "",
    ]
    if "black_box" in rob:
        notes = rob["black_box"].get("notes") or [""]
        lines.append(f"- HopSkipJump on the head model: {notes[0]}.")
    if "gaussian_noise" in rob:
        lines.append(f"- Gaussian noise: {(rob['gaussian_noise'].get('notes') or [''])[0]}.")
    if "edge_values" in rob:
        lines.append(f"- Edge values: {rob['edge_values']['value']:.0f} problem kinds in 16 rows.")
    lines.append("")
    lines.append("Targets: " + ("met: the 100,000-row run stays within the stage's budget, and the demo PR is "
                                "blocked by MLS403 alone." if not problems else "MISSED: " + "; ".join(problems)))
    out = ROOT / "benchmarks" / "results" / "assess.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if problems and args.check else 0


if __name__ == "__main__":
    raise SystemExit(main())
