#!/usr/bin/env python
"""Does mlsecops's deps stage report, id for id, what pip-audit itself reports on the same records?

A requirements file of ML-stack pins at known-vulnerable versions is audited
three ways against one OSV database (by default `../shared/advisory-db`):

1. the real `pip-audit` CLI (`-s osv --no-deps --disable-pip -f json`) pointed
   with `--osv-url` at a local HTTP server that answers OSV's `POST /v1/query`
   from the database's records;
2. `mlsecops scan --stages deps --osv-url` against that same server (the
   online path);
3. `mlsecops scan --stages deps --advisory-db` (the offline path), cold (no
   index cache) and warm.

The server decides which records affect a version with its own, deliberately
separate implementation of the OSV rules (intervals built from the sorted
events, plus the `versions` lists), so the offline comparison does not check
mlsecops's matcher against itself. The vulnerability ids per package must be
equal; aliases and fix versions are compared and reported too. Figures go to
`benchmarks/results/deps.md`. Exit code 0 when everything matches.

    python benchmarks/deps_match.py --advisory-db ../shared/advisory-db
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DB = REPO / ".." / "shared" / "advisory-db"

ML_STACK = """\
# ML-stack pins at versions with published advisories (and a few without any)
torch==1.13.0
tensorflow==2.4.0
tensorflow-cpu==2.4.0
transformers==4.30.0
mlflow==2.1.0
jinja2==2.10
requests==2.19.0
pillow==9.0.0
numpy==1.16.0
gradio==3.13.0
langchain==0.0.171
llama-index==0.9.0
scikit-learn==0.23.0
pyyaml==5.3
urllib3==1.24.1
aiohttp==3.8.0
werkzeug==2.2.2
fastapi==0.60.0
starlette==0.25.0
onnx==1.12.0
paddlepaddle==2.4.0
nltk==3.6.5
notebook==6.4.0
lxml==4.6.2
cryptography==3.2
setuptools==65.5.0
pyarrow==14.0.0
scipy==1.5.0
pandas==1.0.0
joblib==1.1.0
dask==2021.9.0
opencv-python==4.1.0.25
tqdm==4.65.0
protobuf==3.15.0
huggingface-hub==0.10.0
safetensors==0.3.0
"""

Ids = dict[str, dict[str, dict[str, Any]]]  # package -> vuln id -> {aliases, fixes}


def load_records(db: Path) -> dict[str, list[dict[str, Any]]]:
    """Every record of a folder database, by canonical package name (YAML or JSON)."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(db.rglob("*")):
        if path.suffix not in (".yaml", ".yml", ".json") or not path.is_file():
            continue
        text = path.read_bytes()
        record = json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=yaml.CBaseLoader)
        for affected in record.get("affected") or []:
            pkg = affected.get("package") or {}
            if pkg.get("ecosystem") == "PyPI":
                by_name.setdefault(canonicalize_name(pkg.get("name", "")), []).append(record)
    return by_name


def _v(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def server_affected(record: dict[str, Any], name: str, version: Version) -> bool:
    """The server's own OSV matching: explicit versions, then [introduced, fixed) intervals."""
    for affected in record.get("affected") or []:
        pkg = affected.get("package") or {}
        if pkg.get("ecosystem") != "PyPI" or canonicalize_name(pkg.get("name", "")) != name:
            continue
        if any(_v(listed) == version for listed in affected.get("versions") or []):
            return True
        for rng in affected.get("ranges") or []:
            if rng.get("type") not in ("ECOSYSTEM", "SEMVER"):
                continue
            points = []
            for event in rng.get("events") or []:
                (kind, value), = event.items()
                points.append((Version("0") if value == "0" else _v(value), kind))
            points.sort(key=lambda p: (p[0] is not None, p[0]))
            start = None
            for at, kind in points:
                if kind == "introduced" and start is None:
                    start = at
                elif kind in ("fixed", "last_affected") and start is not None:
                    inside = start <= version < at if kind == "fixed" else start <= version <= at
                    if inside:
                        return True
                    start = None
            if start is not None and start <= version:
                return True
    return False


class OsvApi:
    """A local HTTP server that speaks OSV's `POST /v1/query` over a set of records."""

    def __init__(self, records: dict[str, list[dict[str, Any]]], fail_with: int | None = None) -> None:
        self.records, self.fail_with, self.queries = records, fail_with, 0
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                api.queries += 1
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if self.path != "/v1/query" or api.fail_with:
                    self.send_error(api.fail_with or 404)
                    return
                name = canonicalize_name(body["package"]["name"])
                version = Version(body["version"])
                vulns = [r for r in api.records.get(name, []) if server_affected(r, name, version)]
                data = json.dumps({"vulns": vulns} if vulns else {}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OsvApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def run_pip_audit(requirements: Path, url: str, workdir: Path) -> tuple[Ids, float]:
    exe = Path(sys.executable).with_name("pip-audit")
    cmd = [str(exe), "-r", str(requirements), "--no-deps", "--disable-pip", "-s", "osv", "--osv-url", f"{url}/v1/query",
           "-f", "json", "--aliases", "on", "--progress-spinner", "off", "--cache-dir", str(workdir / "pip-audit-cache")]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - started
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"pip-audit failed ({proc.returncode}): {proc.stderr[-2000:]}")
    out: Ids = {}
    for dep in json.loads(proc.stdout)["dependencies"]:
        pinned = Version(dep["version"])
        out[canonicalize_name(dep["name"])] = {
            v["id"]: {"aliases": sorted(v.get("aliases", [])), "fixes": sorted(f for f in v["fix_versions"] if Version(f) > pinned)}
            for v in dep.get("vulns", [])
        }
    return out, seconds


def run_mlsecops(folder: Path, workdir: Path, *args: str) -> tuple[Ids, float, dict[str, Any]]:
    report = workdir / f"mlsecops-{time.monotonic_ns()}.json"
    cmd = [sys.executable, "-m", "mlsecops", "scan", str(folder), "--stages", "deps", "--json", str(report),
           "--sarif", str(workdir / "out.sarif"), "-q", *args]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    seconds = time.monotonic() - started
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"mlsecops failed ({proc.returncode}): {proc.stderr[-2000:]}")
    data = json.loads(report.read_text())
    out: Ids = {}
    for f in data["findings"]:
        if f["rule_id"] == "MLS201":
            out.setdefault(canonicalize_name(f["package"]), {})[f["vuln_id"]] = {"aliases": sorted(f.get("aliases", [])), "fixes": f.get("fix_versions", [])}
    return out, seconds, data


def differences(expected: Ids, got: Ids, field: str | None = None) -> list[str]:
    """Per package, ids (or one field of each id) that differ; empty when equal."""
    out = []
    for pkg in sorted(set(expected) | set(got)):
        a, b = expected.get(pkg, {}), got.get(pkg, {})
        if set(a) != set(b):
            out.append(f"{pkg}: only pip-audit {sorted(set(a) - set(b))}, only mlsecops {sorted(set(b) - set(a))}")
        elif field:
            out.extend(f"{pkg} {i}: {field} {a[i][field]} vs {b[i][field]}" for i in sorted(a) if a[i][field] != b[i][field])
    return out


def compare(db: Path, workdir: Path, online: bool = True, warm: bool = True) -> dict[str, Any]:
    """Run every audit of ML_STACK against `db`; return the id sets, differences and timings."""
    folder = workdir / "ml-stack"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "requirements.txt").write_text(ML_STACK, encoding="utf-8")
    started = time.monotonic()
    records = load_records(db)
    result: dict[str, Any] = {"server_load_seconds": time.monotonic() - started, "runs": {}}
    with OsvApi(records) as api:
        result["pip_audit"], result["pip_audit_seconds"] = run_pip_audit(folder / "requirements.txt", api.url, workdir)
        if online:
            result["runs"]["online"] = run_mlsecops(folder, workdir, "--osv-url", api.url, "--no-cache")
    result["runs"]["offline-cold"] = run_mlsecops(folder, workdir, "--advisory-db", str(db), "--no-cache")
    if warm:
        cache = ["--advisory-db", str(db), "--cache-dir", str(workdir / "cache")]
        run_mlsecops(folder, workdir, *cache)
        result["runs"]["offline-warm"] = run_mlsecops(folder, workdir, *cache)
    for name, (ids, seconds, report) in list(result["runs"].items()):
        diff = {"ids": differences(result["pip_audit"], ids), "aliases": differences(result["pip_audit"], ids, "aliases"),
                "fixes": differences(result["pip_audit"], ids, "fixes"), "errors": report["errors"]}
        result["runs"][name] = (ids, seconds, report, diff)
    return result


def _markdown(result: dict[str, Any], db: Path, command: str) -> str:
    expected: Ids = result["pip_audit"]
    total = sum(len(v) for v in expected.values())
    lines = ["# Deps stage vs pip-audit (id-for-id)", "", f"Command: `{command}`", "",
             f"Database: `{os.path.relpath(db, REPO)}` ({sum(1 for _ in db.rglob('*.yaml'))} YAML records). Requirements: "
             f"{ML_STACK.count('==')} ML-stack pins (`benchmarks/deps_match.py`, `ML_STACK`).", "",
             f"pip-audit 2.10.1 (`-s osv --no-deps --disable-pip -f json`, `--osv-url` on a local OSV API over the same "
             f"records): **{total} vulnerabilities** in {sum(1 for v in expected.values() if v)} packages, "
             f"{result['pip_audit_seconds']:.2f} s (the server's {result['server_load_seconds']:.1f} s to load the records not included).", "",
             "| mlsecops run | vulnerabilities | ids equal | aliases equal | fix versions equal | stage errors | deps stage | wall time |",
             "|---|---|---|---|---|---|---|---|"]
    for name, (ids, seconds, report, diff) in result["runs"].items():
        lines.append(f"| {name} | {sum(len(v) for v in ids.values())} | {'yes' if not diff['ids'] else 'NO'} | "
                     f"{'yes' if not diff['aliases'] else len(diff['aliases'])} | {'yes' if not diff['fixes'] else len(diff['fixes'])} | "
                     f"{len(diff['errors'])} | {report['stages']['deps']['seconds']:.2f} s | {seconds:.2f} s |")
    lines += ["", "Wall times are whole CLI processes (interpreter start, imports, reports); *deps stage* is the stage's "
              "own time from the JSON report (it includes importing pip-audit, about 1 s). *online*: `--osv-url` to the "
              "same local server; *offline-cold*: `--advisory-db` with no index cache (every record parsed); "
              "*offline-warm*: the same with the JSON index cache of a previous run.", "",
              "| package | pinned | pip-audit ids |", "|---|---|---|"]
    pins = {canonicalize_name(line.split("==")[0]): line.split("==")[1] for line in ML_STACK.splitlines() if "==" in line}
    for pkg in sorted(pins):
        ids = sorted(expected.get(pkg, {}))
        shown = ", ".join(ids[:6]) + (f" … (+{len(ids) - 6})" if len(ids) > 6 else "")
        lines.append(f"| {pkg} | {pins[pkg]} | {len(ids)}{': ' + shown if ids else ''} |")
    problems = [f"- {name}: {d}" for name, run in result["runs"].items() for key in ("ids", "aliases", "fixes") for d in run[3][key]]
    if problems:
        lines += ["", "## Differences", "", *problems[:200]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--advisory-db", type=Path, default=DEFAULT_DB, help="folder of OSV records (default ../shared/advisory-db)")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "deps.md")
    args = p.parse_args(argv)
    db = args.advisory_db.resolve()
    if not db.is_dir():
        print(f"no advisory database at {db}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="deps-match-") as tmp:
        result = compare(db, Path(tmp))
    command = "python benchmarks/deps_match.py --advisory-db " + os.path.relpath(db, REPO)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(_markdown(result, db, command), encoding="utf-8")
    ok = all(not run[3]["ids"] and not run[3]["errors"] for run in result["runs"].values())
    for name, (ids, seconds, _, diff) in result["runs"].items():
        print(f"{name:13} {sum(len(v) for v in ids.values()):4} vulns  ids {'match' if not diff['ids'] else 'DIFFER'}  "
              f"aliases {'match' if not diff['aliases'] else 'differ'}  fixes {'match' if not diff['fixes'] else 'differ'}  {seconds:.2f}s")
    print(f"pip-audit     {sum(len(v) for v in result['pip_audit'].values()):4} vulns  {result['pip_audit_seconds']:.2f}s; wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
