"""Choose what to fuzz from the changeset: model files, ONNX inference, and harnesses.

Changed model files (format from content, `formats.detect`) whose format has
an installed safe loader become loader targets; a changed ONNX model also
becomes an inference target; a repository harness becomes a target when the
PR touches it or the in-repo code it imports (every harness in `--all` mode).
Each target gets a reproducible RNG seed: the policy's `seed`, or one derived
from the target and the content it fuzzes, so the same commit fuzzes the same
way on every run. The base version of a changed file is materialized from git
as a second seed and for the "pre-existing?" check.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from mlsecops.changes import git
from mlsecops import install
from mlsecops.changes.artifact import Artifact, Changeset
from mlsecops.findings import Stage, StageError, StageNote
from mlsecops.formats.detect import detect_path
from mlsecops.stages.fuzz import harnesses, loaders
from mlsecops.stages.fuzz.policy import FuzzPolicy

Kind = Literal["loader", "inference", "harness"]
KIND_ORDER = {"harness": 0, "loader": 1, "inference": 2}
MAX_HASHED = 64 * 1024 * 1024


class Target(BaseModel):
    kind: Kind
    path: str = Field(description="repo-relative: the model file or the harness")
    key: str = Field(description="unique per target, e.g. loader:models/a.onnx")
    line: int = 1
    format: str = ""
    loaders: list[str] = Field(default_factory=list)
    source: Path | None = None
    base_source: Path | None = Field(default=None, description="the base version, when the file existed there")
    size: int = 0
    rng_seed: int = 0
    closure: list[str] = Field(default_factory=list)
    packages: list[str] = Field(default_factory=list)


# Loaders the `fuzz` extra installs: a format whose loaders all come from it and are all missing
# means the gate was installed without the extra, and the stage says so as an error (it fails
# closed per policy) instead of fuzzing nothing quietly. numpy and h5py come with the gate;
# torch is optional (a note says what it would add).
FUZZ_EXTRA = frozenset({"safetensors", "onnx", "onnxruntime", "atheris"})


class Selection(BaseModel):
    targets: list[Target] = Field(default_factory=list)
    notes: list[StageNote] = Field(default_factory=list, description="changed artifacts not fuzzed, and why")
    errors: list[StageError] = Field(default_factory=list, description="what the installation cannot fuzz")


def _note(sel: Selection, path: str, message: str) -> None:
    sel.notes.append(StageNote(stage=Stage.fuzz, path=path, message=message))


def _missing_loaders(sel: Selection, path: str, fmt: str) -> None:
    wanted = [ld for ld in loaders.LOADERS.values() if fmt in ld.formats]
    if not wanted:
        return
    if all(ld.dist in FUZZ_EXTRA for ld in wanted):
        sel.errors.append(StageError(stage=Stage.fuzz, path=path, message=(
            f"not fuzzed: no safe loader for {fmt} is installed ({', '.join(ld.dist for ld in wanted)}); "
            f"fuzzing needs the fuzz extra: {install.for_version(extra='fuzz').pip}, or run the container")))
    else:
        _note(sel, path, f"not fuzzed: no safe loader for {fmt} is installed "
              f"({' or '.join(ld.dist for ld in wanted)}; for torch use its CPU build, torch==2.13.0)")


def own_folders(policy: FuzzPolicy) -> tuple[str, ...]:
    """Our corpus and reproducers live under PATH; they are never targets themselves."""
    return tuple(p.strip("/") + "/" for p in (policy.corpus_dir, policy.reproducers_dir, ".mlsecops"))


def derive_seed(policy: FuzzPolicy, key: str, digest: str) -> int:
    if policy.seed is not None:
        return policy.seed
    return int(hashlib.sha256(f"{key}\x1f{digest}".encode()).hexdigest()[:8], 16) or 1


def _digest(art: Artifact) -> str:
    """What the derived RNG seed depends on: the content (its git blob id when known)."""
    if art.blob:
        return art.blob
    if art.size > MAX_HASHED:
        return f"{art.path}:{art.size}"
    h = hashlib.sha256()
    with art.source.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _base_copy(changeset: Changeset, art: Artifact, workdir: Path) -> Path | None:
    if not art.base_blob or changeset.git_root is None:
        return None
    dest = workdir / "base" / art.base_blob
    if not dest.exists():
        try:
            git.cat_blob_to(changeset.git_root, art.base_blob, dest)
        except git.GitError:
            return None
    return dest


def _model_targets(changeset: Changeset, policy: FuzzPolicy, workdir: Path, sel: Selection) -> None:
    skip = own_folders(policy)
    for art in changeset.artifacts:
        if art.path.startswith(skip) or art.size == 0:
            continue
        try:
            fmt = detect_path(art.source, art.path.rsplit("/", 1)[-1])
        except OSError:
            continue
        if fmt is None:
            continue
        names = loaders.installed(fmt.value)
        if not names:
            _missing_loaders(sel, art.path, fmt.value)
            continue
        digest = _digest(art)
        small = art.size <= policy.max_input_mb * 1024 * 1024
        base = _base_copy(changeset, art, workdir) if small else None
        common = {"path": art.path, "format": fmt.value, "source": art.source, "size": art.size, "base_source": base}
        if small:
            key = f"loader:{art.path}"
            sel.targets.append(Target(kind="loader", key=key, loaders=names, rng_seed=derive_seed(policy, key, digest), **common))
        else:
            _note(sel, art.path, f"larger than fuzz.max_input_mb ({policy.max_input_mb} MiB): not mutated")
        if fmt.value == "onnx" and policy.inference and "onnxruntime" in names:
            key = f"inference:{art.path}"
            sel.targets.append(Target(kind="inference", key=key, loaders=["onnxruntime"],
                                      rng_seed=derive_seed(policy, key, digest), **common))


def _harness_targets(changeset: Changeset, policy: FuzzPolicy, sel: Selection) -> None:
    if not policy.harnesses:
        return
    found = harnesses.discover(changeset.root, policy.harnesses, own_folders(policy))
    if not found:
        return
    changed = {a.path for a in changeset.artifacts} | set(changeset.deleted)
    atheris = importlib.util.find_spec("atheris") is not None
    for h in found:
        if changeset.mode == "diff" and not harnesses.affected(h, changed):
            continue
        if not atheris:
            sel.errors.append(StageError(stage=Stage.fuzz, path=h.path, message=(
                "harness not run: atheris is not installed; fuzzing needs the fuzz extra: "
                f"{install.for_version(extra='fuzz').pip}, or run the container")))
            continue
        digest = hashlib.sha256()
        for rel in [h.path, *h.closure]:
            try:
                digest.update((changeset.root / rel).read_bytes())
            except OSError:
                continue
        key = f"harness:{h.path}"
        sel.targets.append(Target(
            kind="harness", path=h.path, key=key, line=h.line, source=changeset.root / h.path,
            rng_seed=derive_seed(policy, key, digest.hexdigest()), closure=h.closure, packages=h.packages,
        ))


def select(changeset: Changeset, policy: FuzzPolicy, workdir: Path) -> Selection:
    sel = Selection()
    _harness_targets(changeset, policy, sel)
    _model_targets(changeset, policy, workdir, sel)
    sel.targets.sort(key=lambda t: (KIND_ORDER[t.kind], t.path))
    return sel
