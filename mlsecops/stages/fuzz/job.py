"""The work order the gate hands a sandbox worker, and the counters the worker hands back.

Paths in a job are inside the sandbox folder (seeds, corpus and the model are
copied there) or inside the read-only repository view; the worker never needs
anything else. Written as `job.json` next to the jail's spec.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mlsecops.stages.fuzz.outcome import Outcome

PROTOCOL = "\x1emlsecops:"  # prefixes the worker's replies; a target's own output never starts with it
Mode = Literal["fuzz", "infer", "libfuzzer", "serve", "once"]
TargetKind = Literal["loader", "harness", "inference"]


class Job(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Mode
    kind: TargetKind
    out: str = Field(description="results folder (crashes/, corpus/, stats.json)")
    format: str = ""
    loaders: list[str] = Field(default_factory=list)
    seeds: list[str] = Field(default_factory=list)
    corpus: str | None = None
    rng_seed: int = 0
    deadline: float = Field(default=0.0, description="time.time() at which to stop")
    memory_mb: int = 1024
    exec_timeout: float = Field(default=10.0, description="upper bound of the calibrated per-input limit")
    max_len: int = 1 << 20
    model: str | None = Field(default=None, description="inference: the ONNX model")
    repo: str | None = Field(default=None, description="harness: the repository view")
    repo_real: str | None = None
    harness: str | None = Field(default=None, description="harness: its path inside the view")
    instrument: list[str] = Field(default_factory=list, description="top-level in-repo modules to instrument")
    libfuzzer_args: list[str] = Field(default_factory=list)
    input: str | None = Field(default=None, description="once: the input to run")
    target: str | None = Field(default=None, description="once: the loader (or 'harness'/'inference')")


class Request(BaseModel):
    """serve mode: one line per input."""

    input: str
    target: str


class WorkerStats(BaseModel):
    executions: int = 0
    rejected: int = 0
    ok: int = 0
    corpus_added: int = 0
    crashes: int = 0
    seed_seconds: float = 0.0
    first_crash_seconds: float | None = None
    error: str = ""


class CrashMeta(BaseModel):
    """Written next to each crashing input the worker keeps."""

    outcome: Outcome
    parent: int
    iteration: int
