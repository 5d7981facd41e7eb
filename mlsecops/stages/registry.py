"""Which function runs each stage. Imported lazily: a models-only run never imports pip-audit."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from mlsecops.changes.artifact import Changeset
from mlsecops.context import Context
from mlsecops.findings import Stage, StageResult

StageRunner = Callable[[Changeset, Context], StageResult]

_RUNNERS = {
    Stage.deps: "mlsecops.stages.deps.stage:run",
    Stage.models: "mlsecops.stages.models.stage:run",
    Stage.fuzz: "mlsecops.stages.fuzz.stage:run",
    Stage.assess: "mlsecops.stages.assess.stage:run",
}


def runner(stage: Stage) -> StageRunner:
    module, func = _RUNNERS[stage].split(":")
    return getattr(import_module(module), func)  # type: ignore[no-any-return]
