"""The work order the gate hands the assess worker, and the results the worker hands back.

Both cross the sandbox boundary as JSON files. The results come from a process
that ran an untrusted model, so the gate validates them with these models
(numbers are numbers, strings are bounded) before using anything.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mlsecops.stages.assess.catalog import Task
from mlsecops.stages.assess.formats import DataFormat, ModelFormat
from mlsecops.stages.assess.policy import ModelEntry

Role = Literal["head", "base"]
Scope = Literal["full", "metrics"]
MAX_TEXT = 2000
MAX_GROUPS = 64


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def _short(value: str) -> str:
    return value[:MAX_TEXT]


Number = Annotated[float | None, AfterValidator(_finite)]
Text = Annotated[str, AfterValidator(_short)]


class ModelInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    file: str = Field(description="the model, copied into the sandbox folder")
    format: ModelFormat
    scope: Scope = "full"


class Job(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: str
    data_format: DataFormat
    entry: ModelEntry
    models: list[ModelInput]
    out: str = Field(description="results.json, rewritten after every step")
    inflight: str = Field(description="what the worker is running now, for a crash report")
    max_rows: int
    entry_trusted: list[str] = Field(default_factory=list, description="the policy's extra skops types")


class GroupRow(BaseModel):
    group: Text
    values: dict[Text, Number] = Field(default_factory=dict)


class Check(BaseModel):
    """One robustness check: its value (a drop, a success rate, a count) and the numbers behind it."""

    name: Text
    value: Number = None
    clean: Number = None
    perturbed: Number = None
    details: dict[Text, Number] = Field(default_factory=dict)
    notes: list[Text] = Field(default_factory=list)
    error: Text = ""


class ModelResult(BaseModel):
    role: Role
    scope: Scope = "full"
    error: Text = Field(default="", description="why the model could not be assessed (MLS405)")
    task: Task = "classification"
    rows: int = 0
    classes: list[Text] = Field(default_factory=list)
    metrics: dict[Text, Number] = Field(default_factory=dict)
    metric_errors: dict[Text, Text] = Field(default_factory=dict)
    group_columns: list[Text] = Field(default_factory=list)
    groups: list[GroupRow] = Field(default_factory=list, max_length=MAX_GROUPS)
    groups_truncated: int = 0
    nonfinite_rows: int = 0
    robustness: list[Check] = Field(default_factory=list)
    notes: list[Text] = Field(default_factory=list)
    seconds: float = 0.0


class Results(BaseModel):
    results: list[ModelResult] = Field(default_factory=list)
    error: Text = Field(default="", description="the job failed before any model ran (data, columns)")
