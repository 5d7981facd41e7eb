"""Attacks on what the gate reads besides model files: the policy, dependency manifests and the
report paths, as a hostile pull request would mount them. `benchmarks/adversarial.py` runs each
through the CLI and puts its time, memory and outcome in SECURITY.md's table; the tests that
pin each behaviour down are named in `test`.

Every attack's workspace also holds a plain malicious pickle (`zz_evil.pkl`) that must still block.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.adversarial import evasions
from tests.adversarial.harness import GateRun, gate_args, run_gate, run_measured

SENTINEL = "zz_evil.pkl"
UNKNOWN_IMPORT = b"\x80\x02cmypkg.models\nMyModel\nq\x00)\x81q\x01."  # MLS103: blocks under strict only
VULN = "jinja2==2.10"


@dataclass(frozen=True)
class ConfigAttack:
    name: str
    what: str
    limit: str
    test: str
    run: Callable[[Path], tuple[GateRun, str, bool]]  # work folder -> (run, result text, held)


def _git(repo: Path, *args: str) -> str:
    from tests.conftest import git

    return git(repo, *args)


def _pr(repo: Path, base_files: dict[str, str | bytes], head: Callable[[Path], None]) -> tuple[str, str]:
    from tests.conftest import write

    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    write(repo, {"README.md": "demo\n", **base_files})
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    base = _git(repo, "rev-parse", "HEAD")
    head(repo)
    (repo / SENTINEL).write_bytes(evasions.fx.malicious_pickle())
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "head")
    return base, _git(repo, "rev-parse", "HEAD")


def _strict() -> str:
    from mlsecops.policy.source import shipped_path

    return shipped_path("strict").read_text()


def _mls001(run: GateRun) -> dict | None:
    return next((f for f in run.findings if f["rule_id"] == "MLS001"), None)


def _policy_link_out(work: Path) -> tuple[GateRun, str, bool]:
    from mlsecops.policy.source import shipped_path

    def head(repo: Path) -> None:
        (repo / ".mlsecops.yml").unlink()
        os.symlink(shipped_path("audit-only").resolve(), repo / ".mlsecops.yml")
        (repo / "m.pkl").write_bytes(UNKNOWN_IMPORT)

    repo = work / "repo"
    base, h = _pr(repo, {".mlsecops.yml": _strict()}, head)
    run = run_gate(repo, work / "out", "--base", base, "--head", h)
    gate = _mls001(run)
    ok = bool(gate) and gate["status"] == "blocking" and run.blocked("m.pkl") and run.blocked(SENTINEL)  # type: ignore[index]
    return run, ("MLS001 (blocking): the link leads outside the repository; MLS103 blocks under the base's strict"
                 if ok else f"policy {run.report and run.report.get('policy')}, MLS001 {gate and gate['status']}"), ok


def _policy_shipped_name(work: Path) -> tuple[GateRun, str, bool]:
    repo = work / "repo"
    _pr(repo, {}, lambda r: ((r / "strict").write_text("version: 1\n"), (r / "m.pkl").write_bytes(UNKNOWN_IMPORT)))
    run = run_gate(Path("."), work / "out", "--policy", "strict", cwd=repo)
    source = (run.report or {}).get("policy", "")
    ok = source == "policies/strict.yml (shipped)" and run.blocked("m.pkl")
    return run, f"policy applied: {source}; MLS103 {'blocking' if run.blocked('m.pkl') else 'not blocking'}", ok


def _policy_huge(work: Path) -> tuple[GateRun, str, bool]:
    text = "paths: [" + "a, " * 300_000 + "a]\n"
    repo = work / "repo"
    base, h = _pr(repo, {".mlsecops.yml": "version: 1\n"}, lambda r: (r / ".mlsecops.yml").write_text(text))
    run = run_gate(repo, work / "out", "--base", base, "--head", h)
    gate = _mls001(run)
    ok = bool(gate) and gate["status"] == "blocking" and "does not load" in gate["message"] and run.seconds < 20  # type: ignore[index]
    return run, "MLS001 (blocking): does not load (300,001 entries, over 20,000)" if ok else str(gate)[:120], ok


def _advisory_db(work: Path) -> Path:
    from tests.deps.conftest import BASE_RECORDS, write_db

    return write_db(work / "db", BASE_RECORDS)


def _deps_run(work: Path, files: dict[str, str], *extra: str) -> GateRun:
    from tests.conftest import write

    root = work / "ws"
    root.mkdir(parents=True)
    write(root, files)
    (root / SENTINEL).write_bytes(evasions.fx.malicious_pickle())
    return run_gate(root, work / "out", "--advisory-db", str(_advisory_db(work)), *extra, stages="deps,models")


def _yaml_bomb(work: Path) -> tuple[GateRun, str, bool]:
    run = _deps_run(work, {"environment.yml": "dependencies:\n  " + "- " * 60_000 + "x\n", "requirements.txt": VULN + "\n"})
    errors = [e["message"] for e in run.errors if e.get("path") == "environment.yml"]
    ok = run.code == 1 and bool(errors) and run.blocked("requirements.txt") and run.blocked(SENTINEL)
    return run, ("stage error: " + errors[0][:80]) if errors else f"exit {run.code}, no report" if run.report is None else "?", ok


SETUP_TRICKS = {
    "alias": "from setuptools import setup as s\ns(install_requires=['jinja2==2.10'])\n",
    "assigned": "import setuptools\nmk = setuptools.setup\nmk(install_requires=['jinja2==2.10'])\n",
    "wrapped": ("import setuptools\n_r = setuptools.setup\ndef setup(**kw):\n    kw['install_requires'] = ['jinja2==2.10']\n"
                "    _r(**kw)\nsetup(install_requires=['requests==2.31.0'])\n"),
    "reimport": "from setuptools import setup\nREQ = ['requests==2.31.0']\nfrom reqs import REQ\nsetup(install_requires=REQ)\n",
    "alias-mutated": ("from setuptools import setup\nREQ = ['requests==2.31.0']\nR = REQ\nR[0] = 'jinja2==2.10'\n"
                      "setup(install_requires=REQ)\n"),
    "globals": "from setuptools import setup\nREQ = ['requests==2.31.0']\nglobals()['REQ'] = ['jinja2==2.10']\nsetup(install_requires=REQ)\n",
    "dict-held": ("from setuptools import setup\nREQ = ['requests==2.31.0']\nB = {'r': REQ}\nB['r'].append('jinja2==2.10')\n"
                  "setup(install_requires=REQ)\n"),
}


def _setup_tricks(work: Path) -> tuple[GateRun, str, bool]:
    run = _deps_run(work, {f"{name}/setup.py": text for name, text in SETUP_TRICKS.items()})
    heard = [n for n in SETUP_TRICKS if {"MLS201", "MLS203"} & run.rules_for(f"{n}/setup.py")]
    ok = len(heard) == len(SETUP_TRICKS) and run.blocked(SENTINEL)
    return run, f"{len(heard)}/{len(SETUP_TRICKS)} reported (MLS201 or MLS203)", ok


def _requirements_link(work: Path) -> tuple[GateRun, str, bool]:
    repo = work / "repo"
    base, h = _pr(repo, {"deps/prod.pip": VULN + "\n"}, lambda r: os.symlink("deps/prod.pip", r / "requirements.txt"))
    run = run_gate(repo, work / "out", "--base", base, "--head", h, "--advisory-db", str(_advisory_db(work)),
                   stages="deps,models")
    ok = run.blocked("requirements.txt") and run.blocked(SENTINEL)
    return run, "MLS201 (blocking) on requirements.txt" if ok else f"{sorted(run.rules_for('requirements.txt'))}", ok


def _report_link(work: Path) -> tuple[GateRun, str, bool]:
    root = work / "ws"
    root.mkdir(parents=True)
    (root / SENTINEL).write_bytes(evasions.fx.malicious_pickle())
    os.symlink("/dev/stdout", root / "mlsecops.sarif")
    out = work / "out"
    args = [a if a != str(out / "report.sarif") else "mlsecops.sarif" for a in gate_args(Path("."), out)]
    code, seconds, peak = run_measured(args, out, cwd=root, timeout=120)
    stdout = (out / "stdout.txt").read_text(errors="replace")
    import json

    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else None
    run = GateRun(code=code, stdout=stdout, stderr="", seconds=seconds, max_rss_mb=peak, out=out, report=report)
    sarif = root / "mlsecops.sarif"
    ok = '"runs"' not in stdout and sarif.is_file() and not sarif.is_symlink() and run.blocked(SENTINEL)
    return run, "the link is replaced by the report; nothing reaches the log" if ok else "SARIF written into stdout", ok


CONFIG_ATTACKS = [
    ConfigAttack("policy-link-out", "a PR turns `.mlsecops.yml` (base: `strict`) into a link to the installed gate's "
                 "`audit-only.yml`, outside the repository", "the base commit's policy applies; links followed inside the "
                 "repository only", "tests/policy/test_policy_tamper.py", _policy_link_out),
    ConfigAttack("policy-shipped-name", "the workflow says `--policy strict`; the PR adds a file named `strict` (`version: 1`)",
                 "a shipped name is always the shipped policy", "tests/policy/test_policy_tamper.py", _policy_shipped_name),
    ConfigAttack("policy-huge", "a PR proposes a 1 MiB `.mlsecops.yml` of 300,001 path globs (30 s to parse and validate on "
                 "63d6cc2; one 1 MB glob took over a minute)",
                 "20,000 entries, 4,096-character globs, 500 levels: a few seconds", "tests/policy/test_policy_tamper.py",
                 _policy_huge),
    ConfigAttack("deps-yaml-bomb", "environment.yml of 60,000 nested block sequences (120 KB) beside a vulnerable "
                 "requirements.txt (SIGSEGV of the whole gate on 63d6cc2: no report)", "500 levels checked before libyaml "
                 "composes", "tests/deps/test_hidden_pins.py", _yaml_bomb),
    ConfigAttack("deps-setup-tricks", f"{len(SETUP_TRICKS)} setup.py files hiding jinja2 2.10 (aliased or wrapped setup(), a "
                 "name rebound by an import, mutated through an alias or a dict, rewritten through globals())",
                 "audited as written, or MLS203 (never silence)", "tests/deps/test_hidden_pins.py", _setup_tricks),
    ConfigAttack("deps-requirements-link", "a PR adds `requirements.txt -> deps/prod.pip` (jinja2 2.10), which pip follows",
                 "links read inside the scanned folder", "tests/deps/test_hidden_pins.py", _requirements_link),
    ConfigAttack("report-link", "the repository commits `mlsecops.sarif -> /dev/stdout`; CI runs `--sarif mlsecops.sarif` "
                 "(the Action hung on it until the job timeout on 63d6cc2)", "a link at a report path is replaced, never "
                 "followed", "tests/adversarial/test_faults.py, test_action.py", _report_link),
]


if __name__ == "__main__":  # run one by name: python -m tests.adversarial.config_attacks policy-huge
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for attack in CONFIG_ATTACKS:
            if len(sys.argv) > 1 and attack.name not in sys.argv[1:]:
                continue
            run, text, held = attack.run(Path(tmp) / attack.name)
            print(attack.name, f"{run.seconds:.1f}s", f"{run.max_rss_mb:.0f}MiB", text, "held" if held else "FAILED")
