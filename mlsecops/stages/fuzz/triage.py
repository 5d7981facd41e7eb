"""Classify a crash, build its signature, give it a severity.

Kinds: a Python exception, a memory-safety fault (SIGSEGV/SIGBUS/SIGILL), an
abort (SIGABRT/SIGFPE/SIGTRAP, exit() from a library), a hang, out-of-memory,
non-finite inference output. The signature is the kind plus what crashed (the
loader or the harness) plus the innermost three frames as `file:function`
(no line numbers, so an unrelated edit does not change it); for a fatal signal
the frames are the Python frames faulthandler printed. Crashes with the same
signature are one finding. Severity follows CASR's classes for faults, treats
hangs and memory exhaustion as denial of service (medium) and takes Python
exceptions from the policy.
"""

from __future__ import annotations

import re
import signal as signals
from typing import Literal

from pydantic import BaseModel, Field

from mlsecops.stages.fuzz.faults import Fault, from_signal, signal_name
from mlsecops.stages.fuzz.outcome import FrameInfo, Outcome
from mlsecops.stages.fuzz.policy import FuzzPolicy
from mlsecops.stages.fuzz.rules import KIND_RULE

CrashKind = Literal["python-exception", "memory-fault", "abort", "hang", "oom", "nonfinite"]
SIGNATURE_FRAMES = 3
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<func>\S+)', re.M)
_MEMORY_SIGNALS = (signals.SIGSEGV, signals.SIGBUS, signals.SIGILL)


class Triaged(BaseModel):
    kind: CrashKind
    target: str = Field(description="loader name, 'harness' or 'onnxruntime'")
    signature: str
    severity: str
    exc_type: str | None = None
    message: str = ""
    frames: list[FrameInfo] = Field(default_factory=list, description="innermost last")
    signal: int | None = None
    fault: Fault | None = None
    detail: str = ""

    @property
    def rule_id(self) -> str:
        return KIND_RULE[self.kind]


def normalize(path: str, strip: list[str]) -> str:
    """A frame path as the signature wants it: package-relative, repo-relative, or a file name."""
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in path:
            return path.split(marker, 1)[1]
    for prefix in strip:
        m = re.match(prefix, path)
        if m:
            return path[m.end() :]
    if "/lib/python3" in path:
        return "python/" + path.split("/lib/python3", 1)[1].split("/", 1)[-1]
    return path.rsplit("/", 1)[-1]


def dumped_frames(stderr: str, strip: list[str]) -> list[FrameInfo]:
    """Frames of the first thread faulthandler (or libFuzzer's timeout handler) dumped, innermost last."""
    start = stderr.find("Current thread")
    if start < 0:
        start = stderr.find("Thread 0x")
    if start < 0:
        return []
    block = stderr[start:].split("\n\n", 1)[0]
    block = re.split(r"\n(?:Thread|Current thread) 0x", block)[0]
    frames = [FrameInfo(file=normalize(m["file"], strip), line=int(m["line"]), func=m["func"])
              for m in _FRAME.finditer(block) if "/mlsecops/stages/fuzz/" not in m["file"] and not m["file"].startswith("<frozen")]
    return list(reversed(frames))[-12:]


_TB_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)', re.M)


def libfuzzer_report(stderr: str, policy: FuzzPolicy, strip: list[str]) -> Triaged | None:
    """What atheris/libFuzzer printed for a crash that did not replay (a flaky harness)."""
    marker = "=== Uncaught Python exception: ==="
    if marker in stderr:
        block = stderr.split(marker, 1)[1]
        first = block.strip().splitlines()[0] if block.strip() else "Exception"
        exc_type, _, message = first.partition(": ")
        tb = block.split("Traceback (most recent call last):", 1)[-1].split("\n\n", 1)[0]
        frames = [FrameInfo(file=normalize(m["file"], strip), line=int(m["line"]), func=m["func"])
                  for m in _TB_FRAME.finditer(tb) if "/mlsecops/stages/fuzz/" not in m["file"]]
        outcome = Outcome(status="exception", target="harness", exc_type=exc_type.strip(), message=message[:500],
                          frames=frames[-12:])
        return from_outcome(outcome, policy, harness=True)
    if "ERROR: libFuzzer: deadly signal" in stderr:
        return from_death("signal", "harness", stderr, policy, strip, None)
    return None


def signature(kind: str, target: str, frames: list[FrameInfo], *extra: str) -> str:
    tops = [f"{f.file}:{f.func}" for f in frames[-SIGNATURE_FRAMES:]]
    return "|".join([kind, target, *extra, *tops])


def _python_severity(policy: FuzzPolicy, harness: bool) -> str:
    return policy.harness_exception_severity if harness else policy.python_exception_severity


def from_outcome(outcome: Outcome, policy: FuzzPolicy, harness: bool) -> Triaged | None:
    """A Python-level result; None when it is not a crash (ok, a clean refusal)."""
    if outcome.status == "exception":
        return Triaged(kind="python-exception", target=outcome.target, exc_type=outcome.exc_type,
                       message=outcome.message, frames=outcome.frames, severity=_python_severity(policy, harness),
                       signature=signature("exception", outcome.target, outcome.frames, outcome.exc_type or ""))
    if outcome.status == "memory":
        return Triaged(kind="oom", target=outcome.target, exc_type=outcome.exc_type, message=outcome.message,
                       frames=outcome.frames, severity="medium", detail="MemoryError under the memory limit",
                       signature=signature("oom", outcome.target, []))
    if outcome.status == "nonfinite":
        return Triaged(kind="nonfinite", target=outcome.target, message=outcome.message,
                       severity=policy.nonfinite_severity, signature=signature("nonfinite", outcome.target, [], outcome.message))
    return None


def from_death(kind: str, target: str, stderr: str, policy: FuzzPolicy, strip: list[str], sig: int | None = None,
               returncode: int | None = None, detail: str = "") -> Triaged:
    """A worker that died: a signal, a hang, a memory kill, or an exit from inside a library."""
    frames = dumped_frames(stderr, strip)
    # A hang or an exhausted resource is one problem per target: where the kill happened to
    # interrupt it (the top frame) varies from run to run and must not split the finding.
    if kind == "hang":
        return Triaged(kind="hang", target=target, frames=frames, severity="medium", detail=detail,
                       signature=signature("hang", target, []))
    if kind == "oom":
        return Triaged(kind="oom", target=target, frames=frames, severity="medium", detail=detail,
                       signature=signature("oom", target, []))
    if kind == "exit":
        return Triaged(kind="abort", target=target, frames=frames, severity="medium",
                       detail=f"the process exited with code {returncode} from inside the target",
                       signature=signature("exit", target, frames, str(returncode)))
    fault = from_signal(sig, stderr)
    crash: CrashKind = "memory-fault" if sig in _MEMORY_SIGNALS else "abort"
    if fault.casr in ("HeapError", "StackGuard"):
        crash = "memory-fault"
    return Triaged(kind=crash, target=target, frames=frames, signal=sig, fault=fault, severity=fault.severity,
                   detail=detail, signature=signature("signal", target, frames, signal_name(sig)))


def with_fault(t: Triaged, fault: Fault | None) -> Triaged:
    """Refine a fatal-signal crash with gdb's reading of the fault (severity only: the signature stays)."""
    if fault is None or t.kind not in ("memory-fault", "abort"):
        return t
    return t.model_copy(update={"fault": fault, "severity": fault.severity})


def title(t: Triaged) -> str:
    where = f" in {t.frames[-1].file}:{t.frames[-1].func}" if t.frames else ""
    if t.kind == "python-exception":
        return f"{(t.exc_type or 'exception').rsplit('.', 1)[-1]}{where}"
    if t.kind in ("memory-fault", "abort") and t.signal is not None:
        cls = f" ({t.fault.casr}, {t.fault.access} access)" if t.fault and t.fault.access not in ("unknown", "none") else ""
        return f"{signal_name(t.signal)}{cls}{where}"
    if t.kind == "abort":
        return f"exit from inside the target{where}"
    if t.kind == "hang":
        return f"hang{where}"
    if t.kind == "oom":
        return f"out of memory{where}"
    return t.message[:120]
