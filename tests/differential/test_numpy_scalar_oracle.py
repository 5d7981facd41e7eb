"""numpy's multiarray.scalar against the walker: an identity the walker must see through.

`numpy.core.multiarray.scalar(dtype, obj)` returns `obj` itself when `dtype` is the object
dtype (numpy's array_scalar: deprecated, still there), a new scalar otherwise. A pickle can
pass a class through it and BUILD on the result (class attributes changed, no BUILD on an
import in sight), or pass the strings of a STACK_GLOBAL through it. The generator builds
dtypes every way a pickle spells them (numpy.dtype with pickle's arguments and a BUILD
state, plain spec strings, numpy.dtypes.ObjectDType(), structured and flexible dtypes) and
uses the scalar's result as an import's name, a BUILD target, a callee, through the memo.

The oracle is CPython's C unpickler in a sandboxed child with the real numpy.dtype, DType
classes and scalar (recorded), every other import a recording stub class that also records
a BUILD on itself. Relation: the imports and calls agree both ways (unless the walk had to
assume what a value is, and where numpy did not raise: the walker takes calls to succeed),
and every BUILD on a class the loader makes, the walker reports as
BUILD on an import (MLS107).
"""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

import pytest

from mlsecops.formats.pickle import Options, walk
from tests.differential import sandbox

pytest.importorskip("numpy")

CASES = int(os.environ.get("MLSECOPS_DIFF_SCALAR", "600"))
SEED = int(os.environ.get("MLSECOPS_DIFF_SEED", "20261207"))

LOAD = r'''
import io, pickle, warnings
import numpy, numpy.dtypes
from numpy._core import multiarray
warnings.simplefilter("ignore")
imports, calls, builds = set(), set(), set()

class Meta(type):
    def __call__(cls, *args, **kwargs):
        calls.add(cls._id)
        return make(cls._id + "()")
    def __setitem__(cls, key, value):
        pass

def make(ident):
    def setstate(state):
        builds.add(ident)
    return Meta(ident.replace(".", "_").replace(":", "_").replace("(", "").replace(")", ""), (),
                {"_id": ident, "__setstate__": staticmethod(setstate), "append": staticmethod(lambda *a: None)})

def recorded(ident, real):
    def call(*args, **kwargs):
        calls.add(ident)
        return real(*args, **kwargs)
    return call

REAL = {("numpy", "dtype"): recorded("numpy:dtype", numpy.dtype),
        ("numpy.core.multiarray", "scalar"): recorded("numpy.core.multiarray:scalar", multiarray.scalar),
        ("numpy._core.multiarray", "scalar"): recorded("numpy._core.multiarray:scalar", multiarray.scalar)}

class Recording(pickle.Unpickler):
    def find_class(self, module, name):
        imports.add((module, name))
        if (module, name) in REAL:
            return REAL[(module, name)]
        if module == "numpy.dtypes" and name.endswith("DType"):
            return recorded(f"{module}:{name}", getattr(numpy.dtypes, name))
        return make(f"{module}:{name}")

out = {}
for path in json.load(sys.stdin):
    imports.clear(); calls.clear(); builds.clear()
    try:
        Recording(open(path, "rb")).load()
        end = None
    except Exception as exc:
        end = f"{type(exc).__name__}: {exc}"[:200]
    out[path] = {"imports": sorted(map(list, imports)), "calls": sorted(calls), "builds": sorted(builds), "error": end}
print(json.dumps(out))
'''

SCALARS = [b"cnumpy._core.multiarray\nscalar\n", b"cnumpy.core.multiarray\nscalar\n"]
DTYPES = [
    b"cnumpy\ndtype\n(X\x02\x00\x00\x00O8\x89\x88tR",                        # as numpy pickles it
    b"cnumpy\ndtype\n(X\x02\x00\x00\x00O8\x89\x88tR(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb",
    b"cnumpy\ndtype\n(X\x06\x00\x00\x00objecttR",                              # the word
    b"cnumpy\ndtype\n(X\x01\x00\x00\x00OtR",
    b"cnumpy.dtypes\nObjectDType\n)R",                                          # a DType class
    b"cnumpy\ndtype\n(X\x02\x00\x00\x00f8\x89\x88tR",                          # not object: a new scalar
    b"cnumpy.dtypes\nFloat64DType\n)R",
    b"cnumpy\ndtype\n(X\x02\x00\x00\x00V8\x89\x88tR",
    b"cother\ndtype\n)R",                                                       # not numpy's: unknown
]
TARGETS = [b"cargparse\nNamespace\n", b"ctorch.nn\nModule\n", b"cmod\nKlass\n"]


class Gen:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def scalar(self, value: bytes) -> bytes:
        return self.rng.choice(SCALARS) + b"(" + self.rng.choice(DTYPES) + value + b"tR"

    def text(self, s: bytes) -> bytes:
        return self.rng.choice([b"X" + len(s).to_bytes(4, "little") + s, b"\x8c" + bytes([len(s)]) + s, b"V" + s + b"\n"])

    def name_part(self, s: bytes) -> bytes:
        return self.scalar(self.text(s)) if self.rng.random() < 0.7 else self.text(s)

    def program(self) -> bytes:
        kind = self.rng.choice(["import", "build", "call", "memo"])
        target = self.rng.choice(TARGETS)
        if kind == "import":
            module, name = self.rng.choice([(b"os", b"system"), (b"mod", b"fn"), (b"collections", b"OrderedDict")])
            return b"\x80\x04" + self.name_part(module) + self.name_part(name) + b"\x93" + self.text(b"x") + b"\x85R."
        if kind == "build":
            state = self.rng.choice([b"}" + self.text(b"dump_patches") + b"\x88s", b"N}" + self.text(b"a") + b"K\x01s\x86"])
            return b"\x80\x02" + self.scalar(target) + state + b"b."
        if kind == "call":
            return b"\x80\x02" + self.scalar(target) + b")R."
        return b"\x80\x02" + self.scalar(target) + b"q\x010h\x01N}" + self.text(b"a") + b"K\x01s\x86b."


def _walker(data: bytes) -> tuple[set[tuple[str, str]], set[str], bool, bool]:
    r = walk(io.BytesIO(data), 0, len(data), 100_000, opts=Options(trace=True))
    imports = {(g.module, g.name) for g in r.globals if g.opcode != "getattr"}
    return imports, set(r.call_idents or ()), any(i.kind == "build-on-global" for i in r.issues), r.assumed


def test_the_walker_sees_through_numpys_scalar_identity(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    files = []
    for n in range(CASES):
        path = tmp_path / f"s{n}.pkl"
        path.write_bytes(Gen(rng).program())
        files.append(path)
    answers = sandbox.run(LOAD, files, cwd=tmp_path)
    problems, identities = [], 0
    for path in files:
        data, answer = path.read_bytes(), answers[str(path)]
        imports, calls, build_on_import, assumed = _walker(data)
        seen = {tuple(i) for i in answer["imports"]}
        builds = set(answer["builds"])
        class_builds = {b for b in builds if not b.endswith(")")}  # a BUILD on a class, not an instance
        identities += bool(class_builds)
        if not seen <= imports or not set(answer["calls"]) <= calls:
            problems.append(f"{data!r}: missed {sorted(seen - imports)} {sorted(set(answer['calls']) - calls)}")
        # Precision where numpy did not raise (the walker takes every call to succeed, as a stub would).
        if not assumed and answer["error"] is None and (not imports <= seen or not calls <= set(answer["calls"])):
            problems.append(f"{data!r}: extra {sorted(imports - seen)} {sorted(calls - set(answer['calls']))}")
        if class_builds and not build_on_import:
            problems.append(f"{data!r}: the loader BUILDs on the class {sorted(class_builds)}, the walker does not say so")
    print(f"numpy scalar oracle: {len(files)} pickles, {identities} BUILDs on a class through scalar()")
    assert identities > CASES // 20  # the generator reaches the identity
    assert not problems, "\n".join(problems[:10])
