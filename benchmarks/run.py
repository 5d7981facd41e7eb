"""Run every benchmark and assemble benchmarks/RESULTS.md from their sections.

    python benchmarks/run.py            # all benchmarks (make bench)
    python benchmarks/run.py --assemble # only rebuild RESULTS.md from benchmarks/results/*.md

Each benchmark writes its own section to benchmarks/results/<name>.md with the
command that produced it; RESULTS.md is those sections in a fixed order.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["detection", "performance", "deps", "fuzz", "assess", "adversarial", "upload_sarif"]
BENCHMARKS = [
    ["detection.py"],
    ["performance.py"],
    ["deps_match.py"],
    ["fuzz_throughput.py"],
    ["assess.py"],
    ["adversarial.py"],
    ["upload_sarif.py", "--skip-if-missing"],  # needs a compiled codeql-action (CODEQL_ACTION_BUILD)
]
HEADER = """# Benchmark results

Figures recorded by the benchmarks in this folder on the development machine
(2 cores, 24 GB, Python 3.11). Machines are noisy: compare the ratios between
tools measured in the same run, not absolute times across runs. Each section
names the command that produced it; `make bench` runs them all.
"""


def assemble() -> None:
    sections = []
    results = HERE / "results"
    names = [n for n in ORDER if (results / f"{n}.md").exists()]
    names += sorted(p.stem for p in results.glob("*.md") if p.stem not in ORDER)
    for name in names:
        text = (results / f"{name}.md").read_text().strip()
        if text.startswith("# "):  # every section sits one level below the page title
            text = "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())
        sections.append(text)
    (HERE / "RESULTS.md").write_text(HEADER + "\n" + "\n\n".join(sections) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--assemble", action="store_true")
    args = ap.parse_args()
    failed = []
    if not args.assemble:
        for bench in BENCHMARKS:
            script = HERE / bench[0]
            if not script.exists():
                continue
            print(f"== {bench[0]}", flush=True)
            if subprocess.run([sys.executable, str(script), *bench[1:]]).returncode != 0:
                failed.append(bench[0])
    assemble()
    print(f"wrote {HERE / 'RESULTS.md'}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
