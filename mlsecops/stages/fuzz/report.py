"""Turn a triaged crash into a `Finding` a reviewer can act on.

The message says what crashed (which loader and version, or the harness),
how (exception and where, signal and fault class, hang, memory), and whether
it happened on the unmodified file or on a mutant. The location is the model
file (line 1) or the harness at its `TestOneInput`. The fingerprint is built
from the rule, the path and the crash signature only, so it is stable across
runs. A crash that also happens on the base version is reported as
pre-existing: severity info, with the severity it would have had kept in
`properties`. Text that came from the sandbox (exception messages, frames) is
stripped of control characters and of anything shaped like a token.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from mlsecops.findings import Finding, Severity, Stage, StageNote, fingerprint
from mlsecops.reporters.escape import plain
from mlsecops.stages.fuzz import loaders
from mlsecops.stages.fuzz.investigate import Found
from mlsecops.stages.fuzz.triage import title

_TOKENS = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|AKIA[0-9A-Z]{16})\b")
_OPAQUE = re.compile(r"[A-Za-z0-9+/=_-]{32,}")


def _entropy(s: str) -> float:
    counts = Counter(s)
    return -sum(n / len(s) * math.log2(n / len(s)) for n in counts.values())


def _opaque(m: re.Match[str]) -> str:
    """Long high-entropy runs (base64, hex keys) go; identifiers and paths stay."""
    text = m.group(0)
    hexish = all(c in "0123456789abcdefABCDEF" for c in text)
    return "[redacted]" if hexish or _entropy(text) > 4.2 else text


def clean(text: object, limit: int = 300) -> str:
    """Untrusted text from the sandbox: one line, no control characters, nothing token-shaped."""
    return _OPAQUE.sub(_opaque, _TOKENS.sub("[redacted]", plain(text, limit)))


def _what(f: Found) -> str:
    t = f.triaged
    if f.target.kind == "harness":
        who = "The harness"
    else:
        who = f"{t.target} {loaders.version(t.target)}"
    if f.target.kind == "inference":
        on = "on generated inputs for this model"
    elif f.target.kind == "harness":
        on = "on a fuzzed input"
    elif f.seed_level:
        on = "on this file as committed"
    else:
        on = "on a mutated copy of this file"
    if t.kind == "python-exception":
        msg = f": {clean(t.message, 160)}" if t.message else ""
        return f"{who} raised {clean(title(t))} {on}{msg}"
    if t.kind in ("memory-fault", "abort"):
        return f"{who} crashed with {clean(title(t))} {on}"
    if t.kind == "hang":
        return f"{who} hung (one input ran over the time limit) {on}"
    if t.kind == "oom":
        msg = f": {clean(t.message or t.detail, 160)}" if (t.message or t.detail) else ""
        what = "processes" if "processes" in t.detail else "memory"
        return f"{who} exhausted {what} {on}{msg}"
    return f"{who} returned NaN or infinite values for finite, ordinary inputs ({clean(t.message, 200)})"


def _fix(f: Found) -> str:
    if f.target.kind == "harness":
        return "Fix the code path the harness reached (replay the reproducer), or handle the documented error in TestOneInput."
    if f.target.kind == "inference":
        return "Validate or clamp the model's inputs; report runtime crashes upstream with the reproducer."
    if f.seed_level:
        return "Do not merge a model file that crashes its loader; regenerate it from a trusted pipeline."
    return (f"Report it to the {f.triaged.target} maintainers with the reproducer; until fixed, load {f.target.format} "
            "files only from trusted sources.")


def finding(f: Found, reproducer: str | None, command: str | None, sandbox_note: str) -> Finding:
    t = f.triaged
    rule = t.rule_id
    severity = Severity(t.severity)
    props: dict[str, str | int | float | bool | None] = {
        "kind": t.kind, "target": f.target.kind, "signature": clean(t.signature, 400), "fuzz_seed": f.rng_seed,
        "pre_existing": bool(f.pre_existing), "reproducible": f.reproducible, "minimized": f.minimized,
        "input_bytes": len(f.data), "original_bytes": f.original_size, "occurrences": f.count,
        "sandbox": sandbox_note,
    }
    if f.target.kind != "harness":
        props["loader"] = t.target
        props["loader_version"] = loaders.version(t.target)
    if reproducer:
        props["reproducer_path"] = reproducer
    if t.fault is not None:
        props["fault_class"] = t.fault.casr
        props["classified_by"] = t.fault.classified_by
        if t.fault.address is not None:
            props["fault_address"] = hex(t.fault.address)
    if f.base_note:
        props["base"] = f.base_note
    message = _what(f)
    if f.pre_existing:
        props["severity_if_new"] = severity.value
        severity = Severity.info
        message += " (pre-existing: the base version crashes the same way)"
    evidence = [clean(f"{fr.file}:{fr.line} in {fr.func}", 200) for fr in reversed(t.frames[-6:])]
    if t.fault is not None and t.fault.instruction:
        evidence.append(clean(f"faulting instruction: {t.fault.instruction}", 200))
    if t.detail:
        evidence.append(clean(t.detail, 200))
    return Finding(
        rule_id=rule, stage=Stage.fuzz, severity=severity, path=f.target.path, line=f.target.line,
        message=message, tool="mlsecops", engines=["atheris"] if f.target.kind == "harness" else [],
        evidence=evidence, fingerprint=fingerprint(rule, f.target.path, t.signature), fix=_fix(f),
        reproducer=command, properties=props,
    )


UNCONFIRMED = "Not confirmed, so not reported as a crash"


def unconfirmed(items: list[Found]) -> StageNote:
    """Crashes of one target and loader that no replay reproduced: one note with both runs'
    evidence (what fuzzing saw, what the replay saw), never a finding."""
    f = items[0]
    t = f.triaged
    if len(items) == 1:
        times = f"{f.count} times" if f.count > 1 else "once"
        head = f"{_what(f)} ({times}), but {f.replay_note or 'it was not replayed'} (flaky or environmental)"
    else:
        who = "the harness" if f.target.kind == "harness" else f"{t.target} {loaders.version(t.target)}"
        notes = sorted({i.replay_note or "not replayed" for i in items})
        head = (f"{who} failed in {len(items)} distinct ways on mutated copies of this file, but none was confirmed "
                f"({'; '.join(notes)})")
    evidence: list[str] = []
    for i in items[:12]:
        evidence.append(clean(f"while fuzzing: {title(i.triaged)}" + (f" ({i.triaged.detail})" if i.triaged.detail else "")
                              + (f": {i.triaged.message}" if i.triaged.message else ""), 240))
        evidence.append(clean(i.replay_note or "not replayed", 240))
    if len(items) > 12:
        evidence.append(f"... and {len(items) - 12} more")
    if len(items) == 1:
        evidence += [clean(f"{fr.file}:{fr.line} in {fr.func}", 200) for fr in reversed(t.frames[-3:])]
    return StageNote(stage=Stage.fuzz, path=f.target.path, message=clean(f"{UNCONFIRMED}: {head}", 400),
                     evidence=evidence)


def grouped_exceptions(items: list[tuple[Found, str | None, str | None]], note: str) -> Finding:
    """One finding for all the unexpected Python exceptions one loader raised on one file.

    Loaders written in Python (torch's weights-only unpickler, numpy's header
    parser) fail in many small ways on mutated input; one low finding per loader
    and file, listing each distinct exception with its reproducer, is readable
    where one finding each is not.
    """
    items = sorted(items, key=lambda x: (bool(x[0].pre_existing), x[0].triaged.signature))
    first, rel, command = items[0]
    if len(items) == 1:
        return finding(first, rel, command, note)
    t = first.triaged
    new = [f for f, _, _ in items if not f.pre_existing]
    severity = Severity(t.severity) if new else Severity.info
    loader = t.target
    names = sorted({(f.triaged.exc_type or "exception").rsplit(".", 1)[-1] for f, _, _ in items})
    message = (f"{loader} {loaders.version(loader)} raised {len(items)} distinct unexpected exceptions on mutated "
               f"copies of this file ({clean(', '.join(names), 160)})")
    if not new:
        message += " (pre-existing: the base version fails the same ways)"
    evidence = [f"{clean(title(f.triaged), 200)}: {r or 'no reproducer kept'}" for f, r, _ in items[:12]]
    if len(items) > 12:
        evidence.append(f"... and {len(items) - 12} more in the reproducers folder")
    props: dict[str, str | int | float | bool | None] = {
        "kind": "python-exception", "target": first.target.kind, "loader": loader,
        "loader_version": loaders.version(loader), "distinct_exceptions": len(items), "pre_existing": not new,
        "fuzz_seed": first.rng_seed, "sandbox": note,
    }
    if rel:
        props["reproducer_path"] = rel
    if not new:
        props["severity_if_new"] = t.severity
    return Finding(
        rule_id="MLS301", stage=Stage.fuzz, severity=severity, path=first.target.path, line=first.target.line,
        message=message, evidence=evidence, fingerprint=fingerprint("MLS301", first.target.path, f"exceptions|{loader}"),
        fix=_fix(first), reproducer=command, properties=props,
    )
