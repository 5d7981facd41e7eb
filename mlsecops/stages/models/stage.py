"""The models stage: pick the model-like files of the changeset, scan them in
sandboxed workers (or take them from the cache), apply the format policy.

Detection here reads a few KiB per file to skip the ones that are not models;
everything that parses file content runs in a worker.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from mlsecops.changes.artifact import Artifact, Changeset
from mlsecops.context import Context
from mlsecops.findings import Finding, Severity, Stage, StageError, StageResult, fingerprint
from mlsecops.formats.detect import detect_path
from mlsecops.formats.kinds import Format
from mlsecops.stages.models import rules
from mlsecops.stages.models.cache import ResultCache
from mlsecops.stages.models.pool import WorkerPool
from mlsecops.stages.models.scanfile import FileResult, Task
from mlsecops.stages.models.spawn import WorkerStarter


def _lfs(art: Artifact, severity: str) -> Finding | None:
    """A model the gate could not see: the gate's own finding, judged by `gate.fail_on`."""
    if severity == "off":
        return None
    return Finding(
        rule_id="MLS002", stage=Stage.gate, severity=Severity(severity), path=art.path, line=1,
        message="Git LFS pointer: the model it stands for was not fetched, so it was not scanned",
        fingerprint=fingerprint("MLS002", art.path), fix="Check out with LFS (actions/checkout lfs: true) before the scan.",
    )


_CONTAINERS = {"zip", "tar", "7z", "gzip", "bz2", "xz", "lzma", "zlib", "zstd", "lz4", "joblib-zfile", "config", "jinja"}


def _format_findings(result: FileResult, context: Context) -> list[Finding]:
    """One MLS004 per file naming every format (its own and its members') the policy rejects."""
    policy = context.policy.models
    if policy.blocked_format_severity == "off":
        return []
    blocked = [f for f in result.formats if f in policy.blocked_formats]
    not_allowed = [f for f in result.formats
                   if policy.allowed_formats and f not in policy.allowed_formats and f not in _CONTAINERS]
    bad = sorted(set(blocked) | set(not_allowed))
    if not bad:
        return []
    why = "blocked by the policy" if blocked else "not in the policy's allowed formats"
    return [Finding(
        rule_id="MLS004", stage=Stage.models, severity=Severity(policy.blocked_format_severity), path=result.path,
        line=1, message=f"Format {', '.join(bad)} is {why}", fingerprint=fingerprint("MLS004", result.path),
        fix="Convert the model to an allowed format such as safetensors.", evidence=bad,
    )]


def _candidates(changeset: Changeset, result: StageResult, context: Context) -> list[tuple[Artifact, Format]]:
    found = []
    for art in changeset.artifacts:
        if art.size == 0:
            continue
        try:
            fmt = detect_path(art.source, art.path.rsplit("/", 1)[-1])
        except OSError as exc:
            result.errors.append(StageError(stage=Stage.models, path=art.path, message=f"cannot read: {exc.strerror or exc}"))
            continue
        except Exception as exc:  # noqa: BLE001 - one hostile file must not take the other files' findings down
            result.errors.append(StageError(stage=Stage.models, path=art.path,
                                            message=f"format detection failed: {type(exc).__name__}: {str(exc)[:200]}"))
            continue
        if fmt is not None:
            found.append((art, fmt))
    return found


def run(changeset: Changeset, context: Context) -> StageResult:
    result = StageResult(stage=Stage.models)
    policy = context.policy.models
    candidates = _candidates(changeset, result, context)
    cache = ResultCache(context.cache_dir, policy)
    tasks: list[Task] = []
    blobs: dict[str, str | None] = {}
    done: list[FileResult] = []
    for art, fmt in candidates:
        if fmt == Format.lfs_pointer:
            f = _lfs(art, context.policy.lfs_pointers)
            if f:
                result.findings.append(f)
            continue
        if art.size > policy.limits.max_file_mb * 1024 * 1024:
            result.findings.append(Finding(
                rule_id=rules.SCAN_LIMIT_EXCEEDED.id, stage=Stage.models, severity=Severity.high, path=art.path, line=1,
                message=f"The file is larger than the policy's models.limits.max_file_mb ({policy.limits.max_file_mb} MiB) and was not scanned",
                fingerprint=fingerprint(rules.SCAN_LIMIT_EXCEEDED.id, art.path, "size"),
            ))
            continue
        cached = cache.get(art.blob, art.path)
        if cached is not None:
            done.append(cached)
            continue
        blobs[art.path] = art.blob
        tasks.append(Task(
            source=str(art.source), path=art.path, size=art.size, limits=policy.limits,
            unknown_globals=policy.unknown_globals, unknown_calls=policy.unknown_calls, allow_globals=policy.allow_globals,
            deny_globals=policy.deny_globals, engines=policy.engines, tmpdir="",
        ))
    if tasks:
        done.extend(_scan(tasks, context, cache, blobs))
    for r in sorted(done, key=lambda r: r.path):
        result.findings.extend(r.findings)
        result.findings.extend(_format_findings(r, context))
        result.errors.extend(StageError(stage=Stage.models, path=r.path, message=m) for m in r.errors)
    result.stats = {
        "artifacts": len(candidates),
        "bytes": sum(a.size for a, _ in candidates),
        "pickles": sum(r.pickles for r in done),
        "cached": cache.hits,
    }
    return result


def _scan(tasks: list[Task], context: Context, cache: ResultCache, blobs: dict[str, str | None]) -> list[FileResult]:
    limits = context.policy.models.limits
    jobs = context.jobs or os.cpu_count() or 1
    out: list[FileResult] = []
    last = time.monotonic()
    for task in tasks:
        task.tmpdir = "."
    with contextlib.ExitStack() as stack:
        # The CLI starts a worker early (it warms up while the gate imports); otherwise start them here.
        starter = context.workers or stack.enter_context(WorkerStarter(Path(context.workdir) / "models"))
        pool = WorkerPool(min(jobs, len(tasks)), starter)
        for r in pool.run(tasks, limits.timeout_seconds):
            out.append(r)
            cache.put(blobs.get(r.path), r)
            if time.monotonic() - last > 2:
                context.progress(f"models: {len(out)}/{len(tasks)} files scanned")
                last = time.monotonic()
    return out
