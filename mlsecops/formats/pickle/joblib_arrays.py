"""joblib's inline arrays: what `NumpyArrayWrapper.read` takes from the stream.

joblib writes each numpy array as a NumpyArrayWrapper object and then the
array's bytes right after the wrapper's BUILD opcode; its unpickler reads
them there (numpy_pickle.py, `read_array`): an alignment byte and padding when
the wrapper has `numpy_array_alignment_bytes`, then count x itemsize bytes, or,
for a dtype that holds objects, one whole pickle read by a fresh unpickler.
The sizes come from the wrapper's `shape` and `dtype` exactly as joblib
computes them: the dtype is rebuilt with numpy from the constants in the
pickle (`numpy.dtype(*args)` and `__setstate__(state)`, which is where the
itemsize of flexible types and `hasobject` come from), nothing else is run.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlsecops.formats.pickle import resolve
from mlsecops.formats.pickle.numpy_values import Dies, Unclear, numpy_dtype
from mlsecops.formats.pickle.values import Dct, Global, Obj, truthy

WRAPPER = "joblib.numpy_pickle.NumpyArrayWrapper"
_INIT_PARAMS = ("subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes")
_INIT_DEFAULTS = {"allow_mmap": False, "numpy_array_alignment_bytes": 16}
UNKNOWN = object()  # attributes that cannot be known (a state too large or not constant)
BUFFER_SIZE = 2**18  # joblib.numpy_pickle_utils.BUFFER_SIZE
_INT64_MAX = (1 << 63) - 1


@dataclass(frozen=True)
class Layout:
    hasobject: bool
    count: int       # items (joblib's int64 product of the shape)
    itemsize: int
    aligned: bool    # an alignment byte (and its padding) comes first
    reshape_ok: bool  # joblib's reshape after reading succeeds (else it raises once the bytes are read)


def wrapper_kind(inst: object) -> str:
    """"yes" for an instance of joblib's NumpyArrayWrapper, "unsure" for a class of that
    name elsewhere (maybe an alias of it), "no" otherwise."""
    cls = resolve.instance_class(inst)
    if cls is None or cls.name.rsplit(".", 1)[-1] != "NumpyArrayWrapper":
        return "no"
    return "yes" if resolve.full_name(cls.module, cls.name) == WRAPPER else "unsure"


def _base_attrs(inst: Obj) -> object:
    """Attributes set before any BUILD: by __init__ when the class was called with arguments."""
    if inst.kind in ("newobj", "newobj_ex"):
        return {}
    args = inst.args
    if inst.kind == "reduce" and isinstance(inst.callee, Global) and \
            resolve.full_name(inst.callee.module, inst.callee.name) != WRAPPER:
        # copyreg._reconstructor(cls, object, None) is object.__new__(cls): no __init__.
        if isinstance(args, tuple) and len(args) == 3 and isinstance(args[1], Global) and \
                resolve.full_name(args[1].module, args[1].name) == "builtins.object":
            return {}
        return UNKNOWN
    if not isinstance(args, tuple) or not 4 <= len(args) <= len(_INIT_PARAMS):
        return UNKNOWN
    attrs: dict[str, object] = dict(_INIT_DEFAULTS)
    attrs.update(zip(_INIT_PARAMS, args))
    return attrs


def apply_build(inst: Obj, state: object) -> bool:
    """The pure-Python BUILD on a wrapper (it has no __setstate__): state and slot state
    dicts become attributes. False when that BUILD raises."""
    if inst.attrs is None:
        inst.attrs = _base_attrs(inst)
    slot: object = None
    if type(state) is tuple and len(state) == 2:  # type: ignore[arg-type]
        state, slot = state  # type: ignore[misc]
    for part in (state, slot):
        t = truthy(part)
        if t is False:
            continue
        if type(part) is Dct:
            if isinstance(inst.attrs, dict) and part.count == len(part) and all(type(k) is str for k in part):
                inst.attrs.update(part)
            else:
                inst.attrs = UNKNOWN
            continue
        if t is None:
            inst.attrs = UNKNOWN
            continue
        return False  # a truthy non-dict has no .items()
    return True


def layout(inst: Obj) -> Layout:
    """What joblib reads for this wrapper; raises Dies or Unclear."""
    attrs = inst.attrs
    if not isinstance(attrs, dict):
        raise Unclear("the wrapper's attributes are not constants")
    if "shape" not in attrs or "dtype" not in attrs:
        raise Dies("the wrapper has no shape or dtype")
    shape = attrs["shape"]
    if shape is None or type(shape) in (int, float, bool):
        raise Dies("the wrapper's shape has no length")
    if type(shape) is not tuple:
        raise Unclear("the wrapper's shape is not a constant tuple")
    dims = []
    for x in shape:  # type: ignore[attr-defined]
        if type(x) not in (int, bool):
            raise Unclear("the wrapper's shape holds something other than integers")
        if not -(1 << 63) <= x <= _INT64_MAX:
            raise Dies("numpy.int64 overflows on the shape")
        dims.append(int(x))
    count, true_count = 1, 1
    for d in dims:
        true_count *= d
        count = ((count * d + (1 << 63)) % (1 << 64)) - (1 << 63)  # numpy's int64 product wraps
    dtype = numpy_dtype(attrs["dtype"])
    aligned = attrs.get("numpy_array_alignment_bytes") is not None
    # After reading, joblib reshapes in `self.order` (a missing order raises there too).
    reshape_ok = all(d >= 0 for d in dims) and true_count == count and "order" in attrs
    return Layout(bool(dtype.hasobject), count, int(dtype.itemsize), aligned, reshape_ok)
