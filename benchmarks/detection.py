"""Detection benchmark: mlsecops beside its peers on three corpora, in one run.

    python benchmarks/detection.py            # mlsecops + fickling, modelscan, picklescan, modelaudit
    python benchmarks/detection.py --check    # mlsecops only; exit 1 below the bars (CI)

Corpora:
- public: ../shared/corpus against its labels.tsv (real exploits, benign and edge files);
- red team: benchmarks/redteam, generated in code into a temp folder; every sample is
  first loaded with its real loader in the sandbox (redteam/verify.py) and counts only
  if its side effect happened;
- benign breadth: tests/models/benign_corpus.py when present (built by the tests'
  generator from real libraries); absent, the row says so.

Bars (issue 12): public 148/148 malicious blocked and 0/38 benign flagged, no edge crash;
every verified red-team sample blocked; benign breadth 0 blocked and 0 errors.
mlsecops runs as users run it: the CLI, the default policy, the JSON report. A blocking
finding blocks; so does a stage error (the default policy fails closed), shown apart.
Peers run through their Python APIs, one process per tool, each file under a time
limit (peer_runner.py); ModelAudit runs from its own venv (`make bench-peers`).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
PEERS = ("fickling", "modelscan", "picklescan", "modelaudit")
MODELAUDIT_PYTHON = HERE / "work" / "modelaudit-venv" / "bin" / "python"

PerFile = dict[str, dict[str, object]]


def load_labels(corpus: Path) -> list[dict[str, str]]:
    with (corpus / "labels.tsv").open() as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def run_mlsecops(corpus: Path) -> tuple[PerFile, float]:
    """The CLI over a folder; per path: flagged (a blocking finding), error, crash, rules."""
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
    per: PerFile = defaultdict(lambda: {"flagged": False, "error": False, "crash": "", "rules": []})
    for f in data["findings"]:
        rec = per[f["path"]]
        rec["rules"].append(f"{f['rule_id']}:{f['severity']}")  # type: ignore[union-attr]
        if f["status"] == "blocking":
            rec["flagged"] = True
    for e in data["errors"]:
        per[e["path"]]["error"] = True
        if "internal error" in e["message"] or "worker died" in e["message"]:
            per[e["path"]]["crash"] = e["message"][:120]
    return per, elapsed


def peer_python(tool: str, modelaudit_python: Path) -> str | None:
    if tool != "modelaudit":
        return sys.executable
    return str(modelaudit_python) if modelaudit_python.exists() else None


def run_peer(tool: str, corpus: Path, paths: list[str], python: str) -> tuple[PerFile, float]:
    start = time.monotonic()
    env = {**os.environ, "PROMPTFOO_DISABLE_TELEMETRY": "1", "NO_ANALYTICS": "1"}
    proc = subprocess.run([python, str(HERE / "peer_runner.py"), tool, "60"], env=env,
                          input="\n".join(str(corpus / p) for p in paths) + "\n", capture_output=True, text=True)
    elapsed = time.monotonic() - start
    per: PerFile = {}
    for line in proc.stdout.splitlines():
        rec = json.loads(line)
        per[str(Path(rec["path"]).relative_to(corpus))] = rec
    for p in paths:
        per.setdefault(p, {"flagged": False, "error": True, "crash": "runner died"})
    return per, elapsed


def run_all(corpus: Path, paths: list[str], check: bool, modelaudit_python: Path) -> tuple[dict[str, PerFile], dict[str, float], list[str]]:
    results: dict[str, PerFile] = {}
    times: dict[str, float] = {}
    missing: list[str] = []
    results["mlsecops"], times["mlsecops"] = run_mlsecops(corpus)
    if not check:
        for tool in PEERS:
            python = peer_python(tool, modelaudit_python)
            if python is None:
                missing.append(tool)
                continue
            results[tool], times[tool] = run_peer(tool, corpus, paths, python)
    return results, times, missing


# -- the public corpus ----------------------------------------------------------


def score(labels: list[dict[str, str]], per: PerFile) -> dict[str, object]:
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


def family_table(labels: list[dict[str, str]], results: dict[str, PerFile]) -> list[str]:
    fams = sorted({r["family"] for r in labels if r["label"] == "malicious"})
    lines = ["| Malicious family | files | " + " | ".join(results) + " |", "|" + "---|" * (len(results) + 2)]
    for fam in fams:
        rows = [r for r in labels if r["label"] == "malicious" and r["family"] == fam]
        cells = [f"{sum(1 for r in rows if per.get(r['path'], {}).get('flagged'))}/{len(rows)}" for per in results.values()]
        lines.append(f"| {fam} | {len(rows)} | " + " | ".join(cells) + " |")
    return lines


def render_public(labels: list[dict[str, str]], results: dict[str, PerFile], times: dict[str, float]) -> tuple[str, dict[str, dict[str, object]]]:
    scores = {tool: score(labels, per) for tool, per in results.items()}
    n = Counter(r["label"] for r in labels)
    out = [
        "### Public corpus: ../shared/corpus against labels.tsv", "",
        f"{len(labels)} files ({n['malicious']} malicious, {n['benign']} benign, {n['edge']} edge). A malicious file counts as "
        "detected when the tool flags it (mlsecops: a blocking finding under the default policy). A benign file is a false "
        "positive when the tool flags it or fails on it (mlsecops fails closed). Crashes: the tool raised, timed out or "
        "died on the file.", "",
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
    return "\n".join(out) + "\n", scores


# -- the red-team corpus --------------------------------------------------------


def redteam(check: bool, modelaudit_python: Path, jobs: int) -> tuple[str, dict[str, object]]:
    from benchmarks.redteam import all_samples
    from benchmarks.redteam.corpus import write_corpus
    from benchmarks.redteam.verify import verify

    samples = all_samples()
    with ThreadPoolExecutor(jobs) as pool:
        verdicts = dict(zip([s.name for s in samples], pool.map(verify, samples), strict=True))
    with tempfile.TemporaryDirectory(prefix="redteam-corpus-") as tmp:
        folder = Path(tmp)
        index = write_corpus(samples, folder)
        paths = [p for ps in index.values() for p in ps]
        results, times, missing = run_all(folder, paths, check, modelaudit_python)
    real = [s for s in samples if verdicts[s.name].reached]
    dropped = [s for s in samples if not verdicts[s.name].reached]

    def caught(tool: str, name: str) -> str:
        recs = [results[tool].get(p, {}) for p in index[name]]
        if any(r.get("flagged") for r in recs):
            return "blocked"
        if tool == "mlsecops" and any(r.get("error") for r in recs):
            return "error"
        return "missed"

    tools = list(results)
    table = {tool: {s.name: caught(tool, s.name) for s in real} for tool in tools}
    out = [
        "### Red-team corpus: benchmarks/redteam, generated and verified in this run", "",
        f"{len(samples)} samples generated, {len(real)} verified (their side effect happened when the real loader opened "
        f"them in the sandbox: a process, a connection to the sandbox's loopback listener, or a file), {len(dropped)} "
        "dropped as not real. Only verified samples are scored. A sample is blocked by mlsecops when one of its files has "
        "a blocking finding or, shown apart, a stage error (the default policy fails closed).", "",
        "| Tool | verified samples blocked | of which by a stage error only | wall time (s) |", "|---|---|---|---|",
    ]
    for tool in tools:
        vals = list(table[tool].values())
        blocked = sum(v in ("blocked", "error") for v in vals)
        out.append(f"| {tool} | {blocked}/{len(vals)} | {vals.count('error') if tool == 'mlsecops' else '-'} | {times[tool]:.1f} |")
    if missing:
        out.append(f"\nNot run: {', '.join(missing)} (`make bench-peers` installs ModelAudit).")
    fams = sorted({s.family for s in real})
    out += ["", "| Family | samples | " + " | ".join(tools) + " |", "|" + "---|" * (len(tools) + 2)]
    for fam in fams:
        names = [s.name for s in real if s.family == fam]
        cells = [f"{sum(table[t][n] in ('blocked', 'error') for n in names)}/{len(names)}" for t in tools]
        out.append(f"| {fam} | {len(names)} | " + " | ".join(cells) + " |")
    out += ["", "| Sample | loader | effect | " + " | ".join(tools) + " |", "|" + "---|" * (len(tools) + 3)]
    mark = {"blocked": "blocked", "error": "error", "missed": "**missed**"}
    for s in real:
        out.append(f"| {s.family}/{s.name} | {s.loader} | {s.effect} | " + " | ".join(mark[table[t][s.name]] for t in tools) + " |")
    misses = [s for s in real if table["mlsecops"][s.name] == "missed"]
    out += ["", f"- mlsecops misses ({len(misses)}): " + (", ".join(s.name for s in misses) or "none")]
    for s in misses:
        rules = sorted({r for p in index[s.name] for r in results["mlsecops"].get(p, {}).get("rules", [])})  # type: ignore[union-attr]
        out.append(f"  - `{s.name}` ({s.loader}): {s.why}. mlsecops said: {', '.join(rules) or 'nothing'}")
    if dropped:
        out.append("- dropped (did not reach their effect): "
                   + ", ".join(f"{s.name} ({(verdicts[s.name].loader_error or verdicts[s.name].detail or '')[:80]})" for s in dropped))
    summary = {"verified": len(real), "missed": [s.name for s in misses], "dropped": [s.name for s in dropped]}
    return "\n".join(out) + "\n", summary


# -- the benign-breadth corpus --------------------------------------------------


def benign_breadth(check: bool, modelaudit_python: Path) -> tuple[str, dict[str, object] | None]:
    """tests/models/benign_corpus.py, when another engineer's generator has landed: write it, scan it."""
    if not (ROOT / "tests" / "models" / "benign_corpus.py").exists():
        return ("### Benign breadth\n\nNot measured: tests/models/benign_corpus.py is not in this tree (the hook "
                "waits for it: a `write(folder)`, `write_corpus(folder)` or `files()` in that module).\n"), None
    module = importlib.import_module("tests.models.benign_corpus")
    with tempfile.TemporaryDirectory(prefix="benign-breadth-") as tmp:
        folder = Path(tmp)
        for name in ("write_corpus", "write", "build"):
            if hasattr(module, name):
                getattr(module, name)(folder)
                break
        else:
            if not hasattr(module, "files"):
                return "### Benign breadth\n\ntests/models/benign_corpus.py has no known entry point.\n", None
            for rel, data in module.files().items():
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                (folder / rel).write_bytes(data)
        paths = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        results, times, _ = run_all(folder, paths, check, modelaudit_python)
    ml = results["mlsecops"]
    blocked = [p for p in paths if ml.get(p, {}).get("flagged")]
    errors = [p for p in paths if ml.get(p, {}).get("error")]
    out = ["### Benign breadth: tests/models/benign_corpus.py", "", f"{len(paths)} files.", "",
           "| Tool | flagged | errors | wall time (s) |", "|---|---|---|---|"]
    for tool, per in results.items():
        out.append(f"| {tool} | {sum(bool(per.get(p, {}).get('flagged')) for p in paths)} | "
                   f"{sum(bool(per.get(p, {}).get('error')) for p in paths)} | {times[tool]:.1f} |")
    out.append(f"\n- mlsecops blocked: {', '.join(blocked) or 'none'}; errors: {', '.join(errors) or 'none'}")
    return "\n".join(out) + "\n", {"blocked": blocked, "errors": errors}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--check", action="store_true", help="mlsecops only; exit 1 below the bars")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "detection.md")
    ap.add_argument("--modelaudit-python", type=Path, default=MODELAUDIT_PYTHON)
    ap.add_argument("--jobs", type=int, default=2, help="sandboxes verifying red-team samples at once")
    args = ap.parse_args()
    if not (args.corpus / "labels.tsv").exists():
        print(f"no corpus at {args.corpus}", file=sys.stderr)
        return 2
    labels = load_labels(args.corpus)
    results, times, missing = run_all(args.corpus, [r["path"] for r in labels], args.check, args.modelaudit_python)
    public_text, scores = render_public(labels, results, times)
    if missing:
        public_text += f"\nNot run: {', '.join(missing)} (`make bench-peers` installs ModelAudit).\n"
    red_text, red = redteam(args.check, args.modelaudit_python, args.jobs)
    benign_text, benign = benign_breadth(args.check, args.modelaudit_python)
    command = "python benchmarks/detection.py" + (" --check" if args.check else "")
    text = (f"## Detection: mlsecops and its peers on three corpora\n\nCommand: `{command}` · "
            f"{datetime.date.today().isoformat()}\n\n{public_text}\n{red_text}\n{benign_text}")
    print(text)
    if not args.check:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    ml = scores["mlsecops"]
    bars = {
        "public: every malicious file blocked": not ml["misses"],
        "public: no benign file flagged": not ml["false_positives"],
        "public: no crash": not ml["crashes"],
        "red team: every verified sample blocked": not red["missed"],
        "benign breadth: nothing blocked, no error": benign is None or (not benign["blocked"] and not benign["errors"]),
    }
    for bar, ok in bars.items():
        print(f"{'met' if ok else 'NOT MET'}: {bar}", file=sys.stderr)
    if benign is None:
        print("note: benign breadth not measured (tests/models/benign_corpus.py absent)", file=sys.stderr)
    return 0 if all(bars.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
