"""Replay a reproducer in the same sandbox the gate uses, and say whether it still crashes.

    python -m mlsecops.stages.fuzz.replay --loader numpy .mlsecops/reproducers/MLS301-1a2b3c4d5e6f.npy
    python -m mlsecops.stages.fuzz.replay --harness fuzz/fuzz_parse.py .mlsecops/reproducers/MLS301-....bin
    python -m mlsecops.stages.fuzz.replay --inference models/net.onnx .mlsecops/reproducers/MLS302-....npz

Run it from the scanned folder (or pass --root). Exit code 1 when the input
crashes (the kind, rule and signature are printed, or JSON with --json), 0
when it runs cleanly, 2 when it could not be replayed. The harness and the
input run only inside the sandbox, never in this process.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from mlsecops.stages.fuzz.investigate import Where, session_spec, triage_replay
from mlsecops.stages.fuzz.loaders import LOADERS
from mlsecops.stages.fuzz.policy import FuzzPolicy
from mlsecops.stages.fuzz.session import Session
from mlsecops.stages.fuzz.targets import Target
from mlsecops.stages.fuzz.triage import title


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mlsecops.stages.fuzz.replay", description=__doc__.split("\n\n")[0])
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--loader", choices=sorted(LOADERS), help="feed the input to this safe loader")
    what.add_argument("--harness", help="run the input through this harness's TestOneInput (path under --root)")
    what.add_argument("--inference", help="run this ONNX model (path under --root) on the .npz inputs")
    p.add_argument("input", help="the reproducer")
    p.add_argument("--root", default=".", help="the scanned folder (default: .)")
    p.add_argument("--timeout", type=float, default=FuzzPolicy().exec_timeout_seconds, help="seconds before a hang")
    p.add_argument("--memory-mb", type=int, default=FuzzPolicy().memory_mb)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def replay(args: argparse.Namespace) -> tuple[int, dict[str, object]]:
    root = Path(args.root).resolve()
    data = Path(args.input).read_bytes()
    policy = FuzzPolicy(exec_timeout_seconds=args.timeout, memory_mb=args.memory_mb)
    if args.harness:
        target = Target(kind="harness", path=args.harness, key="replay")
        name = "harness"
    elif args.inference:
        target = Target(kind="inference", path=args.inference, key="replay", source=root / args.inference)
        name = "onnxruntime"
    else:
        target = Target(kind="loader", path=args.input, key="replay", loaders=[args.loader])
        name = args.loader
    with tempfile.TemporaryDirectory(prefix="mlsecops-replay-") as tmp:
        deadline = time.monotonic() + args.timeout + 120
        where = Where(root=root, workdir=Path(tmp), policy=policy, deadline=deadline, base_tree=lambda: None)
        session = Session(session_spec(target, root), Path(tmp) / "s", policy, deadline)
        try:
            got = session.run(data, name)
        finally:
            session.close()
        if got.kind == "error":
            return 2, {"error": got.message}
        t = triage_replay(got, name, where, target.kind == "harness")
    if t is None:
        return 0, {"crashed": False, "result": got.kind}
    return 1, {"crashed": True, "rule": t.rule_id, "kind": t.kind, "title": title(t), "signature": t.signature,
               "message": t.message[:300]}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code, info = replay(args)
    except OSError as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(info, indent=2))
    elif code == 1:
        print(f"crash reproduced: {info['rule']} {info['kind']}: {info['title']}\nsignature: {info['signature']}")
    elif code == 0:
        print(f"no crash ({info['result']})")
    else:
        print(f"replay failed: {info['error']}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
