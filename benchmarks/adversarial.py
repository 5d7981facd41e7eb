"""Adversarial benchmark: every resource attack at full size, the evasion set, hostile file
names and mid-scan races, each against the CLI as CI runs it, with the time and peak
memory it cost. Writes benchmarks/results/adversarial.md and refreshes the same table in
SECURITY.md (between its `adversarial-table` markers).

    python benchmarks/adversarial.py            # everything (a few minutes)
    python benchmarks/adversarial.py --quick    # test-sized attacks

Each resource attack shares its folder with a plain malicious pickle that must still be
found. Time is the CLI's wall clock (start-up included); memory is the peak RSS of the
largest process, the CLI or any of its workers (getrusage of a small launcher's children).
The attacks are defined once, in tests/adversarial/catalogue.py.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tests.adversarial import evasions  # noqa: E402
from tests.adversarial.catalogue import ATTACKS, Attack  # noqa: E402
from tests.adversarial.harness import policy_file, run_gate, run_measured  # noqa: E402
from tests.adversarial.races import RACES  # noqa: E402

SENTINEL = "zz_evil.pkl"


def _outcome(attack: Attack, run: Any) -> str:
    target = attack.target
    if run.report is None:
        return f"no report (exit {run.code})"
    rules = sorted(run.rules_for(target))
    errors = [e["message"] for e in run.errors if e.get("path") == target]
    if rules:
        return ", ".join(rules) + (" (blocking)" if run.blocked(target) else "")
    if errors:
        return "stage error: " + errors[0][:100]
    return "skipped (not opened)"


def _held(attack: Attack, run: Any) -> bool:
    if run.report is None or run.timed_out or not run.blocked(SENTINEL):
        return False
    if any(not e.get("path") for e in run.errors):
        return False
    if attack.expect.startswith("MLS"):
        ok = attack.expect in run.rules_for(attack.target)
    elif attack.expect == "skipped":
        ok = not run.rules_for(attack.target) and not run.errored(attack.target)
    else:
        ok = True
    return ok and run.seconds < attack.limits["timeout_seconds"] + 20 and run.max_rss_mb < attack.limits["memory_mb"]


def resource_rows(big: bool, work: Path) -> list[list[str]]:
    rows = []
    for attack in ATTACKS:
        root = work / attack.name / "ws"
        root.mkdir(parents=True)
        if not attack.build(root, big):
            rows.append([attack.what, attack.limit, "not run here (needs privileges)", "", "", ""])
            continue
        size = sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())
        (root / SENTINEL).write_bytes(evasions.fx.malicious_pickle())
        policy = policy_file(work / attack.name / "policy", **attack.limits)
        run = run_gate(root, work / attack.name / "out", policy=policy, timeout=attack.limits["timeout_seconds"] + 120)
        print(f"  {attack.name}: {run.seconds:.1f}s {run.max_rss_mb:.0f} MiB {_outcome(attack, run)}", file=sys.stderr)
        rows.append([
            f"{attack.what} [{_size(size)} on disk]", attack.limit, _outcome(attack, run),
            "yes" if run.blocked(SENTINEL) else "**NO**", f"{run.seconds:.1f}", f"{run.max_rss_mb:.0f}",
            "held" if _held(attack, run) else "**FAILED**",
        ])
    return rows


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n:.0f} TB"


def evasion_row(work: Path) -> list[str]:
    files = evasions.files(work)
    root = work / "evasion" / "ws"
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    run = run_gate(root, work / "evasion" / "out", timeout=300)
    blocked = sum(1 for rel in files if run.blocked(rel))
    return [f"evasion set: {len(files)} variants (protocols, openings without PROTO, INST/OBJ/NEWOBJ_EX, EXT, memo and "
            "stack tricks, dotted and Python 2 names, nested pickles, 36 gadgets, 22 containers and compressions, "
            "polyglots, misleading names)", "default policy", f"{blocked}/{len(files)} blocked", "-",
            f"{run.seconds:.1f}", f"{run.max_rss_mb:.0f}", "held" if blocked == len(files) else "**FAILED**"]


def names_row(work: Path) -> list[str]:
    from tests.adversarial.test_escapes import HOSTILE_NAMES, _command_lines, _hostile_workspace

    _hostile_workspace(work / "names" / "ws")
    run = run_gate(work / "names" / "ws", work / "names" / "out", markdown=True, timeout=180)
    injected = _command_lines(run.stdout) + _command_lines(run.stderr)
    ok = not injected and run.report is not None and not run.errors
    return [f"{len(HOSTILE_NAMES)} hostile file names (newlines, `::`, `%0A`, `##[`, HTML, Markdown links, ANSI, "
            "mentions, RTL override, invalid UTF-8)", "escaping in every reporter",
            "all scanned; no command, markup or broken SARIF" if ok else f"{len(injected)} injected lines",
            "yes" if run.blocked(SENTINEL) else "**NO**", f"{run.seconds:.1f}", f"{run.max_rss_mb:.0f}",
            "held" if ok else "**FAILED**"]


def policy_row(work: Path) -> list[str]:
    """Issue 13.1: a pull request loosens the policy while the base policy makes the first stage that
    runs advisory (`deps.fail_on: never`); the policy change must still block, judged by the gate."""
    from tests.conftest import make_repo

    repo = work / "policy" / "repo"
    base_policy = "version: 1\ndeps:\n  fail_on: never\nmodels:\n  fail_on: high\n"
    loose = ("version: 1\ndeps:\n  fail_on: never\nmodels:\n  fail_on: never\n"
             "waivers:\n  - {rule: MLS1*, path: '**', reason: trust me, expires: 2099-01-01}\n")
    base, head = make_repo(repo, {".mlsecops.yml": base_policy, "README.md": "demo\n"},
                           {".mlsecops.yml": loose, SENTINEL: evasions.fx.malicious_pickle()})
    run = run_gate(repo, work / "policy" / "out", "--base", base, "--head", head, stages="deps,models", timeout=180)
    gate = [f for f in run.findings if f["rule_id"] == "MLS001"]
    ok = run.code == 1 and bool(gate) and gate[0]["stage"] == "gate" and gate[0]["status"] == "blocking"
    result = (f"MLS001 ({gate[0]['status']}, stage {gate[0]['stage']}; {gate[0]['properties'].get('loosens')} "
              "loosenings listed)") if gate else "no MLS001"
    return ["a PR loosening `.mlsecops.yml` (models.fail_on: never, a waiver for MLS1*), scanned with "
            "`--stages deps,models` while the base policy says `deps.fail_on: never`",
            "gate.fail_on judges the policy change, whichever stages run", result,
            "yes" if run.blocked(SENTINEL) else "**NO**", f"{run.seconds:.1f}", f"{run.max_rss_mb:.0f}",
            "held" if ok and run.blocked(SENTINEL) else "**FAILED**"]


def race_rows(work: Path) -> list[list[str]]:
    rows = []
    for kind, what in RACES.items():
        folder = work / f"race-{kind}"
        folder.mkdir()
        code = ("import json, sys; from pathlib import Path; from tests.adversarial.races import run_race; "
                f"print(json.dumps(run_race({kind!r}, Path({str(folder)!r}))))")
        exit_code, seconds, peak = run_measured([sys.executable, "-c", code], folder / "log", cwd=ROOT)
        out = json.loads((folder / "log" / "stdout.txt").read_text() or "{}")
        ok = bool(out.get("sentinel")) and bool(out.get("errors")) and exit_code == 0
        rows.append([f"a file {what}", "lstat at listing; O_NOFOLLOW, O_NONBLOCK and fstat at open",
                     "stage error: " + (out.get("errors") or ["none"])[0][:100], "yes" if out.get("sentinel") else "**NO**",
                     f"{seconds:.1f}", f"{peak:.0f}", "held" if ok else "**FAILED**"])
    return rows


HEAD = ["Attack", "Limit that must hold", "Result on the hostile file", "Other malicious file still found",
        "Time (s)", "Peak RSS (MiB)", ""]
START, END = "<!-- adversarial-table:start", "<!-- adversarial-table:end -->"


def table(rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    return lines + ["| " + " | ".join(r + [""] * (len(HEAD) - len(r))) + " |" for r in rows]


def update_security_md(path: Path, rows: list[list[str]], command: str) -> bool:
    """Replace the table between SECURITY.md's markers; False when the markers are missing."""
    text = path.read_text() if path.exists() else ""
    if START not in text or END not in text:
        return False
    head, rest = text.split(START, 1)
    marker_line, _, _ = rest.partition("\n")
    _, tail = rest.split(END, 1)
    block = [START + marker_line, f"Measured by `{command}` on {datetime.date.today().isoformat()}.", "", *table(rows), END]
    path.write_text(head + "\n".join(block) + tail)
    return True


def render(rows: list[list[str]], command: str, seconds: float) -> str:
    lines = [
        "## Adversarial: attacks on the gate itself",
        "",
        f"Command: `{command}` · {datetime.date.today().isoformat()} · {seconds:.0f} s in all",
        "",
        "Each attack runs through the CLI as CI runs it (`--stages models`, workers and all), beside a plain "
        "malicious pickle that must still be blocked. Limits come from the policy the attack runs under "
        "(`timeout_seconds: 30`, `memory_mb: 768`, `max_expanded_mb: 64`, else the defaults). Time is wall clock "
        "including start-up (about 1 s); peak RSS is the largest single process, the CLI or a worker. "
        "\"held\" means: the expected answer, within the per-file time and memory limits, and the scan went on.",
        "",
        *table(rows),
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="test-sized attacks")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "adversarial.md")
    args = ap.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mlsecops-adversarial-") as tmp:
        work = Path(tmp)
        print("resource attacks", file=sys.stderr)
        rows = resource_rows(not args.quick, work)
        print("evasion, names, races", file=sys.stderr)
        rows.append(evasion_row(work))
        rows.append(names_row(work))
        rows.append(policy_row(work))
        rows += race_rows(work)
    command = "python benchmarks/adversarial.py" + (" --quick" if args.quick else "")
    text = render(rows, command, time.monotonic() - started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    if not args.quick and update_security_md(ROOT / "SECURITY.md", rows, command):
        print("updated the table in SECURITY.md", file=sys.stderr)
    print(text)
    return 0 if all(r[-1] in ("held", "") for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
