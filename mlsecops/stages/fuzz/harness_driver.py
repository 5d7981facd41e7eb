"""Load a repository's atheris harness and run it under libFuzzer. Sandbox only.

The harness is executed as a module named after its file (never `__main__`,
so its own `main()` does not run; prefixed, so it shadows nothing), from the read-only repository view, with
the harness folder, the repository and `src/` on sys.path, as
`python fuzz/fuzz_x.py` from the repository root would see them. Coverage
comes from atheris instrumentation of the harness itself and of the in-repo
modules it imports (`instrument_imports` with those names), not of every
library (`instrument_all` takes tens of seconds). Every input goes through the
in-flight file first, so a hang or a fatal signal that libFuzzer cannot
report is still recorded by the jail. A harness that fails to import is an
error the gate reports, not a crash.
"""

from __future__ import annotations

import sys
import traceback
import types
from pathlib import Path

from mlsecops.stages.fuzz import heartbeat
from mlsecops.stages.fuzz.job import Job, WorkerStats


class HarnessError(Exception):
    """The harness could not be loaded or has no TestOneInput."""


def load(job: Job, instrument: bool) -> types.ModuleType:
    view = Path(job.repo or ".")
    harness = Path(job.harness or "")
    extra = [str(harness.parent), str(view)] + ([str(view / "src")] if (view / "src").is_dir() else [])
    sys.path[:0] = [p for p in extra if p not in sys.path]
    sys.argv = [str(harness), *job.libfuzzer_args]
    # Its own name, so a harness called `json.py` does not shadow the real module.
    name = f"mlsecops_harness_{harness.stem}" if harness.stem.isidentifier() else "mlsecops_harness"
    module = types.ModuleType(name)
    module.__file__ = str(harness)
    sys.modules[name] = module
    try:
        code = compile(harness.read_bytes(), str(harness), "exec", dont_inherit=True)
        if instrument:
            import atheris

            code = atheris.patch_code(code, True, True)
            if job.instrument:
                with atheris.instrument_imports(include=job.instrument):
                    exec(code, module.__dict__)  # noqa: S102 - the point of the sandbox
            else:
                exec(code, module.__dict__)  # noqa: S102
        else:
            exec(code, module.__dict__)  # noqa: S102
    except BaseException as exc:  # noqa: BLE001
        frames = traceback.extract_tb(exc.__traceback__)[-2:]
        where = "; ".join(f"{Path(f.filename).name}:{f.lineno}" for f in frames)
        raise HarnessError(f"importing the harness failed: {type(exc).__name__}: {str(exc)[:300]} ({where})") from None
    if not callable(getattr(module, "TestOneInput", None)):
        raise HarnessError("the harness defines no callable TestOneInput")
    return module


def fuzz(job: Job, home: Path) -> None:
    stats_path = Path(job.out) / "stats.json"
    Path(job.out).mkdir(parents=True, exist_ok=True)
    try:
        module = load(job, instrument=True)
    except HarnessError as exc:
        stats_path.write_text(WorkerStats(error=str(exc)).model_dump_json())
        return
    import atheris

    beat = heartbeat.Writer(home / "inflight.bin")
    test = module.TestOneInput

    def one_input(data: bytes) -> object:
        beat.begin(data)
        return test(data)

    kwargs = {}
    for hook, key in (("CustomMutator", "custom_mutator"), ("CustomCrossover", "custom_crossover")):
        if callable(getattr(module, hook, None)):
            kwargs[key] = getattr(module, hook)
    atheris.Setup([str(job.harness), *job.libfuzzer_args], one_input, **kwargs)
    atheris.Fuzz()
