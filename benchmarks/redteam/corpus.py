"""Write the red-team corpus to a folder: one folder per sample, plus labels.tsv and verified.json."""

from __future__ import annotations

import csv
from pathlib import Path

from benchmarks.redteam.sample import Sample


def write_corpus(samples: list[Sample], folder: Path) -> dict[str, list[str]]:
    """Every sample's files under `<family>/<name>/`; returns sample name -> its relative paths."""
    folder.mkdir(parents=True, exist_ok=True)
    index: dict[str, list[str]] = {}
    with (folder / "labels.tsv").open("w", newline="") as fh:
        out = csv.writer(fh, delimiter="\t")
        out.writerow(["sample", "family", "path", "loader", "effect", "why"])
        for s in samples:
            paths = []
            for rel, data in s.files().items():
                path = folder / s.folder / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                paths.append(f"{s.folder}/{rel}")
                out.writerow([s.name, s.family, f"{s.folder}/{rel}", s.loader, s.effect, s.why])
            index[s.name] = paths
    return index
