"""What the symbolic unpickler holds on its stack and in its memo.

Plain data keeps its Python type where that is cheap (None, bool, int, float,
str, bytes, small tuples); containers are small objects that remember what the
loader's checks need (a list's length, a dict's size and its first entries).
Anything an import or a call produced is symbolic: it could be any object at
run time, so every operation on it is assumed to succeed, as the most lenient
loader would let it.
"""

from __future__ import annotations

from dataclasses import dataclass

SMALL = 64  # containers are tracked item by item up to this size


class Py2Str(bytes):
    """A Python 2 string (STRING, BINSTRING, SHORT_BINSTRING): `str` under the default
    encodings, `bytes` under `encoding='bytes'`; the walker keeps both readings."""

    __slots__ = ()


class HugeInt:
    """An integer too long to materialise (a LONG4 of kilobytes, a long text INT)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<huge int>"


HUGE_INT = HugeInt()


@dataclass(slots=True, eq=False)
class Blob:
    """bytes from BINBYTES/BINBYTES8; `data` is None when the payload was seeked over."""

    offset: int  # of the payload in the stream
    size: int
    data: bytes | None


@dataclass(slots=True, eq=False)
class BigText:
    """A text payload too large to read (seeked over): str or a Python 2 string."""

    offset: int
    size: int
    py2: bool


@dataclass(slots=True, eq=False)
class ByteArr:
    """A bytearray (BYTEARRAY8): mutable, unhashable, supports the buffer protocol."""

    n: int


@dataclass(slots=True, eq=False)
class MemView:
    """A read-only memoryview (READONLY_BUFFER on a bytearray): unhashable, as its bytearray."""

    n: int


@dataclass(slots=True, eq=False)
class BigTuple:
    """A tuple with more than SMALL items."""

    n: int
    hashable: bool


class Lst:
    """A list: only its length is kept (SETITEM checks indexes against it). A plain class:
    the hot loop makes one per EMPTY_LIST."""

    __slots__ = ("n",)

    def __init__(self, n: int = 0) -> None:
        self.n = n


class Dct(dict):  # type: ignore[type-arg]
    """A dict: its first SMALL entries with constant keys are kept; `count` is its true size."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def put(self, key: object, value: object) -> None:
        hashable_key = isinstance(key, (str, bytes, int, float)) or key is None
        if hashable_key and key in self:
            self[key] = value
            return
        self.count += 1
        if hashable_key and len(self) < SMALL:
            self[key] = value

    def __hash__(self) -> int:  # identity: two dicts on the stack are two objects
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other


@dataclass(slots=True, eq=False)
class St:
    n: int = 0


@dataclass(slots=True, eq=False)
class FSet:
    n: int = 0


# -- symbolic values ----------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class Global:
    """What find_class returned: any object (module, class, function)."""

    module: str
    name: str
    index: int  # into WalkResult.globals
    ident: str  # "module:name", the differential tests' name for it


@dataclass(slots=True, eq=False)
class Obj:
    """The result of a call: `kind` is reduce, newobj, obj, inst, array or persistent."""

    callee: object
    args: object
    kind: str
    ident: str
    state: object = None  # the last BUILD state
    attrs: object = None  # instance attributes (joblib wrappers only): a dict, UNKNOWN, or None before the first BUILD
    value: object = None  # a constant the call is known to return (_codecs.encode -> bytes)


class Unknown:
    """A value the walker cannot know (a memo entry it had to drop, an out-of-band buffer)."""

    __slots__ = ("ident",)

    def __init__(self, ident: str = "?") -> None:
        self.ident = ident


SYMBOLIC = (Global, Obj, Unknown)
UNHASHABLE_TYPES = frozenset({ByteArr, Lst, Dct, St, MemView})  # a memoryview hashes what it views
NOT_ITERABLE_TYPES = frozenset({type(None), bool, int, float, HugeInt})


def is_symbolic(value: object) -> bool:
    return isinstance(value, SYMBOLIC)


def unhashable(value: object) -> bool:
    """True when hashing the value raises TypeError in the loader (symbolic values may hash)."""
    t = type(value)
    if t in UNHASHABLE_TYPES:
        return True
    if t is tuple:
        return any(unhashable(v) for v in value)  # type: ignore[attr-defined]
    if t is BigTuple:
        return not value.hashable  # type: ignore[attr-defined]
    return False


def truthy(value: object) -> bool | None:
    """bool(value) as the loader computes it; None when it depends on run time."""
    t = type(value)
    if value is None:
        return False
    if t in (bool, int, float):
        return bool(value)
    if t in (str, bytes, Py2Str, tuple):
        return len(value) > 0  # type: ignore[arg-type]
    if t is Dct:
        return value.count > 0  # type: ignore[attr-defined]
    if t in (Lst, St, FSet, ByteArr, MemView, BigTuple):
        return value.n > 0  # type: ignore[attr-defined]
    if t is Blob or t is BigText:
        return value.size > 0  # type: ignore[attr-defined]
    if t is HugeInt:
        return True
    return None


def ident(value: object) -> str:
    """The name the differential tests give a callee: an import, or a call of one."""
    if isinstance(value, (Global, Obj, Unknown)):
        return value.ident
    return type(value).__name__


def describe(value: object) -> str:
    """A short human description for findings."""
    if isinstance(value, str):
        return repr(value)[:60]
    if isinstance(value, bytes):
        return repr(value.decode("latin-1"))[:60]
    if isinstance(value, Global):
        return f"global {value.module}.{value.name}"
    if isinstance(value, Obj):
        return "the result of a call"
    if isinstance(value, BigText):
        return f"a {value.size}-byte string"
    return type(value).__name__
