"""What a few callables do, known without calling them.

The walker follows calls symbolically, but some calls must be understood to
judge a file the way its loader will run it:

- `getattr(<global>, "<constant>")`, and pickled bound methods (which pickle
  as exactly that call on an instance), name an attribute: the walker resolves
  it to `module:qualname` so it is judged like an import;
- `torch.storage._load_from_bytes(b"...")` (what `pickle.dumps(tensor)`
  writes) is `torch.load` on embedded bytes: the bytes are a checkpoint to
  scan, not a reason to flag the call;
- `_codecs.encode(text, "latin1")` is how protocol 2 spells bytes.

A call these rules do not cover keeps the callable judged as it is.
"""

from __future__ import annotations

import _compat_pickle

from mlsecops.formats.pickle.values import Blob, Global, Obj, Py2Str, is_symbolic

SPECIAL = {"builtins.getattr": "getattr", "torch.storage._load_from_bytes": "load_from_bytes"}
# Calls whose result is an instance of the class in their first argument.
_INSTANCE_MAKERS = frozenset({"copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__"})
NEW_CALLERS = frozenset({"copyreg.__newobj__", "copyreg.__newobj_ex__"})  # they call cls.__new__
_LATIN1 = frozenset({"latin1", "latin-1", "latin_1", "iso-8859-1", "iso8859-1", "l1"})
_TYPE_NAMES = {str: "str", Py2Str: "str", bytes: "bytes", Blob: "bytes", int: "int", float: "float", bool: "bool",
               tuple: "tuple", type(None): "NoneType"}


def full_name(module: str, name: str) -> str:
    """`module.name` after the Python 2 renames the unpickler applies (fix_imports)."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    return f"{module}.{name}"


def special_kind(module: str, name: str) -> str | None:
    return SPECIAL.get(full_name(module, name))


def constant_str(value: object) -> str | None:
    """A name given as a constant: str, or a Python 2 string read as text."""
    if type(value) is str:
        return value  # type: ignore[return-value]
    if type(value) is Py2Str:
        return value.decode("latin-1")  # type: ignore[attr-defined]
    return None


def instance_class(value: object) -> Global | None:
    """The class `value` is an instance of, when the call that made it says so."""
    if not isinstance(value, Obj) or not isinstance(value.callee, Global):
        return None
    callee = value.callee
    if value.kind in ("newobj", "newobj_ex", "obj", "inst"):
        return callee
    if value.kind == "reduce":
        if full_name(callee.module, callee.name) in _INSTANCE_MAKERS:
            args = value.args
            if isinstance(args, tuple) and args and isinstance(args[0], Global):
                return args[0]
            return None
        return callee  # a class called with arguments makes an instance of itself
    return None


def attribute_owner(target: object) -> tuple[str, str] | None:
    """(module, qualname) that `getattr(target, name)` reads `name` from."""
    if isinstance(target, Global):
        return target.module, target.name
    cls = instance_class(target)
    if cls is not None:
        return cls.module, cls.name
    type_name = _TYPE_NAMES.get(type(target))
    if type_name is not None:
        return "builtins", type_name
    return None


# Callables known to return something other than an exact str (a dtype, an array, an instance).
# (Not numpy's multiarray.scalar: under the object dtype it returns its argument, a str too.)
_NEVER_STR = frozenset({"numpy.dtype", "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
                        "numpy.ndarray",
                        "collections.OrderedDict", "joblib.numpy_pickle.NumpyArrayWrapper",
                        "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter"})


NOT_KNOWN = object()
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER: the first pickle of a legacy file


def may_be_torch_magic(value: object) -> bool:
    """Does torch.load read on after a first pickle that returned `value`? It tests
    `value != MAGIC_NUMBER`: the magic however spelled, or an object whose `!=` may say no
    (a one-item numpy array holding it compares as a falsy array)."""
    return (type(value) is int and value == TORCH_LEGACY_MAGIC) or is_symbolic(value)


def persistent_value(pid: object, loader: str | None) -> object:
    """What a known loader's persistent_load returns for `pid`, or NOT_KNOWN.

    torch.load's legacy readers return an item of the id itself: ('module', cls, file,
    source) is cls in the stacked format, any tuple its first item in the tar format's
    `pickle`. So the id can hand back a class or a string the pickle then uses (a BUILD on
    it changes the class: MLS107; a STACK_GLOBAL on it imports)."""
    if type(pid) is not tuple or not pid:
        return NOT_KNOWN
    if loader == "torch-tar":
        return pid[0]  # type: ignore[index]
    if loader == "torch-legacy" and len(pid) >= 2:  # type: ignore[arg-type]
        kind = pid[0]  # type: ignore[index]
        text = constant_str(kind) if type(kind) is not bytes else kind.decode("latin-1")  # type: ignore[union-attr]
        if text == "module":
            return pid[1]  # type: ignore[index]
    return NOT_KNOWN


def could_be_str(value: object) -> bool:
    """Could this symbolic value be exactly a `str` at run time (STACK_GLOBAL takes only that)?

    An import may be a module attribute that is a str (`os.name` is "posix"); what an
    unknown callable returns may be anything. An instance made by NEWOBJ is one of its
    class, so only `str` itself makes a str; a few library callables are known not to."""
    if not isinstance(value, Obj):
        return True  # an import (Global), or a value the walker had to drop
    if value.kind in ("array", "persistent") or not isinstance(value.callee, Global):
        return value.kind == "persistent"
    callee = full_name(value.callee.module, value.callee.name)
    if value.kind in ("newobj", "newobj_ex"):
        return callee == "builtins.str"
    if callee in _INSTANCE_MAKERS:
        cls = instance_class(value)
        return cls is None or full_name(cls.module, cls.name) == "builtins.str"
    return callee not in _NEVER_STR


def codecs_encode(args: object) -> bytes | None:
    """The bytes `_codecs.encode(text, "latin1")` returns (protocol 2's spelling of bytes)."""
    if not isinstance(args, tuple) or len(args) not in (1, 2, 3):
        return None
    text = args[0]
    encoding = constant_str(args[1]) if len(args) > 1 else "utf-8"
    if type(text) is not str or encoding is None:
        return None
    try:
        if encoding.lower() in _LATIN1:
            return text.encode("latin-1")  # type: ignore[attr-defined,no-any-return]
        if encoding.lower() in ("utf-8", "utf8"):
            return text.encode("utf-8", "surrogatepass")  # type: ignore[attr-defined,no-any-return]
    except UnicodeEncodeError:
        return None
    return None


def constant_bytes(value: object) -> tuple[bytes | None, int | None, int] | None:
    """(data or None, offset in the stream or None, size) of a constant bytes value."""
    if type(value) is bytes:
        return value, None, len(value)  # type: ignore[arg-type]
    if type(value) is Blob:
        return value.data, value.offset, value.size  # type: ignore[attr-defined]
    if isinstance(value, Obj) and isinstance(value.value, bytes):
        return value.value, None, len(value.value)
    return None


# Objects whose call runs only what they hold, which the walk already judges as called: functools.partial
# (its func; the allowlist's deferred calls), numpy.vectorize (its pyfunc).
_CALLS_WHAT_IT_HOLDS = frozenset({"functools.partial", "numpy.vectorize"})


def calls_what_it_holds(value: object) -> bool:
    """A call of `value` (an object made at load time) runs only the callable it holds: a partial or a vectorize."""
    return isinstance(value, Obj) and isinstance(value.callee, Global) \
        and full_name(value.callee.module, value.callee.name) in _CALLS_WHAT_IT_HOLDS


def made_by(value: object) -> str:
    """How a value that is not a constant came to be, for a finding."""
    if isinstance(value, Obj) and isinstance(value.callee, Global):
        return f"the result of {value.callee.module}.{value.callee.name}() (made when the file is loaded)"
    if isinstance(value, Global):
        return f"the object {value.module}.{value.name}"
    if isinstance(value, Obj):
        return "the result of a call"
    return f"a {type(value).__name__} value"
