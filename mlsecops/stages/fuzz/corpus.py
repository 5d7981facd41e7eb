"""The fuzzing corpus a workflow caches between runs (`actions/cache` on `fuzz.corpus_dir`).

One sub-folder per format for loader fuzzing (what was learnt on one
safetensors file helps the next) and one per harness. New interesting inputs
from this run are added under their SHA-1; then the whole corpus is pruned to
`corpus_max_mb`, dropping the files not used for the longest time first (a
file fed to a run has its mtime refreshed), so a cache that only grows never
outgrows its budget.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path

from mlsecops.stages.fuzz import storage
from mlsecops.stages.fuzz.targets import Target

MAX_LOAD = 200
MAX_FILE = 4 * 1024 * 1024


def folder_name(target: Target) -> str | None:
    if target.kind == "loader":
        return f"loader-{target.format}"
    if target.kind == "harness":
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", target.path)[-80:]
        return f"harness-{slug}-{hashlib.sha1(target.path.encode()).hexdigest()[:8]}"
    return None


def load(root: Path, corpus_dir: str, target: Target) -> list[Path]:
    """Corpus files for the target (regular files only, newest first, bounded)."""
    name = folder_name(target)
    if name is None:
        return []
    try:
        folder = storage.safe_folder(root, f"{corpus_dir.rstrip('/')}/{name}")
    except (storage.UnsafeFolder, OSError):
        return []
    files = [p for p in storage.regular_files(folder) if p.stat().st_size <= MAX_FILE]
    files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    now = time.time()
    for p in files[:MAX_LOAD]:
        try:
            os.utime(p, (now, now))
        except OSError:
            pass
    return files[:MAX_LOAD]


def save(root: Path, corpus_dir: str, target: Target, found: list[Path]) -> int:
    """Add new inputs; returns how many were new."""
    name = folder_name(target)
    if name is None or not found:
        return 0
    folder = storage.safe_folder(root, f"{corpus_dir.rstrip('/')}/{name}")
    added = 0
    for src in found:
        try:
            if src.is_symlink() or src.stat().st_size > MAX_FILE:
                continue
            data = src.read_bytes()
        except OSError:
            continue
        digest = hashlib.sha1(data).hexdigest()
        if not (folder / digest).exists():
            storage.write_file(folder, digest, data)
            added += 1
    return added


def prune(root: Path, corpus_dir: str, max_mb: int) -> int:
    """Delete least recently used files until the corpus fits; returns how many were deleted."""
    try:
        top = storage.safe_folder(root, corpus_dir)
    except (storage.UnsafeFolder, OSError):
        return 0
    files: list[tuple[float, int, Path]] = []
    for sub in os.scandir(top):
        if sub.is_dir(follow_symlinks=False):
            for p in storage.regular_files(Path(sub.path)):
                st = p.stat()
                files.append((st.st_mtime, st.st_size, p))
    total = sum(size for _, size, _ in files)
    limit = max_mb * 1024 * 1024
    deleted = 0
    for _, size, path in sorted(files):
        if total <= limit:
            break
        path.unlink(missing_ok=True)
        total -= size
        deleted += 1
    return deleted
