"""What running one input produced, as the worker reports it to the gate.

`Outcome` is the JSON a worker writes per input (or per crash it keeps). A
Python exception is split in two: a *rejection* (the loader refused a bad file
with one of its own error types, or ValueError/OSError-like errors: correct
behaviour, not a finding) and an *exception* (IndexError, KeyError, TypeError,
RecursionError ... escaping a loader: a robustness bug). Frames are recorded
relative to site-packages, the standard library or the repository, so the
signature built from them is the same on every machine.
"""

from __future__ import annotations

import os
import sys
import sysconfig
import traceback
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field

Status = Literal["ok", "rejected", "exception", "memory", "nonfinite"]

# Built-in errors that signal a bug in the parser rather than a deliberate refusal.
BUG_TYPES = ("IndexError", "KeyError", "AttributeError", "TypeError", "AssertionError", "ZeroDivisionError",
             "RecursionError", "SystemError", "NameError", "UnboundLocalError", "StopIteration", "OverflowError",
             "UnicodeDecodeError", "UnicodeEncodeError", "UnicodeError", "BufferError", "LookupError")
MAX_FRAMES = 12


class FrameInfo(BaseModel):
    file: str
    line: int
    func: str


class Outcome(BaseModel):
    status: Status
    target: str = Field(default="", description="the loader or harness that ran")
    exc_type: str | None = None
    message: str = ""
    frames: list[FrameInfo] = Field(default_factory=list, description="innermost last, ours removed")
    seconds: float = 0.0
    detail: str = ""


@lru_cache(maxsize=16)
def _prefixes(repos: tuple[str, ...]) -> list[tuple[str, str]]:
    paths = sysconfig.get_paths()
    out: list[tuple[str, str]] = []
    for entry in sys.path:
        if entry.endswith(("site-packages", "dist-packages")):
            out.append((os.path.realpath(entry) + os.sep, ""))
    for repo in repos:
        out.insert(0, (repo.rstrip(os.sep) + os.sep, ""))
    for key in ("purelib", "platlib"):
        out.append((os.path.realpath(paths[key]) + os.sep, ""))
    out.append((os.path.realpath(paths["stdlib"]) + os.sep, "python/"))
    return out


@lru_cache(maxsize=4096)
def relative_file(filename: str, repos: tuple[str, ...]) -> str:
    """A frame's file as `numpy/lib/format.py`, `python/json/decoder.py` or `pkg/mod.py` (repo)."""
    for raw in (filename, os.path.realpath(filename) if os.path.isabs(filename) else filename):
        for prefix, label in _prefixes(repos):
            if raw.startswith(prefix):
                return label + raw[len(prefix) :].replace(os.sep, "/")
    return os.path.basename(filename)


def frames_of(exc: BaseException, repos: list[str], skip: tuple[str, ...] = ("mlsecops/",)) -> list[FrameInfo]:
    """The traceback without our own worker frames, innermost last."""
    out: list[FrameInfo] = []
    for fs in traceback.extract_tb(exc.__traceback__):
        rel = relative_file(fs.filename, tuple(repos))
        if rel.startswith(skip) or "/mlsecops/stages/fuzz/" in fs.filename:
            continue
        out.append(FrameInfo(file=rel, line=fs.lineno or 0, func=fs.name))
    return out[-MAX_FRAMES:]


def is_bug(exc: BaseException, rejects: tuple[str, ...] = ()) -> bool:
    """True when the exception type points at a bug rather than a refusal of bad input."""
    names = {c.__name__ for c in type(exc).__mro__}
    if names & set(rejects):
        return False
    return bool(names & set(BUG_TYPES))


def from_exception(exc: BaseException, target: str, repos: list[str], harness: bool,
                   rejects: tuple[str, ...] = ()) -> Outcome:
    if isinstance(exc, MemoryError):
        status: Status = "memory"
    elif harness or is_bug(exc, rejects):
        status = "exception"
    else:
        status = "rejected"
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not crash the worker
        message = "<unprintable>"
    return Outcome(status=status, target=target, exc_type=f"{type(exc).__module__}.{type(exc).__qualname__}"
                   .removeprefix("builtins."), message=message[:500], frames=frames_of(exc, repos))
