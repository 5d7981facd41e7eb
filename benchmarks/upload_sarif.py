"""upload-sarif on a pull request that flags a 1 GiB model: how long github/codeql-action's own
processing takes on our SARIF, and what it said.

    python benchmarks/upload_sarif.py --codeql-action BUILD [--size-mib 1024] [--legacy-mib 100]

BUILD is codeql-action's compiled `build/` folder (a checkout of github/codeql-action with its
TypeScript compiled; also read from CODEQL_ACTION_BUILD). node runs upload_sarif_harness.js,
which calls upload-sarif's postProcessSarifFiles (schema validation, the one-run-per-category
check, fingerprinting, automation details) and the checks before its upload request on the
SARIF `mlsecops scan` wrote for a repository with:

- models/flagged.pkl: a pickle that calls os.system, carrying SIZE MiB of noise-like bytes (the weights);
- requirements.txt: pins with known advisories (examples/advisories), a text file.

It records the seconds, the warnings upload-sarif logged, which results it would hash, and, with
our primaryLocationLineHash removed from the text results, whether the values upload-sarif then
computes itself equal ours. For comparison it times the previous SARIF shape (every result with
`region.startLine` 1 and our own hash) on a LEGACY MiB model, which upload-sarif reads whole.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlsecops import __version__, fixtures

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HARNESS = HERE / "upload_sarif_harness.js"
MIB = 1 << 20
REQUIREMENTS = "# service pins\nnumpy==1.16.0\njinja2==2.10\npyyaml==5.3\nrequests==2.19.0\n"


def flagged_pickle(path: Path, size: int) -> None:
    """PROTO 4, os.system('echo flagged') called and popped, then `size` bytes as one BINBYTES8, STOP."""
    call = fixtures.call(fixtures.glob4("os", "system"), fixtures.s("echo flagged"))
    chunk = random.Random(0).randbytes(MIB)  # weights look like noise to a UTF-8 decoder
    with path.open("wb") as fh:
        fh.write(b"\x80\x04" + call + b"0" + b"\x8e" + struct.pack("<Q", size))
        left = size
        while left:
            n = min(left, len(chunk))
            fh.write(chunk[:n])
            left -= n
        fh.write(b"0.")


def make_repo(work: Path, size: int) -> Path:
    repo = work / f"repo-{size // MIB}m"
    if not (repo / "models" / "flagged.pkl").exists() or (repo / "models" / "flagged.pkl").stat().st_size < size:
        shutil.rmtree(repo, ignore_errors=True)
        (repo / "models").mkdir(parents=True)
        flagged_pickle(repo / "models" / "flagged.pkl", size)
    (repo / "requirements.txt").write_text(REQUIREMENTS)
    return repo


def scan(repo: Path, out: Path) -> float:
    started = time.monotonic()
    proc = subprocess.run([str(Path(sys.executable).with_name("mlsecops")), "scan", str(repo), "--stages", "deps,models",
                           "--advisory-db", str(ROOT / "examples" / "advisories"), "--sarif", str(out), "--no-cache", "-q"],
                          capture_output=True, text=True)
    if proc.returncode != 1:
        raise SystemExit(f"upload_sarif.py: expected the scan to block (exit 1), got {proc.returncode}\n{proc.stderr}")
    return time.monotonic() - started


def harness(build: Path, sarif: Path, checkout: Path) -> tuple[dict, float]:
    started = time.monotonic()
    proc = subprocess.run(["node", str(HARNESS), "process", str(sarif), str(checkout)], capture_output=True, text=True,
                          env={**os.environ, "CODEQL_ACTION_BUILD": str(build)}, timeout=6 * 3600)
    if proc.returncode != 0:
        raise SystemExit(f"upload_sarif.py: the harness failed\n{proc.stderr}")
    return json.loads(proc.stdout), time.monotonic() - started


def results(doc: dict) -> list[dict]:
    return [r for run in doc["runs"] for r in run["results"]]


def without_text_hashes(doc: dict) -> dict:
    """Our SARIF with primaryLocationLineHash removed where a result has a line: upload-sarif fills those in."""
    doc = copy.deepcopy(doc)
    for r in results(doc):
        if "region" in r["locations"][0]["physicalLocation"]:
            del r["partialFingerprints"]["primaryLocationLineHash"]
    return doc


def legacy_shape(doc: dict) -> dict:
    """The shape before this change: every result had region.startLine (1 for binary files) and our own hash."""
    doc = copy.deepcopy(doc)
    for r in results(doc):
        loc = r["locations"][0]["physicalLocation"]
        loc.setdefault("region", {"startLine": 1})
        r["partialFingerprints"]["primaryLocationLineHash"] = f"{r['partialFingerprints']['mlsecops/v1']}:1"
    return doc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--codeql-action", type=Path, default=os.environ.get("CODEQL_ACTION_BUILD"),
                    help="codeql-action's compiled build/ folder")
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--legacy-mib", type=int, default=100, help="model size for the previous SARIF shape (0: skip)")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "mlsecops-upload-sarif",
                    help="outside any git work tree, so SARIF paths are relative to the scanned folder")
    ap.add_argument("--skip-if-missing", action="store_true", help="exit 0 without a codeql-action build or node (make bench)")
    args = ap.parse_args()
    missing = not args.codeql_action or not (Path(args.codeql_action) / "upload-lib.js").exists() or not shutil.which("node")
    if missing and args.skip_if_missing:
        print("upload_sarif.py: no codeql-action build (CODEQL_ACTION_BUILD) or no node: skipped; results/upload_sarif.md kept")
        return 0
    if not args.codeql_action or not (Path(args.codeql_action) / "upload-lib.js").exists():
        raise SystemExit("upload_sarif.py: --codeql-action must be codeql-action's compiled build/ folder (upload-lib.js)")
    if not shutil.which("node"):
        raise SystemExit("upload_sarif.py: node is needed to run codeql-action's code")
    build = Path(args.codeql_action).resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["git", "-C", str(args.work), "rev-parse"], capture_output=True).returncode == 0:
        raise SystemExit(f"upload_sarif.py: {args.work} is inside a git work tree; choose --work outside it")
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    cq_version = json.loads((build.parent / "package.json").read_text()).get("version", "?") if (build.parent / "package.json").exists() else "?"

    load = os.getloadavg()[0]
    repo = make_repo(args.work, args.size_mib * MIB)
    ours = args.work / "ours.sarif"
    scan_s = scan(repo, ours)
    doc = json.loads(ours.read_text())
    ran, wall = harness(build, ours, repo)
    if ran["error"]:
        raise SystemExit(f"upload_sarif.py: upload-sarif rejected our SARIF: {ran['error']}")
    filled = args.work / "ours-without-text-hashes.sarif"
    filled.write_text(json.dumps(without_text_hashes(doc)))
    recomputed, _ = harness(build, filled, repo)
    pairs = [(mine["partialFingerprints"]["primaryLocationLineHash"], theirs["primaryLocationLineHash"])
             for mine, theirs in zip(results(doc), [r for run in recomputed["runs"] for r in run["results"]], strict=True)
             if "region" in mine["locations"][0]["physicalLocation"]]
    theirs = [t for _, t in pairs]
    agree = sum(1 for mine, t in pairs if mine == t)
    model = next(r for r in results(doc) if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "models/flagged.pkl")

    lines = [
        "## SARIF upload: upload-sarif's own processing on a PR that flags a 1 GiB model",
        "",
        f"Command: `python benchmarks/upload_sarif.py --codeql-action BUILD --size-mib {args.size_mib} --legacy-mib {args.legacy_mib}` · "
        f"{datetime.date.today()} · mlsecops {__version__} · github/codeql-action {cq_version} (its compiled modules, run by "
        f"`benchmarks/upload_sarif_harness.js` with node {node}) · load average {load:.1f} on {os.cpu_count()} cores at the start",
        "",
        "The harness calls upload-sarif's `postProcessSarifFiles` (read, schema validation, one run per category, "
        "fingerprinting, automation details) and `validateUniqueCategory`, then serialises and gzips the result: "
        "everything upload-sarif does before its HTTP request.",
        "",
        "| SARIF | model | upload-sarif processing | node, start to exit | warnings | outcome |",
        "|---|---|---|---|---|---|",
        f"| this version | {args.size_mib} MiB | {ran['seconds']:.2f} s | {wall:.2f} s | {len(ran['warnings'])} | accepted, "
        f"{sum(len(r['results']) for r in ran['runs'])} results in {len(ran['runs'])} runs, {ran['zippedBytes']:,} bytes gzipped |",
    ]
    legacy_note = ""
    if args.legacy_mib:
        legacy_repo = make_repo(args.work, args.legacy_mib * MIB)
        legacy_sarif = args.work / "legacy.sarif"
        scan(legacy_repo, args.work / "legacy-source.sarif")
        legacy_sarif.write_text(json.dumps(legacy_shape(json.loads((args.work / "legacy-source.sarif").read_text()))))
        old, old_wall = harness(build, legacy_sarif, legacy_repo)
        mismatch = sum(1 for w in old["warnings"] if "inconsistent fingerprint" in w)
        lines.append(f"| previous shape (region line 1 everywhere, own hashes) | {args.legacy_mib} MiB | {old['seconds']:.2f} s | "
                     f"{old_wall:.2f} s | {len(old['warnings'])} ({mismatch} 'inconsistent fingerprint') | "
                     f"{'accepted' if not old['error'] else old['error']} |")
        legacy_note = (f" The previous shape made upload-sarif read the whole model to hash its line 1: "
                       f"{old['seconds'] / args.legacy_mib:.2f} s per MiB here, so about "
                       f"{old['seconds'] / args.legacy_mib * args.size_mib / 60:.0f} minutes for {args.size_mib} MiB.")
    lines += [
        "",
        f"The scan that wrote the SARIF (deps + models, offline advisories) took {scan_s:.1f} s. The model's result has no "
        f"`region` (`{json.dumps(model['locations'][0]['physicalLocation'])}`), so upload-sarif skips it without opening the "
        f"file; its `primaryLocationLineHash` is ours (`{model['partialFingerprints']['primaryLocationLineHash']}`).{legacy_note}",
        "",
        f"Text results keep their line: with our `primaryLocationLineHash` removed from them, upload-sarif computed its own "
        f"for {len(theirs)} results and {agree} equal ours (with ours present it logged "
        f"{sum(1 for w in ran['warnings'] if 'inconsistent fingerprint' in w)} 'inconsistent fingerprint' warnings).",
        "",
    ]
    out = HERE / "results" / "upload_sarif.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0 if not ran["warnings"] and agree == len(theirs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
