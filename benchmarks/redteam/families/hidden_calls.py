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
Calling objects the pickle made runs code no allowlist entry judged: a `_Scorer`
instance's `__call__` calls any method its state names; pandas' `DataFrame.__setitem__`
calls a callable key (a SETITEM on the frame); numpy's `set_printoptions` installs a
formatter dict that `array_str` calls on every element.
The callable that runs is either an allowlisted method reached by name (nothing but
allowlisted imports in the pickle) or a function of a package nobody had reviewed
(graphviz, installed with catboost: `run_check(argv)` is `subprocess.run(argv)`), which was
only `unknown_globals` when the pickle did not call it (graphviz is now on the generated
denylist too; tests/models/test_pickle_uses.py checks each mechanism with an unknown name).
"""

from __future__ import annotations

import struct

from benchmarks.redteam.pickles import (BUILD, EMPTY_LIST, EMPTY_TUPLE, MARK, NEWFALSE, NEWOBJ, NEWTRUE, NONE, PROTO4,
                                        STOP, TUPLE, call, dict_state, glob4, i, s)
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


def _memory_pipeline(folder: str) -> bytes:
    """Pipeline([scaler, regression], memory=folder): its fit makes joblib.Memory create the folder."""
    scaler = _estimator("sklearn.preprocessing._data", "StandardScaler",
                        {"with_mean": NEWTRUE, "with_std": NEWTRUE, "copy": NEWTRUE})
    regression = _estimator("sklearn.linear_model._base", "LinearRegression",
                            {"fit_intercept": NEWTRUE, "copy_X": NEWTRUE, "tol": _float(1e-6), "n_jobs": NONE, "positive": NEWFALSE})
    steps = _list(MARK + s("scale") + scaler + TUPLE, MARK + s("model") + regression + TUPLE)
    pipe = _estimator("sklearn.pipeline", "Pipeline", {"steps": steps, "transform_input": NONE, "memory": s(folder),
                                                         "verbose": NEWFALSE})
    return pipe


def _x() -> bytes:
    return _list(_list(_float(1.0)), _list(_float(2.0)))


def cached_call_pipeline_memory(folder: str) -> bytes:
    """_cached_call(None, Pipeline(..., memory=folder), 'fit', X)."""
    return PROTO4 + call(CACHED_CALL, NONE, _memory_pipeline(folder), s("fit"), _x()) + STOP


def scorer_instance_call(folder: str) -> bytes:
    """A _Scorer rebuilt by NEWOBJ + BUILD with response method 'fit', then called: scorer(pipeline, X, None)
    runs _Scorer.__call__ -> _score -> _cached_call -> pipeline.fit(X)."""
    scorer = _estimator("sklearn.metrics._scorer", "_Scorer", {
        "_score_func": glob4("numpy", "mean"), "_sign": i(1), "_kwargs": dict_state({}), "_response_method": s("fit")})
    return PROTO4 + call(scorer, _memory_pipeline(folder), _x(), NONE) + STOP


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


def dataframe_setitem_callable_key(func: bytes) -> bytes:
    """df = DataFrame({'sh': [1], '-c': [1], CMD: [1]}); df[func] = 1 (SETITEM on the frame): DataFrame.__setitem__
    calls a callable key with the frame, and list(frame) is its column labels: argv."""
    columns = dict_state({a: _list(i(1)) for a in PROC_ARGV})
    frame = call(glob4("pandas.core.frame", "DataFrame"), columns)
    return PROTO4 + frame + func + i(1) + b"s" + STOP


def object_array(item: bytes) -> bytes:
    """A one-element object ndarray as numpy pickles it: _reconstruct, then BUILD (1, (1,), dtype('O8'), False, [item])."""
    dtype = (call(glob4("numpy", "dtype"), s("O8"), NEWFALSE, NEWTRUE)
             + MARK + i(3) + s("|") + NONE + NONE + NONE + b"J\xff\xff\xff\xff" * 2 + i(63) + TUPLE + BUILD)
    made = call(glob4("numpy._core.multiarray", "_reconstruct"), glob4("numpy", "ndarray"), MARK + i(0) + TUPLE,
                b"C\x01b")
    return made + MARK + i(1) + MARK + i(1) + TUPLE + dtype + NEWFALSE + _list(item) + TUPLE + BUILD


def printoptions_formatter(func: bytes) -> bytes:
    """numpy.set_printoptions(..., formatter={'all': func}) (process-wide), then numpy.array_str(array([argv])):
    the formatter is called on every element printed, here and whenever the program prints an array later."""
    options = call(glob4("numpy", "set_printoptions"), *([NONE] * 7), dict_state({"all": func}))
    return PROTO4 + options + b"0" + call(glob4("numpy", "array_str"), object_array(_argv())) + STOP


def check_memory(folder: str) -> bytes:
    """sklearn.utils.validation.check_memory(folder): joblib.Memory(location=folder) creates folder/joblib."""
    return PROTO4 + call(glob4("sklearn.utils.validation", "check_memory"), s(folder)) + STOP


def piecewise(func: bytes) -> bytes:
    """numpy.piecewise(argv, [True, True, True], [func]): func(x[cond]) is func(array(argv))."""
    conds = _list(*([NEWTRUE] * len(PROC_ARGV)))
    return PROTO4 + call(glob4("numpy", "piecewise"), _argv(), conds, _list(func)) + STOP


def npy_object(pickle: bytes) -> bytes:
    """An .npy file of object dtype: numpy.load(allow_pickle=True) unpickles the payload."""
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += " " * (-(len(header) + 11) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + pickle


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
    Sample("scorer_instance_call_pipeline_memory", F, "pickle.load", "file",
           "only allowlisted imports and no allowlisted function called: REDUCE calls an instance of _Scorer the "
           "pickle rebuilt (NEWOBJ + BUILD, response method 'fit'); _Scorer.__call__ calls pipeline.fit(X)",
           lambda: _p(scorer_instance_call("pwned_cache"))),
    Sample("dataframe_setitem_callable_key_run_check", F, "pandas.read_pickle", "process",
           "SETITEM on an allowlisted DataFrame with an import as the key: DataFrame.__setitem__ calls a callable key "
           "with the frame (com.apply_if_callable); run_check(frame) runs list(frame), the column labels",
           lambda: {"frame.pkl": dataframe_setitem_callable_key(RUN_CHECK)}),
    Sample("numpy_printoptions_formatter_run_check", F, "numpy.load", "process",
           "numpy.set_printoptions (allowlisted) takes a formatter dict whose callables numpy.array_str (allowlisted) "
           "calls on each element; the formatter stays installed for the whole process",
           lambda: {"arrays.npy": npy_object(printoptions_formatter(RUN_CHECK))}),
    Sample("check_memory_creates_folder", F, "joblib.load", "file",
           "one allowlisted import called with one string: sklearn.utils.validation.check_memory builds a "
           "joblib.Memory, whose file-system store creates its folder at construction (the allowlist's analysis "
           "does not follow the store's configure(), a method called on a local variable)",
           lambda: {"model.joblib": check_memory("pwned_cache")}),
    Sample("numpy_piecewise_funclist_run_check", F, "joblib.load", "process",
           "numpy.piecewise (allowlisted, calls no positional argument) calls the items of its funclist: graphviz's "
           "run_check inside a list gets array(argv)", lambda: {"model.joblib": piecewise(RUN_CHECK)}),
]
