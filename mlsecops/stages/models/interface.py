"""The three roles of the models stage, and how they meet.

- An **Analyzer** reads a stream of a format it handles (a file, an archive member, a
  decoded stream, an embedded pickle). What it finds goes out as observations
  (`state.observe`); what it finds inside (members, decoded streams, side files) goes out
  as child streams (`state.scan_child`, `state.scan_child_as`), which scanfile detects and
  hands to the analyzer for their format. An analyzer never calls another one.
- An **Engine** (fickling, modelscan) is a third-party scanner run on bytes mlsecops
  prepared (a pickle, or a whole file of a kind it reads itself); it reports into the same
  observations, under its own name, and says when it could not do its job (a stage error,
  or MLS105 where mlsecops's own walk found the pickle broken too).
- The **Scanner** is scanfile: detection, depth, polyglot checks and recursion.

`registry.py` lists every analyzer by format and every engine by name; adding a format or
an engine is one new module and one line there (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from mlsecops.formats.kinds import Format
from mlsecops.formats.pickle import WalkResult
from mlsecops.stages.models.context import ScanState

Analyze = Callable[..., None]
"""analyze(state, fmt, stream, size, name, member, depth): read the stream, observe, and hand
child streams back through `state`. `size` is None only for a stream decoded as it is read,
which is only ever handed (`scan_child_as(whole=False)`) to the pickle and compression analyzers."""


@runtime_checkable
class Analyzer(Protocol):
    """Reads the formats it handles; observations and child streams out, through `state`."""

    @property
    def formats(self) -> frozenset[Format]: ...

    def analyze(self, state: ScanState, fmt: Format, fh: BinaryIO, size: int | None, name: str,
                member: str | None, depth: int) -> None: ...


@dataclass(frozen=True)
class Handles:
    """An analyzer written as one function: the formats it handles and that function."""

    formats: frozenset[Format]
    analyze: Analyze


@runtime_checkable
class Engine(Protocol):
    """A third-party scanner. `whole` names the kinds of whole file it reads by itself
    (`zip`, or a suffix such as `.h5`), which mlsecops hands it by path."""

    @property
    def name(self) -> str: ...

    @property
    def whole(self) -> frozenset[str]: ...

    def scan_pickle(self, state: ScanState, data: bytes, member: str | None, walk: WalkResult) -> None:
        """One pickle (or stack of pickles) as mlsecops's walk read it: `data` is its bytes or its
        skeleton (large payloads elided); findings merge with the walk's by key."""
        ...

    def scan_whole(self, state: ScanState, path: Path, kind: str, member: str | None) -> None:
        """A whole file of a kind in `whole`."""
        ...

    def picks(self, name: str) -> bool:
        """For a zip: whether its own zip scan reads member `name` (mlsecops then leaves that
        member's pickle to it instead of handing it over again)."""
        ...


class Scanner(Protocol):
    """Detection and recursion (scanfile): what `state.scan_child` and `scan_child_as` call."""

    def scan(self, state: ScanState, fh: BinaryIO, size: int, name: str, member: str | None, depth: int) -> str | None: ...

    def scan_as(self, state: ScanState, fmt: Format, fh: BinaryIO, size: int | None, name: str, member: str | None,
                depth: int, whole: bool = True) -> None: ...
