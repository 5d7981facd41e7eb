"""What one walk of a pickle stream reports: imports, calls, breaks, and what it could not read.

Issue kinds, and what the analyzer makes of them:

- the loader stops here (`truncated`, `malformed`): every unpickler the walk follows
  fails at this offset, so nothing after it runs; the stream is corrupt (advisory)
  unless something dangerous ran before the break;
- the walker cannot follow (`opcode-limit`, `nesting-limit`, `unreadable`,
  `joblib-layout`): the loader would go on where the walk stopped, so the file is
  blocked (fail closed) with the reason;
- a checkpoint torch.load reads from bytes made at load time (`computed-checkpoint`): the
  walk reads on, but what torch would load is not in the file, so the file is blocked;
- techniques and notes (`dynamic-global`, `ext-opcode`, `build-on-global`,
  `misplaced-proto`, `trailing-data`; `loader-split` and `frame-end` say where
  unpicklers part ways).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlsecops.formats.pickle.states import Summary

BREAKS = frozenset({"truncated", "malformed"})
BLIND = frozenset({"opcode-limit", "nesting-limit", "unreadable", "joblib-layout"})


@dataclass
class GlobalRef:
    """One import (find_class), or an attribute resolved from a constant getattr on one."""

    module: str
    name: str
    offset: int
    opcode: str  # GLOBAL, STACK_GLOBAL, INST, EXT, getattr, method
    pickle_index: int = 0
    called: bool = False
    special: str | None = None  # "getattr" or "load_from_bytes": judged by its uses, see `resolved`
    resolved: bool = True  # special imports: every use was a call with constant arguments
    via: int | None = None  # a getattr-resolved name: the index of the getattr import
    view: str | None = None  # "pickle.load": seen only by unpicklers that read joblib's array bytes as opcodes
    # How the pickle uses it (the allowlist's construction rules and the unknown-call rule read these):
    reduced: bool = False  # called by REDUCE, INST or OBJ: a function runs, a class's __init__ runs
    newobj: bool = False  # instantiated by NEWOBJ/NEWOBJ_EX: only its __new__ runs
    with_args: bool = False  # called by REDUCE, INST or OBJ with at least one argument
    other_args: bool = False  # ... with arguments other than one constant (how an enum member pickles: Cls(value))
    built: bool = False  # what it made received a BUILD: it made an instance that takes state
    # Where it was handed to other code: (holder's index in globals, position, how). `how` is
    # "reduce" or "newobj" (an argument of that call), "state" (held in the BUILD state of an
    # instance of the holder), "held" (an argument of a call whose result was itself called), "item"
    # (a key of SETITEM(S) on what a call of the holder made: its __setitem__ runs).
    passed: list[tuple[int, int | str, str]] | None = None
    passed_lost: bool = False  # more distinct hand-overs than are kept: judged as called
    states: dict[Summary, None] | None = None  # summaries of the BUILD states of what it made


@dataclass
class Issue:
    kind: str
    offset: int
    detail: str


@dataclass
class Nested:
    """A pickle carried inside a byte string, walked on its own."""

    offset: int
    encoding: str  # raw, base64, hex, latin1, joblib-object-array, pickle.load-view
    result: WalkResult


@dataclass
class Embedded:
    """A torch.save checkpoint passed to torch.storage._load_from_bytes: scanned as a file.

    `data` holds it when it was read; otherwise it is `size` bytes at `offset` of the stream."""

    offset: int
    size: int
    data: bytes | None = None


@dataclass
class WalkResult:
    globals: list[GlobalRef] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    nested: list[Nested] = field(default_factory=list)
    embedded: list[Embedded] = field(default_factory=list)
    opcodes: int = 0
    calls: int = 0
    pickles: int = 0
    protocol: int = 0
    end: int = 0
    # (offset, length, replacement) of rewritten regions: the skeleton the engines see
    # has each region replaced (a short opcode of the same type, or nothing).
    elided: list[tuple[int, int, bytes]] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)  # (start, end) of each pickle
    joblib_arrays: int = 0
    complete: bool = False  # every pickle ended with STOP and the stream ended there
    data_only_proof: bool = False  # the fast path proved there is nothing to resolve
    assumed: bool = False  # the walk went on by assuming what a symbolic value is at run time
    call_idents: set[str] | None = None  # with trace=True: every callee called (differential tests)
    other_view_complete: bool = False  # a forked view (another unpickler's reading) got through
    loose_states: dict[Summary, None] = field(default_factory=dict)  # BUILD states of instances of no known class
    value: object = field(default=None, compare=False)  # what the last pickle's STOP returned (values.py)

    @property
    def elided_bytes(self) -> int:
        """Bytes the walk seeked over (rewrites of text FLOAT, BYTEARRAY8 and NEWOBJ_EX are not elisions)."""
        return sum(n for _, n, rep in self.elided if rep[:1] not in (b"G", b"B", b"\x8e", b"0"))

    def resolved_specials(self) -> set[tuple[str, str]]:
        """Special imports (getattr, _load_from_bytes) every use of which was resolved."""
        out: dict[tuple[str, str], bool] = {}
        for ref in self.globals:
            if ref.special:
                key = (ref.module, ref.name)
                out[key] = out.get(key, True) and ref.resolved
        return {k for k, ok in out.items() if ok}

    @property
    def broken(self) -> Issue | None:
        return next((i for i in self.issues if i.kind in BREAKS), None)

    @property
    def blind(self) -> list[Issue]:
        return [i for i in self.issues if i.kind in BLIND]
