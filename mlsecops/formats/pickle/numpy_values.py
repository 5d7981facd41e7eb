"""numpy values a pickle builds, computed with numpy itself from the pickle's constants.

Two loaders' decisions hang on a dtype: joblib sizes an inline array with it
(joblib_arrays.py), and numpy's `multiarray.scalar(dtype, obj)` returns `obj` itself
when the dtype is the object dtype (an identity the walker must see through: a BUILD
on its result changes the class given to it). The dtype is rebuilt with numpy from the
constants in the pickle, exactly as the loader builds it: `numpy.dtype(*args)` and
`__setstate__(state)` (where flexible itemsizes and object fields come from), or a
`numpy.dtypes.<Name>DType(*args)` class called with constants. Nothing from the file
is run; what numpy is given is plain data.
"""

from __future__ import annotations

from mlsecops.formats.pickle import resolve
from mlsecops.formats.pickle.values import Dct, Global, Obj, Py2Str, is_symbolic

_DTYPE_NAMES = frozenset({"numpy.dtype", "numpy.core.multiarray.dtype", "numpy._core.multiarray.dtype",
                          "numpy.core.numerictypes.dtype", "numpy.dtypes.dtype"})
_DTYPE_CLASS_MODULES = frozenset({"numpy.dtypes", "numpy._core._multiarray_umath", "numpy.core._multiarray_umath"})
SCALAR_NAMES = frozenset({"numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar"})
_CALL_KINDS = ("reduce", "newobj", "obj", "inst")  # numpy.dtype has no __init__: every spelling is dtype(*args)


class Dies(Exception):
    """The loader raises here (numpy refuses the dtype, joblib the array)."""


class Unclear(Exception):
    """The walker cannot tell what the loader would build: the caller fails closed."""


def _constant(value: object, depth: int) -> object:
    """A Python constant for numpy from a symbolic value (nested dtypes rebuilt too)."""
    if depth > 8:
        raise Unclear("a dtype nested too deeply")
    if value is None or type(value) in (bool, int, float, str, bytes):
        return value
    if type(value) is Py2Str:
        return value.decode("latin-1")  # type: ignore[attr-defined]
    if type(value) is tuple:
        return tuple(_constant(v, depth + 1) for v in value)  # type: ignore[attr-defined]
    if type(value) is Dct:
        if value.count != len(value) or len(value) > 4096:
            raise Unclear("a dtype field table too large to follow")
        return {_constant(k, depth + 1): _constant(v, depth + 1) for k, v in value.items()}
    if isinstance(value, Obj):
        return numpy_dtype(value, depth + 1)
    raise Unclear(f"a dtype built from {type(value).__name__}")


def _callee(value: object) -> str | None:
    if not isinstance(value, Obj) or value.kind not in _CALL_KINDS or not isinstance(value.callee, Global):
        return None
    return resolve.full_name(value.callee.module, value.callee.name)


def _dtype_class(name: str | None):  # type: ignore[no-untyped-def]
    """numpy's DType class for `numpy.dtypes.Float64DType` and the like, or None."""
    if name is None:
        return None
    module, _, attr = name.rpartition(".")
    if module not in _DTYPE_CLASS_MODULES or not attr.endswith("DType") or not attr.isidentifier():
        return None
    try:
        import numpy
        import numpy.dtypes
    except ImportError:
        return None
    cls = getattr(numpy.dtypes, attr, None)
    return cls if isinstance(cls, type) and issubclass(cls, numpy.dtype) else None


def is_numpy_dtype(value: object) -> bool:
    """Made by a call of numpy.dtype (under any of its names) or of a DType class?"""
    name = _callee(value)
    return name in _DTYPE_NAMES or _dtype_class(name) is not None


def numpy_dtype(value: object, depth: int = 0):  # type: ignore[no-untyped-def]
    """The numpy dtype a symbolic `numpy.dtype(*args)` (or `numpy.dtypes.XDType(*args)`) +
    BUILD(state) makes; raises Unclear when it is not made of constants, Dies when numpy
    refuses it (so does the loader)."""
    name = _callee(value)
    if name is None:
        raise Unclear("the dtype is not a numpy.dtype call")
    cls = _dtype_class(name)
    if name not in _DTYPE_NAMES and cls is None:
        raise Unclear("the dtype comes from an unknown callable")
    assert isinstance(value, Obj)
    args = _constant(value.args, depth)
    state = _constant(value.state, depth) if value.state is not None else None
    if not isinstance(args, tuple):
        raise Unclear("a numpy.dtype call with unusual arguments")
    if cls is None and (not args or not isinstance(args[0], str) or len(args[0]) > 64):
        raise Unclear("a numpy.dtype call with unusual arguments")
    try:
        import numpy
    except ImportError:
        raise Unclear("numpy is not installed") from None
    try:
        dtype = numpy.dtype(*args) if cls is None else cls(*args)
        if state is not None:
            dtype.__setstate__(state)
    except Exception as exc:  # noqa: BLE001 - numpy rejects it: so does the loader
        raise Dies(f"numpy.dtype raises {type(exc).__name__}") from None
    return dtype


def scalar_returns_argument(args: object) -> bool | None:
    """Does `numpy.core.multiarray.scalar(*args)` return its second argument itself?

    numpy's array_scalar: with the object dtype it returns `obj` unchanged (deprecated, still
    there); any other dtype makes a new scalar. True, False, or None when the dtype cannot
    be known (then the result may be the argument)."""
    if not isinstance(args, tuple) or len(args) != 2:
        return False if isinstance(args, tuple) else None
    dtype = args[0]
    if not is_symbolic(dtype):
        return False  # not a dtype: numpy raises
    try:
        built = numpy_dtype(dtype)
    except (Unclear, Dies):
        return None
    import numpy

    return bool(built.type is numpy.object_)
