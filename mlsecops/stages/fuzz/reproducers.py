"""Keep each minimized crashing input with a one-line command that replays it.

Reproducers go to `fuzz.reproducers_dir` under PATH (default
`.mlsecops/reproducers/`), a folder a workflow can upload as an artifact,
named after the rule and the finding's fingerprint so a re-run overwrites
rather than piles up. A JSON file next to each input records what it crashed,
how, with which loader version and RNG seed. The command works from PATH:
`python -m mlsecops.stages.fuzz.replay --loader numpy .mlsecops/reproducers/...`.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path, PurePosixPath

from mlsecops.stages.fuzz import storage
from mlsecops.stages.fuzz.targets import Target

EXTENSIONS = {"safetensors": ".safetensors", "numpy": ".npy", "npz": ".npz", "onnx": ".onnx", "hdf5": ".h5",
              "keras-h5": ".h5", "pytorch-zip": ".pt", "pytorch-legacy": ".pt"}


def command(target: Target, loader: str, input_rel: str) -> str:
    """The replay command, relative to PATH."""
    if target.kind == "harness":
        args = ["--harness", target.path]
    elif target.kind == "inference":
        args = ["--inference", target.path]
    else:
        args = ["--loader", loader]
    return " ".join(shlex.quote(a) for a in ["python", "-m", "mlsecops.stages.fuzz.replay", *args, input_rel])


def save(root: Path, folder_rel: str, target: Target, rule_id: str, fp: str, data: bytes,
         meta: dict[str, object]) -> tuple[str, str]:
    """Write the input and its metadata; returns (input path relative to PATH, replay command)."""
    folder = storage.safe_folder(root, folder_rel)
    ext = ".npz" if target.kind == "inference" else ".bin" if target.kind == "harness" else EXTENSIONS.get(target.format, ".bin")
    name = f"{rule_id}-{fp[:12]}{ext}"
    storage.write_file(folder, name, data)
    rel = (PurePosixPath(folder_rel.strip("/")) / name).as_posix()
    cmd = command(target, str(meta.get("loader", "")), rel)
    record = {**meta, "input": rel, "target": target.path, "kind_of_target": target.kind, "command": cmd}
    storage.write_file(folder, f"{rule_id}-{fp[:12]}.json", (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    return rel, cmd
