"""python -m benchmarks.redteam {list,write DIR,verify [NAMES...]}"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.redteam import all_samples
from benchmarks.redteam.corpus import write_corpus
from benchmarks.redteam.verify import verify


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.redteam")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list")
    w = sub.add_parser("write")
    w.add_argument("folder", type=Path)
    v = sub.add_parser("verify")
    v.add_argument("names", nargs="*")
    v.add_argument("--json", type=Path)
    args = ap.parse_args()
    samples = all_samples()
    if args.cmd == "list":
        for s in samples:
            print(f"{s.family:14} {s.name:45} {s.loader:30} {s.effect:8} {s.why}")
        return 0
    if args.cmd == "write":
        write_corpus(samples, args.folder)
        print(f"wrote {len(samples)} samples to {args.folder}")
        return 0
    chosen = [s for s in samples if not args.names or s.name in args.names or s.family in args.names]
    results = []
    for s in chosen:
        v = verify(s)
        results.append(v.__dict__)
        mark = "REACHED" if v.reached else "missed "
        print(f"{mark} {s.name:45} {s.effect:8} seen={','.join(v.seen) or '-':16} {v.seconds:5.1f}s "
              f"{(v.loader_error or '')[:80]} {v.detail[:200]}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0 if all(r["reached"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
