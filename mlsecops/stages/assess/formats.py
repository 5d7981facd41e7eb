"""Which model formats the assess stage runs, recognised by content in the gate (nothing is loaded).

`formats.detect` decides first, so a pickle is a pickle whatever its name or
first byte (a polyglot included): every pickle-based format is refused and is
never handed to a loader. The formats that run without executing code from the
file are then told apart: ONNX (protobuf), skops (a zip holding `schema.json`),
XGBoost JSON or UBJSON (an object whose first key is `learner`) and LightGBM's
text format (`tree` then `version=`). Anything else is unsupported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from mlsecops.formats import ziparchive
from mlsecops.formats.detect import detect
from mlsecops.formats.kinds import PICKLE_BEARING, Format
from mlsecops.formats.safe_open import open_regular

ModelFormat = Literal["onnx", "skops", "xgboost-json", "xgboost-ubj", "lightgbm-text"]
SAFE: tuple[ModelFormat, ...] = ("onnx", "skops", "xgboost-json", "xgboost-ubj", "lightgbm-text")
DataFormat = Literal["csv", "parquet"]
PARQUET_MAGIC = b"PAR1"
UBJ_LENGTH_MARKERS = b"iUIlL"


class Refused(Exception):
    """The file is not run: a pickle, or a format the stage has no safe runner for. `str()` says why."""


def model_format(path: Path, name: str) -> ModelFormat:
    """The safe format of a model file; raise Refused (or OSError when it is not a regular file)."""
    fh, st = open_regular(path)
    with fh:
        fmt = detect(fh, name, st.st_size)
        if fmt in PICKLE_BEARING:
            raise Refused(f"is a pickle-based file ({fmt.value}, detected from its content); the assess stage never "
                          "loads pickles, which can run code")
        if fmt == Format.onnx:
            return "onnx"
        if fmt in (Format.zip, Format.npz) and _is_skops(fh, st.st_size):
            return "skops"
        fh.seek(0)
        head = fh.read(256)
    text = head.lstrip()
    if text.startswith(b"{") and text[1:].lstrip().startswith(b'"learner"'):
        return "xgboost-json"
    if head[:1] == b"{" and head[1:2] in UBJ_LENGTH_MARKERS and b"learner" in head[:24]:
        return "xgboost-ubj"
    if head.startswith(b"tree\n") and b"version=" in head:
        return "lightgbm-text"
    what = fmt.value if fmt is not None else "not a model format mlsecops recognises"
    raise Refused(f"cannot be run safely ({what}); supported: ONNX, skops, XGBoost JSON/UBJ, LightGBM text")


def _is_skops(fh, size: int) -> bool:  # type: ignore[no-untyped-def]
    try:
        directory = ziparchive.read_directory(fh, size, 100_000)
    except ziparchive.ZipFormatError:
        return False
    return any(e.name == "schema.json" for e in directory.entries)


def data_format(path: Path) -> DataFormat:
    """Parquet by its magic number at both ends; anything else is read as CSV."""
    fh, st = open_regular(path)
    with fh:
        head = fh.read(4)
        if head == PARQUET_MAGIC and st.st_size >= 12:
            fh.seek(st.st_size - 4)
            if fh.read(4) == PARQUET_MAGIC:
                return "parquet"
    return "csv"
