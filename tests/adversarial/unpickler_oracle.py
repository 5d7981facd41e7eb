"""The loader oracle's child process: CPython's real unpicklers on test inputs, nothing imported.

Run by harness.LoaderOracle under resource limits (`python -I -S this_file`), never
imported by the test process. For each input (a 4-byte little-endian length, then the
bytes, on stdin) it runs every reader the walker models, each as a loop of `load()`
calls over the stream (the way stacked pickles are read), and prints one JSON line:
what each reader imported (every `find_class` call) and called, and how it ended.

`find_class` never imports: it records the name and returns a stub class. Calling a
stub records the call and returns another stub; stubs accept every method an
unpickler may call on an object (extend, append, add, __setitem__, __setstate__,
**-unpacking), so a reader goes as far as the most lenient real object would let it.
joblib's reader gets the real NumpyArrayWrapper (behind a recording subclass), numpy.dtype,
and the real `object` and copyreg constructors: its inline-array reading depends on them
(joblib tests isinstance, however the wrapper was made).
"""

from __future__ import annotations

import copyreg
import io
import itertools
import json
import pickle
import resource
import struct
import sys

resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))
resource.setrlimit(resource.RLIMIT_CPU, (600, 600))

EXTENSIONS = {1: ("extmod", "ext1"), 2: ("extmod", "ext2"), 255: ("extmod", "ext255"), 256: ("extmod", "ext256"),
              65535: ("extmod", "ext65535"), 65536: ("extmod", "ext65536"), 0x7FFFFFFF: ("extmod", "extmax")}
for _code, (_m, _n) in EXTENSIONS.items():
    copyreg.add_extension(_m, _n, _code)

IMPORTS: set[tuple[str, str]] = set()
CALLS: set[str] = set()


def _noop(*args: object, **kwargs: object) -> None:
    return None


class StubMeta(type):
    def __call__(cls, *args: object, **kwargs: object) -> type:
        CALLS.add(cls._id)
        return stub(cls._id + "()")

    def __setitem__(cls, key: object, value: object) -> None:
        return None

    def __getitem__(cls, key: object) -> type:
        return stub(cls._id + "[]")

    def __iter__(cls):  # type: ignore[no-untyped-def]
        return iter(())


class Stub(metaclass=StubMeta):
    _id = "stub"
    __setstate__ = staticmethod(_noop)
    append = extend = add = staticmethod(_noop)
    keys = staticmethod(lambda: ())

    def __new__(cls, *args: object, **kwargs: object) -> type:  # NEWOBJ, and OBJ/INST without arguments
        CALLS.add(cls._id)
        return stub(cls._id + "()")


def stub(ident: str) -> type:
    return StubMeta(ident.replace("\0", "?"), (Stub,), {"_id": ident})  # a class name cannot hold NUL


def _record(module: str, name: str) -> type:
    IMPORTS.add((module, name))
    return stub(f"{module}:{name}")


class CUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> type:
        return _record(module, name)

    def persistent_load(self, pid: object) -> type:
        return stub("persid")


class PyUnpickler(pickle._Unpickler):  # type: ignore[name-defined]
    def find_class(self, module: str, name: str) -> type:
        return _record(module, name)

    def persistent_load(self, pid: object) -> type:
        return stub("persid")


def _joblib_reader():  # type: ignore[no-untyped-def]
    try:
        import numpy
        from joblib import numpy_pickle
    except ImportError:
        return None
    Stub.dtype = numpy.dtype("=f8")  # joblib reads .dtype of what an object array's pickle returned

    class Wrapper(numpy_pickle.NumpyArrayWrapper):
        def __new__(cls, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
            CALLS.add("joblib.numpy_pickle:NumpyArrayWrapper")
            return super().__new__(cls)

    class DtypeMeta(StubMeta):
        """numpy.dtype for joblib's reader: a real dtype when numpy makes one of the arguments
        (joblib sizes arrays with it), else a stub, as for any other import."""

        def __call__(cls, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
            CALLS.add("numpy:dtype")
            try:
                return numpy.dtype(*args, **kwargs)
            except Exception:  # noqa: BLE001 - the walker assumes calls of imports succeed
                return stub("numpy:dtype()")

    dtype = DtypeMeta("numpy:dtype", (Stub,), {"_id": "numpy:dtype"})

    def recorded(ident: str, real):  # type: ignore[no-untyped-def]
        def call(*args: object, **kwargs: object) -> object:
            CALLS.add(ident)
            try:
                return real(*args, **kwargs)
            except Exception:  # noqa: BLE001 - the walker assumes calls of imports succeed, as a stub's do
                return stub(ident + "()")
        return call

    # The ways a pickle makes an instance without calling its class: joblib checks isinstance,
    # so a wrapper made by them is read as one (with stubs in place of these it would not be).
    real = {("joblib.numpy_pickle", "NumpyArrayWrapper"): Wrapper, ("numpy", "dtype"): dtype,
            ("builtins", "object"): object,
            ("copyreg", "_reconstructor"): recorded("copyreg:_reconstructor", copyreg._reconstructor),
            ("copyreg", "__newobj__"): recorded("copyreg:__newobj__", copyreg.__newobj__)}

    class JoblibUnpickler(numpy_pickle.NumpyUnpickler):
        def find_class(self, module: str, name: str):  # type: ignore[no-untyped-def]
            IMPORTS.add((module, name))
            return real.get((module, name)) or stub(f"{module}:{name}")

    return lambda f: JoblibUnpickler("", f, ensure_native_byte_order=True, mmap_mode=None)


def _buffers():  # type: ignore[no-untyped-def]
    return itertools.repeat(bytearray(b"buf"))


READERS = {
    # pickle.load on a file without peek() buffers each FRAME; with peek() it reads exactly.
    "c-str": lambda f: CUnpickler(f, encoding="latin1", buffers=_buffers()),
    "c-bytes": lambda f: CUnpickler(f, encoding="bytes", buffers=_buffers()),
    "c-peek-str": lambda f: CUnpickler(f, encoding="latin1", buffers=_buffers()),
    "c-peek-bytes": lambda f: CUnpickler(f, encoding="bytes", buffers=_buffers()),
    "py-str": lambda f: PyUnpickler(f, encoding="latin1", buffers=_buffers()),
    "py-bytes": lambda f: PyUnpickler(f, encoding="bytes", buffers=_buffers()),
}
JOBLIB = _joblib_reader()
if JOBLIB is not None:
    READERS["joblib"] = JOBLIB


def run(data: bytes) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, make in READERS.items():
        IMPORTS.clear()
        CALLS.clear()
        copyreg._extension_cache.clear()  # type: ignore[attr-defined]
        f = io.BufferedReader(io.BytesIO(data)) if "peek" in name else io.BytesIO(data)
        error = None
        pickles = 0
        while f.tell() < len(data):
            try:
                make(f).load()
            except BaseException as exc:  # noqa: BLE001 - the reader failing is the answer
                error = f"{type(exc).__name__}: {exc}"[:200]
                break
            pickles += 1
            if name == "joblib":
                break  # joblib.load reads one pickle
        out[name] = {"imports": sorted(IMPORTS), "calls": sorted(CALLS), "error": error, "pickles": pickles}
    return out


def main() -> None:
    stdin, stdout = sys.stdin.buffer, sys.stdout
    while True:
        head = stdin.read(4)
        if len(head) < 4:
            return
        (n,) = struct.unpack("<I", head)
        data = stdin.read(n)
        stdout.write(json.dumps(run(data)) + "\n")
        stdout.flush()


if __name__ == "__main__":
    main()
