"""The fuzz stage's rules: one per kind of crash (MLS3xx)."""

from __future__ import annotations

from mlsecops.findings import Severity
from mlsecops.rules import Rule

FUZZ_DOCS = "https://github.com/mlsecops/mlsecops/blob/main/docs/fuzz.md"

RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            id="MLS301", name="fuzz-python-exception",
            short="Fuzzing raised an unhandled Python exception",
            full="An input made a model loader raise an exception that signals a bug (IndexError, KeyError, "
            "TypeError, RecursionError ...) instead of a clean refusal, or made a repository harness raise an "
            "exception its TestOneInput does not handle.",
            help="Replay the reproducer with the command in the finding. For a loader, report it upstream; for a "
            "harness, fix the code path in the traceback or catch the documented error in TestOneInput.",
            severity=Severity.low, help_uri=FUZZ_DOCS,
        ),
        Rule(
            id="MLS302", name="fuzz-memory-fault",
            short="Fuzzing crashed the process with a memory-safety fault",
            full="An input made native code die with SIGSEGV, SIGBUS or SIGILL. Severity follows the fault's "
            "class (CASR): execution and write faults are critical or high, read faults medium.",
            help="Treat it as a memory-safety bug in the loader or the native code the harness reaches: replay "
            "the reproducer, report it upstream, and load such files only from trusted sources until it is fixed.",
            severity=Severity.high, help_uri=FUZZ_DOCS,
        ),
        Rule(
            id="MLS303", name="fuzz-abort",
            short="Fuzzing made the process abort",
            full="An input made native code abort (SIGABRT, SIGFPE, SIGTRAP, a C++ exception that was not caught, "
            "or exit() from a library). Aborts after the C library detected heap or stack corruption are high "
            "or critical.",
            help="A crafted file can take down any process that loads it (denial of service). Replay the "
            "reproducer and report it upstream.",
            severity=Severity.medium, help_uri=FUZZ_DOCS,
        ),
        Rule(
            id="MLS304", name="fuzz-timeout",
            short="Fuzzing found an input that hangs",
            full="One input ran longer than the policy's fuzz.exec_timeout_seconds (an infinite loop or "
            "a pathological slow path): a denial of service.",
            help="Replay the reproducer to see where it spins; bound the loop or validate sizes before use.",
            severity=Severity.medium, help_uri=FUZZ_DOCS,
        ),
        Rule(
            id="MLS305", name="fuzz-resource-exhaustion",
            short="Fuzzing found an input that exhausts memory or processes",
            full="One small input made the target allocate more than the policy's fuzz.memory_mb (often a size "
            "field trusted before it was checked), or start processes without bound: a denial of service.",
            help="Check declared sizes against the data actually present before allocating; never fork per input.",
            severity=Severity.medium, help_uri=FUZZ_DOCS,
        ),
        Rule(
            id="MLS306", name="fuzz-nonfinite-output",
            short="The ONNX model returns NaN or Inf for finite inputs",
            full="Inference on ordinary finite inputs (zeros, ones, small normals or integers) produced NaN or "
            "infinite values: a numerical robustness problem in the model.",
            help="Check the model's divisions, logarithms and exponentials on edge inputs, or clamp its inputs.",
            severity=Severity.low, help_uri=FUZZ_DOCS,
        ),
    )
}

KIND_RULE = {
    "python-exception": "MLS301",
    "memory-fault": "MLS302",
    "abort": "MLS303",
    "hang": "MLS304",
    "oom": "MLS305",
    "nonfinite": "MLS306",
}
