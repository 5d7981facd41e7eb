"""How much slower than an idle machine this one is right now, for the few tests whose outcome
needs a wall-clock budget.

The fuzz stage must fuzz, replay and compare with the base version inside its budget, and every
step starts a sandboxed Python worker: on a machine shared with other jobs a 10 s budget can be
used up by start-ups alone, and the stage then (rightly) reports an unconfirmed crash instead of a
finding. Such tests scale their budget by `slowdown()`, measured when the test starts, instead of
hoping for an idle machine; on an idle CI machine it is 1 and the budgets are the nominal ones.

The largest of three readings wins: twice, a CPU-bound child spins for a fixed amount of CPU
time and reports the wall time that took (about runnable processes / cores when the cores are
shared; noisy, hence two), and the one-minute load average per core (smoother, so a quiet
instant does not hide a busy minute).
"""

from __future__ import annotations

import os
import subprocess
import sys

MAX_SLOWDOWN = 8.0  # past this the machine is not running tests, it is thrashing: fail rather than wait forever

_SPIN = """
import time
wall, cpu = time.perf_counter(), time.process_time()
while time.process_time() - cpu < {cpu}:
    pass
print((time.perf_counter() - wall) / (time.process_time() - cpu))
"""


def spin_ratio(cpu_seconds: float = 0.15) -> float:
    """Wall time over CPU time of a child that only computes (1.0 when it has a core to itself)."""
    out = subprocess.run([sys.executable, "-S", "-c", _SPIN.format(cpu=cpu_seconds)], capture_output=True, text=True,
                         timeout=60 + cpu_seconds * MAX_SLOWDOWN * 10, check=True)
    return float(out.stdout)


def slowdown() -> float:
    """The factor to stretch a wall-clock budget by, now: at least 1, at most MAX_SLOWDOWN."""
    per_core = os.getloadavg()[0] / (os.cpu_count() or 1)
    return round(min(MAX_SLOWDOWN, max(1.0, spin_ratio(), spin_ratio(), per_core)), 2)


def scaled(seconds: float) -> float:
    """`seconds` of an idle machine, on this one now."""
    return round(seconds * slowdown(), 1)
