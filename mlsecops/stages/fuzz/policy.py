"""The `fuzz:` section of a policy.

Every key is optional. The budget is the whole stage's wall clock (fuzzing,
triage and minimization included); per-target limits (memory, time per input)
apply inside the sandbox. Paths are relative to the scanned PATH so a workflow
can cache the corpus and upload the reproducers.
"""

from __future__ import annotations

from pydantic import Field

from mlsecops.policy.common import SeverityOrOff, Strict, Threshold
from mlsecops.policy.patterns import PathGlobs


class FuzzPolicy(Strict):
    fail_on: Threshold = "high"
    budget_seconds: float = Field(default=60, ge=1, le=3600, description="whole stage, wall clock")
    harnesses: PathGlobs = Field(
        default_factory=lambda: ["**/fuzz_*.py", "**/*_fuzz.py", "**/fuzz/**/*.py"],
        description="globs of atheris harnesses (files defining TestOneInput)",
    )
    python_exception_severity: SeverityOrOff = Field(
        default="low", description="severity of a plain Python exception raised by a loader"
    )
    harness_exception_severity: SeverityOrOff = Field(
        default="medium", description="severity of an uncaught Python exception in a repository harness"
    )
    nonfinite_severity: SeverityOrOff = Field(
        default="low", description="severity of NaN/Inf inference outputs from finite inputs"
    )
    memory_mb: int = Field(default=1024, ge=64, description="per sandboxed target")
    exec_timeout_seconds: float = Field(
        default=10, ge=0.5, le=600, description="one input running longer than this is a hang"
    )
    max_input_mb: int = Field(
        default=32, ge=1, description="model files larger than this are not mutated (inference still runs)"
    )
    inference: bool = Field(default=True, description="fuzz the inputs of changed ONNX models")
    corpus_dir: str = ".mlsecops/fuzz-corpus"
    corpus_max_mb: int = Field(default=64, ge=1)
    reproducers_dir: str = Field(
        default=".mlsecops/reproducers", description="minimized crashing inputs, relative to PATH"
    )
    seed: int | None = Field(default=None, description="fixed seed for reproducible runs")
