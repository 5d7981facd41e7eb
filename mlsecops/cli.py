"""The command line: parse flags into a Context, run the pipeline, write the reports.

Exit codes (CONTRACT.md): 0 the policy passed, 1 it failed, 2 usage,
configuration or tool error.

The gate's own modules are imported inside the commands, not at the top: a scan
with the models stage starts its first worker before them, so the worker imports
fickling, modelscan and numpy on another core while this process imports
pydantic and jinja2 (see stages/models/spawn.py), and `--version` stays instant.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mlsecops import __version__
from mlsecops.stages.models.spawn import WorkerStarter

if TYPE_CHECKING:
    from mlsecops.context import Context
    from mlsecops.verdict import Verdict

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
STAGE_NAMES = ("deps", "models", "fuzz", "assess")  # findings.Stage, in run order


def _stages(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    if any(n not in STAGE_NAMES for n in names):
        raise argparse.ArgumentTypeError(f"unknown stage in {text!r}; choose from {', '.join(STAGE_NAMES)}") from None
    if not names:
        raise argparse.ArgumentTypeError("no stage given")
    return names


def _budget(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError("the fuzz budget must be between 0 and 3600 seconds")
    return value


def _category(text: str) -> str:
    from mlsecops.reporters.sarif import category

    try:
        return category(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mlsecops", description="Security gate for ML repositories.")
    p.add_argument("--version", action="version", version=f"mlsecops {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("scan", help="scan a repository or folder")
    s.add_argument("path", nargs="?", default=".", help="repository or folder to scan (default: .)")
    s.add_argument("--base", help="diff mode: only artifacts changed since this commit")
    s.add_argument("--head", help="head commit of the diff (default: HEAD)")
    s.add_argument("--all", action="store_true", dest="all_files", help="scan every file even with --base")
    s.add_argument("--policy", help="YAML policy file, or a shipped name: default, strict, audit-only")
    s.add_argument("--stages", type=_stages, default=list(STAGE_NAMES),
                   help="comma list of deps,models,fuzz,assess (default: all four; assess does nothing unless the policy declares assess.models)")
    s.add_argument("--fuzz-budget", type=_budget, help="wall-clock seconds for the fuzz stage")
    s.add_argument("--advisory-db", help="offline advisory database: a folder or .zip of OSV records")
    s.add_argument("--osv-url", help="OSV API base URL (a mirror); default: the public OSV service")
    s.add_argument("--sarif", default="mlsecops.sarif", help="SARIF output (default: mlsecops.sarif)")
    s.add_argument("--sarif-category", type=_category, default=None,
                   help="code-scanning category: runs are CATEGORY/<stage>/ (default: mlsecops)")
    s.add_argument("--json", dest="json_out", help="JSON report output")
    s.add_argument("--markdown", help="PR comment Markdown output")
    s.add_argument("--jobs", type=int, default=0, help="worker processes (default: one per core)")
    s.add_argument("--cache-dir", help="result cache folder (default: ~/.cache/mlsecops)")
    s.add_argument("--no-cache", action="store_true", help="do not read or write the result cache")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress lines")

    pc = sub.add_parser("policy", help="policy tools")
    psub = pc.add_subparsers(dest="policy_command", required=True)
    chk = psub.add_parser("check", help="validate a policy file")
    chk.add_argument("file")
    return p


def progress_printer(quiet: bool) -> Callable[[str], None]:
    """Progress lines on stderr with the time since start (shared with the Action adapter)."""
    start = time.monotonic()

    def emit(msg: str) -> None:
        if not quiet:
            print(f"[{time.monotonic() - start:6.1f}s] {msg}", file=sys.stderr, flush=True)

    return emit


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mlsecops"


def build_context(args: argparse.Namespace, workdir: Path, workers: WorkerStarter | None = None) -> Context:
    """Raise PolicyError for a bad policy."""
    from mlsecops.context import Context, Outputs
    from mlsecops.findings import Stage
    from mlsecops.policy import source as policy_source

    root = Path(args.path)
    resolved = policy_source.resolve(root, args.policy, args.base, args.head)
    advisory = args.advisory_db or os.environ.get("MLSECOPS_ADVISORY_DB") or None
    return Context(
        root=root,
        base=args.base,
        head=args.head,
        all_files=args.all_files,
        policy=resolved.policy,
        policy_source=resolved.source,
        policy_findings=resolved.findings,
        stages=[Stage(n) for n in args.stages],
        fuzz_budget=args.fuzz_budget,
        advisory_db=Path(advisory) if advisory else None,
        osv_url=args.osv_url,
        outputs=Outputs(
            sarif=Path(args.sarif) if args.sarif else None,
            sarif_category=args.sarif_category,
            json_report=Path(args.json_out) if args.json_out else None,
            markdown=Path(args.markdown) if args.markdown else None,
        ),
        workdir=workdir,
        cache_dir=None if args.no_cache else Path(args.cache_dir) if args.cache_dir else default_cache_dir(),
        jobs=args.jobs,
        progress=progress_printer(args.quiet),
        workers=workers,
    )


def write_reports(verdict: Verdict, context: Context, policy_arg: str | None = None) -> list[str]:
    """Write every requested output; return the problems (a full disk must not lose the verdict)."""
    from mlsecops.reporters import json_report, markdown, sarif

    problems: list[str] = []
    out = context.outputs
    writers = [
        (out.sarif, lambda p: sarif.write(verdict, p, source=context.root, sarif_category=out.sarif_category)),
        (out.json_report, lambda p: json_report.write(verdict, p)),
        (out.markdown, lambda p: markdown.write(verdict, p, context.report_url, policy_arg)),
    ]
    for path, write in writers:
        if path is None:
            continue
        try:
            write(path)
        except OSError as exc:
            problems.append(f"cannot write {path}: {exc.strerror or exc}")
    return problems


def clear_stale_outputs(paths: Sequence[str | None]) -> None:
    """Remove the previous run's reports before scanning: a run that is killed, or stops
    on a bad policy, must not leave an old SARIF or JSON report looking like its own.
    Regular files go, and links to them (a report path in the workspace may be a link the
    pull request committed); `/dev/stdout` and other special files stay."""
    for value in paths:
        if not value:
            continue
        path = Path(value)
        try:
            if path.is_file() or (path.is_symlink() and not path.exists()):
                path.unlink()
        except OSError:
            pass  # unwritable: the write at the end reports it


def cmd_scan(args: argparse.Namespace) -> int:
    clear_stale_outputs([args.sarif, args.json_out, args.markdown])
    with tempfile.TemporaryDirectory(prefix="mlsecops-") as tmp, WorkerStarter(Path(tmp) / "models") as workers:
        if "models" in args.stages:
            workers.prestart()
        from mlsecops.changes.artifact import ChangesetError
        from mlsecops.pipeline import scan
        from mlsecops.policy.loader import PolicyError
        from mlsecops.reporters import console

        try:
            context = build_context(args, Path(tmp), workers)
        except PolicyError as exc:
            print(f"mlsecops: invalid policy\n{exc}", file=sys.stderr)
            return EXIT_ERROR
        try:
            verdict, _ = scan(context)
        except ChangesetError as exc:
            print(f"mlsecops: {exc}", file=sys.stderr)
            return EXIT_ERROR
        console.write(verdict, color=console.color_wanted(sys.stdout, os.environ))
        problems = write_reports(verdict, context, args.policy)
        for p in problems:
            print(f"mlsecops: {p}", file=sys.stderr)
        if problems:
            return EXIT_ERROR
        return verdict.exit_code


def cmd_policy_check(args: argparse.Namespace) -> int:
    from mlsecops.policy.loader import PolicyError, load_policy

    path = Path(args.file)
    try:
        policy = load_policy(path)
    except PolicyError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    n = len(policy.waivers) + len(policy.deps.ignore)
    print(f"{path}: valid (thresholds deps={policy.deps.fail_on} models={policy.models.fail_on} "
          f"fuzz={policy.fuzz.fail_on} assess={policy.assess.fail_on} gate={policy.gate.fail_on}; "
          f"{len(policy.assess.models)} assessed model(s); {n} waiver(s))")
    return EXIT_PASS


def _on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _on_sigterm)
    args = parser().parse_args(argv)
    try:
        if args.command == "scan":
            return cmd_scan(args)
        return cmd_policy_check(args)
    except KeyboardInterrupt:
        print("mlsecops: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a crash is a tool error (2), never a bare traceback's 1 ("policy failed")
        if os.environ.get("MLSECOPS_DEBUG"):
            raise
        print(f"mlsecops: internal error: {type(exc).__name__}: {str(exc)[:500]}", file=sys.stderr)
        return EXIT_ERROR
