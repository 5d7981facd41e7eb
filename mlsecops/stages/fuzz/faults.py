"""CASR-style classes for native faults: replay a crashing input under gdb, read the fault.

When gdb is installed, the crashing input is replayed once more under
`gdb -batch` *inside the sandbox* to read the signal, the faulting address and
the instruction at the program counter. As in CASR (and !exploitable), an
execution fault (pc == fault address, or a call/jmp through bad memory) is
critical, a write fault high (critical away from NULL), a read fault or a stack
exhaustion medium. Without gdb, or off x86-64, the class comes from the signal
and from the C library's own abort messages (heap corruption, stack smashing).
"""

from __future__ import annotations

import re
import shutil
import signal as signals
from pathlib import Path

from pydantic import BaseModel

from mlsecops.stages.fuzz import sandbox
from mlsecops.stages.fuzz.policy import FuzzPolicy
from mlsecops.stages.fuzz.spec import Limits

NEAR_NULL = 64 * 1024
GDB_COMMANDS = ("set pagination off", "set confirm off", "handle SIGUSR1 nostop noprint pass", "run",
                "p $_siginfo.si_signo", "p $_siginfo._sifields._sigfault.si_addr", "p/x $pc", "p/x $sp", "x/i $pc")
HEAP_MESSAGES = ("double free", "free(): invalid", "malloc(): corrupted", "malloc(): unaligned", "corrupted size vs",
                 "corrupted double-linked list", "munmap_chunk(): invalid pointer", "realloc(): invalid",
                 "free(): corrupted", "malloc_consolidate(): invalid")


class Fault(BaseModel):
    name: str = "SIGSEGV"
    casr: str = ""
    severity: str = "high"
    access: str = "unknown"
    address: int | None = None
    instruction: str = ""
    classified_by: str = "signal"


def signal_name(num: int | None) -> str:
    if num is None:
        return "unknown signal"
    try:
        return signals.Signals(num).name
    except ValueError:
        return f"signal {num}"


def from_signal(num: int | None, stderr: str) -> Fault:
    """The class without a debugger: the signal and what the C library printed before aborting."""
    name = signal_name(num)
    text = stderr.lower()
    if "stack smashing detected" in text or "buffer overflow detected" in text:
        return Fault(name=name, casr="StackGuard", severity="critical", access="write")
    if any(m in text for m in HEAP_MESSAGES):
        return Fault(name=name, casr="HeapError", severity="high", access="write")
    if num == signals.SIGABRT:
        return Fault(name=name, casr="AbortSignal", severity="medium", access="none")
    if num == signals.SIGFPE:
        return Fault(name=name, casr="FPE", severity="medium", access="none")
    if num == signals.SIGILL:
        return Fault(name=name, casr="BadInstruction", severity="high", access="execute")
    if num == signals.SIGTRAP:
        return Fault(name=name, casr="TrapSignal", severity="medium", access="none")
    return Fault(name=name, casr="AccessViolation", severity="high", access="unknown")


def _dest_is_memory(instruction: str) -> bool:
    """AT&T syntax: the destination is the last operand; memory operands contain '('."""
    ops = instruction.split(None, 1)
    if len(ops) < 2:
        return False
    mnemonic, operands = ops[0], ops[1]
    if mnemonic.startswith(("stos", "movs", "rep")):
        return True
    depth, last = 0, 0
    for i, ch in enumerate(operands):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            last = i + 1
    return "(" in operands[last:] and not mnemonic.startswith(("cmp", "test", "bt", "prefetch", "nop"))


def parse_gdb(out: str, num: int | None) -> Fault | None:
    signo = re.search(r"^\$1 = (\d+)", out, re.M)
    addr = re.search(r"^\$2 = \(void \*\) (0x[0-9a-f]+)", out, re.M)
    pc = re.search(r"^\$3 = (0x[0-9a-f]+)", out, re.M)
    sp = re.search(r"^\$4 = (0x[0-9a-f]+)", out, re.M)
    insn = re.search(r"=> 0x[0-9a-f]+(?: <[^>]*>)?:\s*(.+)$", out, re.M)
    if not signo:
        return None
    sig = int(signo.group(1))
    base = from_signal(sig, out)
    if sig not in (signals.SIGSEGV, signals.SIGBUS) or not pc:
        return base.model_copy(update={"classified_by": "gdb"})
    fault = int(addr.group(1), 16) if addr else None
    pcv = int(pc.group(1), 16)
    text = insn.group(1).strip() if insn else ""
    common = {"name": signal_name(sig), "address": fault, "instruction": text, "classified_by": "gdb"}
    if fault is not None and (fault == pcv or not insn):
        return Fault(casr="SegFaultOnPc", severity="critical", access="execute", **common)
    mnemonic = text.split(None, 1)[0] if text else ""
    if mnemonic.startswith(("call", "jmp")) and "(" in text:
        return Fault(casr="BranchAv", severity="critical", access="execute", **common)
    if sp and fault is not None and abs(fault - int(sp.group(1), 16)) < 1 << 16 and mnemonic.startswith(("push", "call", "sub")):
        return Fault(casr="StackOverflow", severity="medium", access="write", **common)
    near_null = fault is not None and fault < NEAR_NULL
    if _dest_is_memory(text):
        return Fault(casr="DestAvNearNull" if near_null else "DestAv", severity="high" if near_null else "critical",
                     access="write", **common)
    return Fault(casr="SourceAvNearNull" if near_null else "SourceAv", severity="medium", access="read", **common)


def available() -> bool:
    return shutil.which("gdb") is not None


def analyze(job_path: Path, home: Path, policy: FuzzPolicy, timeout: float, num: int | None,
            extra_read: list[str]) -> Fault | None:
    """Replay under gdb in the sandbox; None when gdb is missing, the run did not fault, or time is short."""
    gdb = shutil.which("gdb")
    if gdb is None or timeout < 3:
        return None
    argv = [gdb, "-nx", "-batch", *[a for c in GDB_COMMANDS for a in ("-ex", c)], "--args",
            *sandbox.worker_argv(str(job_path))]
    spec = sandbox.build_spec(argv, home, timeout,
                              Limits(memory_mb=policy.memory_mb + 1024, address_space_mb=policy.memory_mb * 2 + 4096,
                                     cpu_seconds=int(timeout * 2 + 10)), extra_read=extra_read)
    status, _ = sandbox.run(spec)
    if status.reason not in ("exited", "signaled"):
        return None
    try:
        out = (home / "stdout.txt").read_text(errors="replace")
    except OSError:
        return None
    return parse_gdb(out, num)
