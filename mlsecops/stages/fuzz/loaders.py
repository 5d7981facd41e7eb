"""The safe loaders the fuzzer drives, by format. This code runs only inside the sandbox worker.

Only loaders that cannot run code from the file: safetensors, `numpy.load`
with `allow_pickle=False`, `onnx` parsing and checking without external data,
onnxruntime sessions, h5py, and `torch.load(weights_only=True)`. Never
`pickle.load`, `torch.jit.load` or Keras model loading (Lambda layers are
code). Each loader consumes the whole file (every tensor, every dataset) so
lazy parsing paths are exercised too. `rejects` lists the library error types
that mean "refused a bad file", which are not findings. The gate only asks
which loaders are *installed* (`installed`), via import metadata, without
importing them.
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

MAX_READ = 16 * 1024 * 1024
MAX_ELEMENTS = 1 << 20


def _fresh(scratch: Path, data: bytes) -> Path:
    """A new inode each time: truncating a file a loader still has mapped costs milliseconds."""
    scratch.unlink(missing_ok=True)
    scratch.write_bytes(data)
    return scratch


@dataclass(frozen=True)
class Loader:
    name: str
    formats: tuple[str, ...]
    module: str
    dist: str
    run: Callable[[bytes, Path], None]
    rejects: tuple[str, ...] = ()


def _safetensors(data: bytes, scratch: Path) -> None:
    import safetensors
    import safetensors.numpy

    for _name, arr in safetensors.numpy.load(data).items():
        arr.ravel()[:4].tolist()
    with safetensors.safe_open(str(_fresh(scratch, data)), framework="numpy") as fh:
        fh.metadata()
        for key in fh.keys():
            sl = fh.get_slice(key)
            sl.get_shape()
            fh.get_tensor(key).ravel()[:4].tolist()


def _numpy(data: bytes, scratch: Path) -> None:
    import numpy as np

    loaded = np.load(io.BytesIO(data), allow_pickle=False)
    if isinstance(loaded, np.ndarray):
        loaded.ravel()[:4].tolist()
        return
    with loaded:
        for key in loaded.files:
            loaded[key].ravel()[:4].tolist()


def _onnx(data: bytes, scratch: Path) -> None:
    import onnx
    import onnx.checker

    model = onnx.load_model_from_string(data)
    onnx.checker.check_model(model, full_check=True)


def session_options():  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 4
    so.add_session_config_entry("session.use_per_session_threads", "1")
    return so


def _onnxruntime(data: bytes, scratch: Path) -> None:
    import onnxruntime as ort

    from mlsecops.stages.fuzz import inference

    sess = ort.InferenceSession(data, sess_options=session_options(), providers=["CPUExecutionProvider"])
    feeds = inference.plain_feeds(sess)
    if feeds is not None:
        sess.run(None, feeds)


def _h5py(data: bytes, scratch: Path) -> None:
    import h5py

    _fresh(scratch, data)

    def visit(_name: str, obj: object) -> None:
        dict(obj.attrs)  # type: ignore[attr-defined]
        if isinstance(obj, h5py.Dataset):
            if obj.size * max(1, obj.dtype.itemsize) <= MAX_READ:
                obj[()]
            elif obj.ndim:
                obj[(0,) * obj.ndim]

    with h5py.File(str(scratch), "r") as fh:
        dict(fh.attrs)
        fh.visititems(visit)


def _torch(data: bytes, scratch: Path) -> None:
    import torch

    obj = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    todo, seen = [obj], 0
    while todo and seen < 100_000:
        item = todo.pop()
        seen += 1
        if isinstance(item, torch.Tensor):
            if item.numel() <= MAX_ELEMENTS:
                item.flatten()[:4].tolist()
        elif isinstance(item, dict):
            todo.extend(item.values())
        elif isinstance(item, (list, tuple)):
            todo.extend(item)


LOADERS: dict[str, Loader] = {
    ld.name: ld
    for ld in (
        Loader("safetensors", ("safetensors",), "safetensors", "safetensors", _safetensors,
               ("SafetensorError",)),
        Loader("numpy", ("numpy", "npz"), "numpy", "numpy", _numpy, ("BadZipFile",)),
        Loader("onnx", ("onnx",), "onnx", "onnx", _onnx, ("DecodeError", "ValidationError", "InferenceError")),
        Loader("onnxruntime", ("onnx",), "onnxruntime", "onnxruntime", _onnxruntime,
               ("Fail", "InvalidArgument", "InvalidGraph", "InvalidProtobuf", "NoSuchFile", "NotImplemented",
                "RuntimeException", "EPFail", "ModelLoaded", "NoModel", "EngineError")),
        Loader("h5py", ("hdf5", "keras-h5"), "h5py", "h5py", _h5py, ("KeyError", "TypeError")),
        Loader("torch", ("pytorch-zip", "pytorch-legacy"), "torch", "torch", _torch, ("UnpicklingError",)),
    )
}


def installed(fmt: str) -> list[str]:
    """Loaders for `fmt` whose package is installed (checked without importing it)."""
    out = []
    for ld in LOADERS.values():
        if fmt in ld.formats and importlib.util.find_spec(ld.module) is not None:
            out.append(ld.name)
    return out


def version(name: str) -> str:
    try:
        return metadata.version(LOADERS[name].dist)
    except (metadata.PackageNotFoundError, KeyError):
        return "unknown"
