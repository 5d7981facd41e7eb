"""What BUILD gave an instance, summarised for the allowlist's state checks.

A few allowlisted classes are safe only when the state BUILD hands them is one the
library itself writes (scipy's distributions exec a template string from theirs;
joblib's legacy array wrappers open the file their state names). The walker does
not know which classes those are, so it summarises every BUILD state compactly:
the entries under the attribute names the checks read (`watch`), or "opaque" when
the state is not a dict it read whole. Summaries are hashable, so a class with a
million arrays keeps one of each kind, not a million.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlsecops.formats.pickle.values import BigText, Dct, Global, Py2Str, describe

Summary = tuple[tuple[str, object], ...] | None
"""The watched entries of a dict state, as (key, value) pairs; () for a dict with none
of them; None when the state is not a dict read whole (a tuple, a list, a call's result,
a dict too large to keep every key)."""

MAX_KEPT = 32  # distinct summaries kept per class; past that the class's states count as opaque


@dataclass(frozen=True)
class NotConstant:
    """A watched entry whose value is not a constant string (a call's result, an import...)."""

    what: str


def _key(key: object) -> str | None:
    """The attribute name a state key sets: a str, or a Python 2 string read as text."""
    if type(key) is str:
        return key  # type: ignore[return-value]
    if type(key) is Py2Str:
        return key.decode("latin-1")  # type: ignore[attr-defined,no-any-return]
    return None


def _value(value: object) -> object:
    if type(value) is str:
        return value
    if type(value) is Py2Str:
        return value.decode("latin-1")  # type: ignore[attr-defined]
    if isinstance(value, BigText):
        return NotConstant(f"a {value.size}-byte string that was not read")
    return NotConstant(describe(value))


def _mentions(value: object, watch: frozenset[str], depth: int = 0) -> bool:
    """Does a watched name appear in `value` (tuples and dicts, a few levels down)?"""
    name = _key(value)
    if name is not None:
        return name in watch
    if depth >= 3:
        return False
    if type(value) is tuple:
        return any(_mentions(v, watch, depth + 1) for v in value)  # type: ignore[attr-defined]
    if type(value) is Dct:
        return any(_mentions(k, watch, depth + 1) or _mentions(v, watch, depth + 1)
                   for k, v in value.items())  # type: ignore[attr-defined]
    return False


def summarise(state: object, watch: frozenset[str]) -> Summary:
    """The summary of one BUILD state (see `Summary`)."""
    if type(state) is not Dct:
        if watch and _mentions(state, watch):
            # A watched name inside a tuple or a nested dict: a __setstate__ may still set it
            # (dict.update takes pairs); the check cannot verify it, so it sees a non-constant.
            return tuple((w, NotConstant("set in a state shape the check cannot read")) for w in sorted(watch)
                         if _mentions(state, frozenset({w})))
        return None
    found: list[tuple[str, object]] = []
    for key, value in state.items():  # type: ignore[attr-defined]
        name = _key(key)
        if name is not None and name in watch:
            found.append((name, _value(value)))
    if state.count > len(state) and watch:  # type: ignore[attr-defined]
        return None  # entries were not kept: a watched one may be among them
    return tuple(sorted(found, key=lambda kv: (kv[0], repr(kv[1]))))


def globals_in(state: object) -> list[tuple[str, Global]]:
    """Imports held in a state: ('key', g) for a dict entry, ('0', g) for a tuple item or an item of
    a tuple or dict at that position of a tuple state.
    A class that calls what its state holds (numpy.vectorize's pyfunc) calls these."""
    if type(state) is Dct:
        return [(name, v) for k, v in state.items() if isinstance(v, Global)  # type: ignore[attr-defined]
                for name in [_key(k)] if name is not None]
    if type(state) is tuple:
        # One level down as well, under the item's position: functools.partial's state is
        # (func, args, keywords, dict), and func is handed what args and keywords hold.
        found: list[tuple[str, Global]] = []
        for i, v in enumerate(state):  # type: ignore[arg-type]
            inner = v.values() if type(v) is Dct else v if type(v) is tuple else (v,)  # type: ignore[attr-defined]
            found += [(str(i), g) for g in inner if isinstance(g, Global)]
        return found
    return []
