"""GitHub Actions workflow commands and step outputs, read from the verdict.

Annotations: `::error file=…,line=…,title=…::message` for blocking findings and
stage errors, `::warning …` for advisory findings. GitHub shows at most 10
annotations of each level per step, so each level is capped and the last one
says how many more are in the job summary. Every value comes from an untrusted
repository (file names, pickle strings, advisory text) and is escaped with the
runner's own rules (`escape.annotation` / `escape.annotation_property`), so
no value can end the command or start another.
"""

from __future__ import annotations

from mlsecops.reporters.escape import annotation, annotation_property
from mlsecops.verdict import JudgedFinding, Status, Verdict

MAX_PER_LEVEL = 10


def command(kind: str, message: str, **properties: str | int | None) -> str:
    """One workflow command line with its properties and message escaped.

    The runner trims the property list and drops a property with an empty value, so values are
    stripped and blank ones left out rather than sent and silently lost.
    """
    values = {k: str(v).strip() for k, v in properties.items() if v is not None}
    props = ",".join(f"{k}={annotation_property(v)}" for k, v in values.items() if v)
    return f"::{kind}{' ' + props if props else ''}::{annotation(message)}"


def _file(path: str, prefix: str) -> str:
    return f"{prefix}/{path}" if prefix and path else path


def _finding(kind: str, f: JudgedFinding, prefix: str) -> str:
    text = f.message
    if f.member and f.member not in text:
        text += f" (member: {f.member})"
    if f.fix:
        text += f" Fix: {f.fix}"
    return command(kind, text, file=_file(f.path, prefix), line=f.line,
                   title=f"mlsecops {f.rule_id} ({f.severity.value}, {f.status.value})")


def _capped(lines: list[str], cap: int, kind: str, what: str) -> list[str]:
    if len(lines) <= cap:
        return lines
    shown = lines[: max(cap - 1, 0)]
    shown.append(command(kind, f"{len(lines) - len(shown)} more {what} are listed in the job summary and the SARIF report.",
                         title="mlsecops"))
    return shown


def annotations(verdict: Verdict, per_level: int = MAX_PER_LEVEL, reserved_warnings: int = 0) -> list[str]:
    """Error annotations (blocking findings, then stage errors) and warning annotations (advisory)."""
    prefix = verdict.uri_prefix
    errors = [_finding("error", f, prefix) for f in verdict.findings if f.status == Status.blocking]
    for e in verdict.errors:
        errors.append(command("error", f"{e.stage.value} could not check this: {e.message}",
                              file=_file(e.path, prefix) if e.path else None,
                              title=f"mlsecops {e.stage.value} stage error"))
    warnings = [_finding("warning", f, prefix) for f in verdict.findings if f.status == Status.advisory]
    return (_capped(errors, per_level, "error", "blocking findings or errors")
            + _capped(warnings, per_level - reserved_warnings, "warning", "advisory findings"))


def outputs(verdict: Verdict, sarif_file: str | None) -> dict[str, str]:
    """The Action's outputs (CONTRACT.md): verdict, findings, blocking, sarif-file."""
    return {
        "verdict": verdict.verdict,
        "findings": str(len(verdict.findings)),
        "blocking": str(verdict.count(Status.blocking)),
        "sarif-file": sarif_file or "",
    }
