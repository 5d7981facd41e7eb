"""Allowlisted callables that call something the allowlist analysis does not see them call.

The allowlist records, per allowed callable, which *positional arguments* it calls
(`calls_args`), and judges an unknown import handed there as called. Read from the
libraries, three allowed callables call code another way:
- scikit-learn's `sklearn.metrics._scorer._cached_call(cache, estimator, method, X)`
  calls `getattr(estimator, method)(X)` (through `_get_response_values` and
  `_check_response_method`): any method, named by a string in the pickle, of any
  estimator the pickle rebuilt. `FunctionTransformer.transform` then calls the `func`
  its BUILD state holds; `Pipeline.fit` with a `memory` folder makes joblib create it.
- numpy's `piecewise(x, condlist, funclist)` calls the items of its `funclist` list
  with `x[cond]`: a callable inside a list argument, not an argument.
The callable that runs is either an allowlisted method reached by name (nothing but
allowlisted imports in the pickle) or a function of a package nobody reviewed
(graphviz, installed beside scikit-learn in many stacks: `run_check(argv)` is
`subprocess.run(argv)`), which is only `unknown_globals` when the pickle does not call it.
"""

from __future__ import annotations

import struct

from benchmarks.redteam.pickles import (BUILD, EMPTY_LIST, EMPTY_TUPLE, MARK, NEWFALSE, NEWOBJ, NEWTRUE, NONE, PROTO4,
                                        STOP, TUPLE, call, dict_state, glob4, s)
from benchmarks.redteam.sample import PROC_ARGV, Sample

F = "hidden-calls"
CACHED_CALL = glob4("sklearn.metrics._scorer", "_cached_call")
RUN_CHECK = glob4("graphviz.backend.execute", "run_check")


def _list(*items: bytes) -> bytes:
    return EMPTY_LIST + MARK + b"".join(items) + b"e"


def _float(x: float) -> bytes:
    return b"G" + struct.pack(">d", x)


def _argv() -> bytes:
    return _list(*(s(a) for a in PROC_ARGV))


def _estimator(module: str, cls: str, state: dict[str, bytes]) -> bytes:
    """An estimator as pickle rebuilds it: NEWOBJ without arguments, then BUILD with its __dict__."""
    return glob4(module, cls) + EMPTY_TUPLE + NEWOBJ + dict_state(state) + BUILD


def function_transformer(func: bytes) -> bytes:
    return _estimator("sklearn.preprocessing._function_transformer", "FunctionTransformer", {
        "func": func, "inverse_func": NONE, "validate": NEWFALSE, "accept_sparse": NEWFALSE, "check_inverse": NEWTRUE,
        "feature_names_out": NONE, "kw_args": NONE, "inv_kw_args": NONE})


def cached_call_transform(func: bytes, x: bytes) -> bytes:
    """_cached_call(None, FunctionTransformer(func=...), 'transform', X): FunctionTransformer.transform calls func(X)."""
    return PROTO4 + call(CACHED_CALL, NONE, function_transformer(func), s("transform"), x) + STOP


def cached_call_pipeline_memory(folder: str) -> bytes:
    """_cached_call(None, Pipeline([scaler, regression], memory=folder), 'fit', X): joblib.Memory makes the folder."""
    scaler = _estimator("sklearn.preprocessing._data", "StandardScaler",
                        {"with_mean": NEWTRUE, "with_std": NEWTRUE, "copy": NEWTRUE})
    regression = _estimator("sklearn.linear_model._base", "LinearRegression",
                            {"fit_intercept": NEWTRUE, "copy_X": NEWTRUE, "tol": _float(1e-6), "n_jobs": NONE, "positive": NEWFALSE})
    steps = _list(MARK + s("scale") + scaler + TUPLE, MARK + s("model") + regression + TUPLE)
    pipe = _estimator("sklearn.pipeline", "Pipeline", {"steps": steps, "transform_input": NONE, "memory": s(folder),
                                                         "verbose": NEWFALSE})
    x = _list(_list(_float(1.0)), _list(_float(2.0)))
    return PROTO4 + call(CACHED_CALL, NONE, pipe, s("fit"), x) + STOP


def check_response_method_getattr() -> bytes:
    """_check_response_method(PosixPath('pwned.file'), 'touch')(): it returns getattr(obj, name), the pickle calls it."""
    path = call(glob4("pathlib", "PosixPath"), s("pwned.file"))
    return PROTO4 + call(call(glob4("sklearn.utils.validation", "_check_response_method"), path, s("touch"))) + STOP


def partial_keyword(func: bytes, keyword: str, target: bytes, *args: bytes) -> bytes:
    """functools.partial(func, *args, **{keyword: target})() as pickle writes a partial: REDUCE partial(func),
    BUILD (func, args, kw, None), then the pickle calls it."""
    state = MARK + func + MARK + b"".join(args) + TUPLE + dict_state({keyword: target}) + NONE + TUPLE
    return PROTO4 + call(call(glob4("functools", "partial"), func) + state + BUILD) + STOP


def partial_outer_args(func: bytes, *args: bytes) -> bytes:
    """functools.partial(func)(*args): the arguments go to func through the call of the partial object."""
    return PROTO4 + call(call(glob4("functools", "partial"), func), *args) + STOP


def piecewise(func: bytes) -> bytes:
    """numpy.piecewise(argv, [True, True, True], [func]): func(x[cond]) is func(array(argv))."""
    conds = _list(*([NEWTRUE] * len(PROC_ARGV)))
    return PROTO4 + call(glob4("numpy", "piecewise"), _argv(), conds, _list(func)) + STOP


def _p(data: bytes) -> dict[str, bytes]:
    return {"model.pkl": data}


SAMPLES = [
    Sample("cached_call_function_transformer_run_check", F, "pickle.load", "process",
           "sklearn.metrics._scorer._cached_call (allowlisted) calls getattr(estimator, 'transform')(X); the "
           "FunctionTransformer's func, graphviz's run_check (subprocess.run), sits in its BUILD state, never called "
           "by the pickle itself", lambda: _p(cached_call_transform(RUN_CHECK, _argv())), fast=True),
    Sample("cached_call_pipeline_memory_folder", F, "pickle.load", "file",
           "only allowlisted imports: _cached_call(None, Pipeline(..., memory='pwned_cache'), 'fit', X) runs "
           "Pipeline.fit, whose joblib.Memory creates the cache folder named in the state",
           lambda: _p(cached_call_pipeline_memory("pwned_cache"))),
    Sample("check_response_method_getattr_touch", F, "pickle.load", "file",
           "sklearn.utils.validation._check_response_method(obj, name) is getattr(obj, name) under an allowlisted "
           "name: the pickle calls the bound method it returns (PosixPath.touch), with only allowlisted imports",
           lambda: _p(check_response_method_getattr())),
    Sample("partial_keyword_generator_ctor_run_check", F, "pickle.load", "process",
           "functools.partial(numpy.random._pickle.__generator_ctor, argv, bit_generator_ctor=run_check)(): the "
           "allowlist knows __generator_ctor calls its argument 1, but a partial hands it over by keyword, inside "
           "the partial's BUILD state", lambda: _p(partial_keyword(glob4("numpy.random._pickle", "__generator_ctor"),
                                                                    "bit_generator_ctor", RUN_CHECK, _argv()))),
    Sample("partial_call_args_generator_ctor_run_check", F, "pickle.load", "process",
           "functools.partial(__generator_ctor)(argv, run_check): run_check is an argument of the call of a partial "
           "object, not of __generator_ctor's own REDUCE", lambda: _p(partial_outer_args(
               glob4("numpy.random._pickle", "__generator_ctor"), _argv(), RUN_CHECK))),
    Sample("numpy_piecewise_funclist_run_check", F, "joblib.load", "process",
           "numpy.piecewise (allowlisted, calls no positional argument) calls the items of its funclist: graphviz's "
           "run_check inside a list gets array(argv)", lambda: {"model.joblib": piecewise(RUN_CHECK)}),
]
