"""Detection benchmark: ../shared/corpus against its labels, mlsecops beside its peers.

    python benchmarks/detection.py                 # mlsecops + fickling, modelscan, picklescan
    python benchmarks/detection.py --check         # mlsecops only; exit 1 below the bars (CI)

The bars (issue 2): every file labelled malicious is blocked by the default
policy, no benign file is blocked (and none fails closed), no edge file crashes
the scan. mlsecops runs as users run it: the CLI over the corpus folder, the
default policy, the JSON report. Peers run through their Python APIs, one
process per tool, each file under a time limit (peer_runner.py).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS = ("fickling", "modelscan", "picklescan")


def load_labels(corpus: Path) -> list[dict[str, str]]:
    with (corpus / "labels.tsv").open() as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def run_mlsecops(corpus: Path) -> tuple[dict[str, dict[str, object]], float]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "r.json"
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "mlsecops", "scan", str(corpus), "--stages", "models", "--policy", "default",
             "--json", str(report), "--sarif", str(Path(tmp) / "r.sarif"), "--no-cache", "-q"],
            capture_output=True, text=True, cwd=ROOT,
        )
        elapsed = time.monotonic() - start
        if not report.exists():
            raise SystemExit(f"mlsecops produced no report (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        data = json.loads(report.read_text())
    per: dict[str, dict[str, object]] = defaultdict(lambda: {"flagged": False, "error": False, "crash": ""})
    for f in data["findings"]:
        if f["status"] == "blocking":
            per[f["path"]]["flagged"] = True
    for e in data["errors"]:
        per[e["path"]]["error"] = True
        if "internal error" in e["message"] or "worker died" in e["message"]:
            per[e["path"]]["crash"] = e["message"][:120]
    return per, elapsed


def run_peer(tool: str, corpus: Path, paths: list[str]) -> tuple[dict[str, dict[str, object]], float]:
    start = time.monotonic()
    proc = subprocess.run([sys.executable, str(HERE / "peer_runner.py"), tool, "60"],
                          input="\n".join(str(corpus / p) for p in paths) + "\n", capture_output=True, text=True)
    elapsed = time.monotonic() - start
    per: dict[str, dict[str, object]] = {}
    for line in proc.stdout.splitlines():
        rec = json.loads(line)
        per[str(Path(rec["path"]).relative_to(corpus))] = rec
    for p in paths:
        per.setdefault(p, {"flagged": False, "error": True, "crash": "runner died"})
    return per, elapsed


def score(labels: list[dict[str, str]], per: dict[str, dict[str, object]]) -> dict[str, object]:
    c: Counter[str] = Counter()
    misses, false_pos, crashes = [], [], []
    for row in labels:
        r = per.get(row["path"], {"flagged": False, "error": False})
        label = row["label"]
        c[label] += 1
        blocked = bool(r.get("flagged")) or bool(r.get("error"))
        if label == "malicious":
            if r.get("flagged"):
                c["detected"] += 1
            else:
                misses.append(row["path"])
        elif label == "benign" and blocked:
            false_pos.append(row["path"])
        if r.get("crash") or (label == "edge" and r.get("error")):
            crashes.append(row["path"])
    return {"counts": c, "misses": misses, "false_positives": false_pos, "crashes": crashes}


def family_table(labels: list[dict[str, str]], results: dict[str, dict[str, dict[str, object]]]) -> list[str]:
    fams = sorted({r["family"] for r in labels if r["label"] == "malicious"})
    head = "| Malicious family | files | " + " | ".join(results) + " |"
    lines = [head, "|" + "---|" * (len(results) + 2)]
    for fam in fams:
        rows = [r for r in labels if r["label"] == "malicious" and r["family"] == fam]
        cells = [f"{sum(1 for r in rows if per.get(r['path'], {}).get('flagged'))}/{len(rows)}" for per in results.values()]
        lines.append(f"| {fam} | {len(rows)} | " + " | ".join(cells) + " |")
    return lines


def render(labels: list[dict[str, str]], results: dict[str, dict[str, dict[str, object]]], times: dict[str, float], command: str) -> str:
    scores = {tool: score(labels, per) for tool, per in results.items()}
    n = Counter(r["label"] for r in labels)
    out = [
        "## Detection: ../shared/corpus against labels.tsv",
        "",
        f"Command: `{command}` · {datetime.date.today().isoformat()} · {len(labels)} files "
        f"({n['malicious']} malicious, {n['benign']} benign, {n['edge']} edge)",
        "",
        "A malicious file counts as detected when the tool flags it (mlsecops: a blocking finding under the default "
        "policy). A benign file is a false positive when the tool flags it or fails on it (mlsecops fails closed). "
        "Crashes: the tool raised, timed out or died on the file.",
        "",
        "| Tool | malicious detected | benign false positives | crashes / errors on edge files | wall time (s) |",
        "|---|---|---|---|---|",
    ]
    for tool, s in scores.items():
        c = s["counts"]  # type: ignore[index]
        out.append(f"| {tool} | {c['detected']}/{c['malicious']} | {len(s['false_positives'])}/{c['benign']} | "  # type: ignore[index,arg-type]
                   f"{len(s['crashes'])} | {times[tool]:.1f} |")  # type: ignore[arg-type]
    out += ["", *family_table(labels, results), ""]
    ml = scores.get("mlsecops")
    if ml:
        for key, title in (("misses", "mlsecops misses"), ("false_positives", "mlsecops false positives"), ("crashes", "mlsecops crashes")):
            items = ml[key]  # type: ignore[index]
            out.append(f"- {title}: {', '.join(items) if items else 'none'}")  # type: ignore[arg-type]
    for tool, s in scores.items():
        if tool != "mlsecops" and s["misses"]:
            out.append(f"- {tool} misses {len(s['misses'])}: " + ", ".join(Path(p).name for p in s["misses"][:40])  # type: ignore[index,arg-type]
                       + (" ..." if len(s["misses"]) > 40 else ""))  # type: ignore[arg-type]
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--check", action="store_true", help="mlsecops only; exit 1 below the bars")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "detection.md")
    args = ap.parse_args()
    if not (args.corpus / "labels.tsv").exists():
        print(f"no corpus at {args.corpus}", file=sys.stderr)
        return 2
    labels = load_labels(args.corpus)
    paths = [r["path"] for r in labels]
    results: dict[str, dict[str, dict[str, object]]] = {}
    times: dict[str, float] = {}
    results["mlsecops"], times["mlsecops"] = run_mlsecops(args.corpus)
    if not args.check:
        for tool in PEERS:
            results[tool], times[tool] = run_peer(tool, args.corpus, paths)
    command = "python benchmarks/detection.py" + (" --check" if args.check else "")
    text = render(labels, results, times, command)
    print(text)
    if not args.check:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    s = score(labels, results["mlsecops"])
    ok = not s["misses"] and not s["false_positives"] and not s["crashes"]
    print("detection bars:", "MET" if ok else "NOT MET", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
