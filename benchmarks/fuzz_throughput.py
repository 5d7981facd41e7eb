#!/usr/bin/env python
"""How fast does the fuzz stage fuzz, per format, and how soon does it find a planted bug?

One command: `python benchmarks/fuzz_throughput.py`. For each format with an
installed safe loader (safetensors, npy, ONNX (onnx + onnxruntime), PyTorch,
HDF5) a small model file is generated, and the loader fuzzer runs on it for
`--seconds` in the real sandbox (jail, rlimits, Landlock, network namespace
where available), exactly as the stage runs a target; ONNX inference fuzzing
is measured the same way. Executions per second count from the start of the
slice, so they include the sandbox start and the loaders' import time. Then a
fixture repository whose PR adds an atheris harness with a planted bug is
scanned with `mlsecops scan --stages fuzz --fuzz-budget 20` several times with
different seeds: the time until the first crash input, and the stage's total
time, are reported. Results go to `benchmarks/results/fuzz.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlsecops.stages.fuzz import loaders, runner  # noqa: E402
from mlsecops.stages.fuzz.landlock import abi  # noqa: E402
from mlsecops.stages.fuzz.policy import FuzzPolicy  # noqa: E402
from mlsecops.stages.fuzz.sandbox import StageGuard  # noqa: E402
from mlsecops.stages.fuzz.targets import Target  # noqa: E402
from tests.fuzz import fixtures  # noqa: E402


def _h5_bytes(tmp: Path) -> bytes:
    import h5py
    import numpy as np

    path = tmp / "m.h5"
    with h5py.File(path, "w") as fh:
        fh.create_dataset("w", data=np.arange(64, dtype=np.float32).reshape(8, 8))
        fh.attrs["note"] = "benchmark"
    return path.read_bytes()


def samples(tmp: Path) -> list[tuple[str, str, bytes]]:
    """(label, format, bytes) for each format whose loader is installed."""
    makers = [("safetensors", "safetensors", fixtures.safetensors_bytes), ("npy", "numpy", fixtures.npy_bytes),
              ("ONNX", "onnx", fixtures.onnx_bytes), ("PyTorch", "pytorch-zip", fixtures.torch_bytes),
              ("HDF5", "hdf5", lambda: _h5_bytes(tmp))]
    out = []
    for label, fmt, make in makers:
        if not loaders.installed(fmt):
            continue
        try:
            out.append((label, fmt, make()))
        except ImportError:
            continue
    return out


def measure(label: str, fmt: str, data: bytes, kind: str, seconds: float, tmp: Path) -> dict[str, object]:
    src = tmp / f"{label}.bin"
    src.write_bytes(data)
    names = ["onnxruntime"] if kind == "inference" else loaders.installed(fmt)
    target = Target(kind=kind, path=src.name, key=f"{kind}:{label}", format=fmt, loaders=names, source=src,  # type: ignore[arg-type]
                    size=len(data), rng_seed=12345)
    started = time.monotonic()
    with StageGuard():
        run = runner.run_target(target, tmp / f"work-{kind}-{label}", FuzzPolicy(), started + seconds, [], tmp)
    wall = time.monotonic() - started
    return {"format": label, "kind": kind, "loaders": ", ".join(f"{n} {loaders.version(n)}" for n in names),
            "bytes": len(data), "executions": run.executions, "seconds": round(wall, 2),
            "per_second": round(run.executions / wall, 1), "crash_inputs": len(run.crashes), "runs": run.runs,
            "crash_kinds": dict(Counter(c.kind for c in run.crashes)),
            "error": run.error or run.note or ""}


def planted(tmp: Path, rounds: int) -> list[dict[str, float]]:
    out = []
    for i in range(rounds):
        repo = fixtures.planted_repo(tmp / f"planted{i}")
        policy = tmp / f"policy{i}.yml"  # outside the repository: a policy the PR adds would not apply
        policy.write_text(f"version: 1\nfuzz:\n  seed: {1000 + i}\n")
        report = tmp / f"planted{i}.json"
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "mlsecops", "scan", str(repo), "--base", "HEAD~1", "--stages", "fuzz",
                               "--fuzz-budget", "20", "--policy", str(policy), "--json", str(report),
                               "--sarif", str(tmp / "x.sarif")],
                              capture_output=True, text=True, cwd=ROOT)
        wall = time.monotonic() - started
        found = [f for f in json.loads(report.read_text())["findings"] if f["stage"] == "fuzz"] if report.exists() else []
        first = None
        for line in proc.stderr.splitlines():
            if "first after" in line:
                first = float(line.rsplit("first after ", 1)[1].rstrip("s"))
        out.append({"found": float(len(found) == 1), "first_crash": first or float("nan"), "stage": wall})
    return out


def render(rows: list[dict[str, object]], bugs: list[dict[str, float]], seconds: float, command: str,
           load: tuple[float, float]) -> str:
    lines = ["# Fuzz stage throughput", "", f"Command: `{command}`", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
             f"Linux {platform.release()}; sandbox: Landlock ABI {abi() or 'unavailable'}, "
             f"running as {'root' if os.geteuid() == 0 else 'an unprivileged user'}; 1-minute load average "
             f"{load[0]:.1f} before and {load[1]:.1f} after the run (the machine is shared: a load above the CPU "
             "count means other work competed for it).", "",
             f"Each target ran alone for a {seconds:.0f} s slice in the sandbox, the way the stage runs it. "
             "Executions per second count from the slice's start, so they include starting the sandbox and "
             "importing the loaders (torch alone takes about 2 s); one execution feeds one input to every loader "
             "listed. Crash inputs are raw (before dedup), by kind: Python exceptions that signal bugs, hangs, memory, "
             "fatal signals. Each hang or fatal signal ends a sandbox run: the next run pays the sandbox start and the "
             "loader's import again, and a hang also costs the per-input time limit.", "",
             "| format | target | loaders | seed bytes | executions | exec/s | crash inputs | sandbox runs |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        kinds = r.get("crash_kinds") or {}
        by_kind = f" ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})" if kinds else ""  # type: ignore[union-attr]
        note = f" ({r['error']})" if r["error"] else ""
        lines.append(f"| {r['format']} | {r['kind']} | {r['loaders']} | {r['bytes']} | {r['executions']} | "
                     f"{r['per_second']} | {r['crash_inputs']}{by_kind}{note} | {r['runs']} |")
    found = sum(b["found"] for b in bugs)
    firsts = [b["first_crash"] for b in bugs if b["first_crash"] == b["first_crash"]]
    lines += ["", "## Planted bug (atheris harness added by a PR, 20 s budget)", "",
              f"{int(found)}/{len(bugs)} runs reported exactly one finding. Time to the first crash input: "
              + (f"median {statistics.median(firsts):.1f} s, max {max(firsts):.1f} s" if firsts else "not found")
              + f"; whole `mlsecops scan` process (start, fuzzing, triage, minimization, base check, reports): "
              f"median {statistics.median(b['stage'] for b in bugs):.1f} s.", ""]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0, help="slice per format (default 10)")
    p.add_argument("--planted-rounds", type=int, default=5)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fuzz.md"))
    args = p.parse_args()
    command = "python benchmarks/fuzz_throughput.py" + (f" --seconds {args.seconds:g}" if args.seconds != 10 else "")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="mlsecops-fuzzbench-") as tmp_s:
        tmp = Path(tmp_s)
        rows = []
        for label, fmt, data in samples(tmp):
            rows.append(measure(label, fmt, data, "loader", args.seconds, tmp))
            print(json.dumps(rows[-1]), flush=True)
            if fmt == "onnx":
                rows.append(measure(label, fmt, data, "inference", args.seconds, tmp))
                print(json.dumps(rows[-1]), flush=True)
        bugs = planted(tmp, args.planted_rounds)
        print(json.dumps(bugs), flush=True)
    Path(args.out).write_text(render(rows, bugs, args.seconds, command, (load_before, os.getloadavg()[0])) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
