"""The assess worker: run inside the fuzz stage's jail as `python -P -s -m mlsecops.stages.assess.worker JOB.json`.

It reads the evaluation table, runs each model of the job on it, computes the
metrics, the per-group table and the robustness checks, and rewrites
`results.json` after every step, so whatever it finished survives a crash
later on. Before each step it writes what it is about to run to the in-flight
file: when the runtime dies (a signal, the memory limit, the deadline), the
gate knows which model, step and edge value did it. Everything here handles
untrusted files, and only ever inside the sandbox.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
import warnings
from pathlib import Path

from mlsecops.stages.assess import catalog, measure, robustness, runners, table
from mlsecops.stages.assess.job import Job, ModelInput, ModelResult, Results


class Writer:
    def __init__(self, job: Job) -> None:
        self.job = job
        self.results = Results()

    def save(self) -> None:
        tmp = Path(self.job.out + ".tmp")
        tmp.write_text(self.results.model_dump_json())
        os.replace(tmp, self.job.out)

    def mark(self, what: str) -> None:
        tmp = Path(self.job.inflight + ".tmp")
        tmp.write_text(what)
        os.replace(tmp, self.job.inflight)


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:600]}"


def run(job: Job) -> Results:
    w = Writer(job)
    w.save()
    w.mark("data")
    try:
        data = table.load(Path(job.data), job.data_format, job.entry, job.max_rows)
    except table.DataError as exc:
        w.results.error = str(exc)
        w.save()
        w.mark("done")
        return w.results
    task = job.entry.resolved_task
    for model in job.models:
        result = ModelResult(role=model.role, scope=model.scope, task=task, rows=len(data.X))
        w.results.results.append(result)
        started = time.monotonic()
        try:
            _assess(model, data, task, result, w)
        except (runners.ModelError, measure.MetricError) as exc:
            result.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - any failure of an untrusted model is that model's MLS405
            result.error = f"the evaluation failed: {_short(exc)}"
            if os.environ.get("MLSECOPS_DEBUG"):
                traceback.print_exc()
        result.seconds = round(time.monotonic() - started, 3)
        w.save()
    w.mark("done")
    return w.results


def _assess(model: ModelInput, data: table.Table, task: catalog.Task, result: ModelResult, w: Writer) -> None:
    entry = w.job.entry
    w.mark(f"{model.role}:load")
    runner = runners.load(Path(model.file), model.format, w.job.entry_trusted)
    w.mark(f"{model.role}:predict")
    d = measure.decide(runner.predict(data.X), data.y, entry, task)
    result.classes = [str(c) for c in d.classes][:100]
    result.nonfinite_rows = d.nonfinite_rows
    for name in entry.metrics:
        try:
            result.metrics[name] = measure.metric(name, d, data.sensitive)
        except (measure.MetricError, ValueError, ZeroDivisionError) as exc:
            result.metric_errors[name] = str(exc)[:300]
    if entry.sensitive:
        result.group_columns = list(entry.sensitive)
        result.groups, result.groups_truncated = measure.group_table(d, data.sensitive)
    w.save()
    if model.scope != "full":
        return
    rob = entry.robustness
    if rob.gaussian_noise is not None:
        w.mark(f"{model.role}:gaussian_noise")
        cfg = rob.gaussian_noise
        clean = result.metrics.get(cfg.metric)
        if clean is None and cfg.metric not in result.metric_errors:
            clean = measure.metric(cfg.metric, d, data.sensitive)
        result.robustness.append(robustness.gaussian_noise(cfg, runner, data.X, data.y, entry, task, clean, data.sensitive))
        w.save()
    if rob.black_box is not None:
        w.mark(f"{model.role}:black_box")
        result.robustness.append(robustness.black_box(rob.black_box, runner, data.X, entry, d))
        w.save()
    if rob.edge_values is not None:
        result.robustness.append(robustness.edge_values(rob.edge_values, runner, data.X, w.mark))
        w.save()


def main(argv: list[str]) -> int:
    warnings.simplefilter("ignore")
    job = Job.model_validate_json(Path(argv[0]).read_bytes())
    run(job)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
