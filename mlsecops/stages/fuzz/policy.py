"""The `fuzz:` section of a policy."""

from __future__ import annotations

from pydantic import Field

from mlsecops.policy.common import SeverityOrOff, Strict, Threshold


class FuzzPolicy(Strict):
    fail_on: Threshold = "high"
    budget_seconds: float = Field(default=60, ge=1, le=3600, description="whole stage, wall clock")
    harnesses: list[str] = Field(
        default_factory=lambda: ["**/fuzz_*.py", "**/*_fuzz.py", "**/fuzz/**/*.py"],
        description="globs of atheris harnesses (files defining TestOneInput)",
    )
    python_exception_severity: SeverityOrOff = Field(
        default="low", description="severity of a plain Python exception raised by a loader"
    )
    memory_mb: int = Field(default=1024, ge=64, description="per sandboxed target")
    corpus_dir: str = ".mlsecops/fuzz-corpus"
    corpus_max_mb: int = Field(default=64, ge=1)
    seed: int | None = Field(default=None, description="fixed seed for reproducible runs")
