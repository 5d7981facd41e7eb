"""How a pickle uses each import, and what the allowlist makes of it.

The walker records, per import, whether it is called (REDUCE/INST/OBJ, with what
arguments), instantiated without its __init__ (NEWOBJ), given BUILD states, or handed
to other code (an argument, a state entry, a call whose result is called). The judge
reads that with the generated data: construction rules, state checks, callables that
call their arguments (`calls_args`), the third-party denylist and `unknown_calls`.
Pickles are assembled from opcodes; nothing here is unpickled.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest

from mlsecops import fixtures as fx
from mlsecops.formats import pickle as pk
from mlsecops.formats.pickle.states import NotConstant
from mlsecops.stages.models.allowlist import judge, load_lists
from tests.models.helpers import blocks, scan_bytes, scan_path

NEWOBJ, EMPTY_TUPLE, NEWTRUE, NONE = b"\x81", b")", b"\x88", b"N"


def _walk(data: bytes, watch: frozenset[str] = frozenset()) -> pk.WalkResult:
    return pk.walk(io.BytesIO(data), 0, len(data), 1_000_000, opts=pk.Options(watch=watch))


def _ref(walk: pk.WalkResult, module: str, name: str) -> pk.GlobalRef:
    return next(r for r in walk.globals if (r.module, r.name) == (module, name))


def _state(items: dict[str, bytes]) -> bytes:
    return fx.EMPTY_DICT + fx.MARK + b"".join(fx.s(k) + v for k, v in items.items()) + fx.SETITEMS


def _newobj(module: str, name: str, state: dict[str, bytes]) -> bytes:
    return fx.glob2(module, name) + EMPTY_TUPLE + NEWOBJ + _state(state) + fx.BUILD


def _findings(result, rule: str) -> list:  # type: ignore[no-untyped-def]
    return [f for f in result.findings if f.rule_id == rule]


# -- what the walker records ------------------------------------------------------------------


def test_calls_are_told_apart_from_instantiation() -> None:
    data = fx.pickle2(fx.call(fx.glob2("m", "f"), fx.s("a"), fx.s("b")) + b"0"
                      + fx.call(fx.glob2("m", "Color"), fx.s("red")) + b"0"
                      + fx.glob2("m", "Net") + EMPTY_TUPLE + NEWOBJ + b"0" + NONE)
    w = _walk(data)
    f, color, net = _ref(w, "m", "f"), _ref(w, "m", "Color"), _ref(w, "m", "Net")
    assert f.reduced and f.with_args and f.other_args and not f.newobj
    assert color.reduced and color.with_args and not color.other_args  # one constant: an enum member's shape
    assert net.newobj and not net.reduced and not net.with_args


def test_build_states_are_summarised_under_the_class_that_made_the_instance() -> None:
    watch = frozenset({"secret"})
    data = fx.pickle2(
        fx.glob2("copyreg", "_reconstructor") + fx.MARK + fx.glob2("m", "A") + fx.glob2("builtins", "object") + NONE
        + fx.TUPLE + fx.REDUCE + _state({"secret": fx.s("x"), "other": fx.i(1)}) + fx.BUILD + b"0"
        + _newobj("m", "B", {"other": fx.i(2)}) + b"0"
        + fx.glob2("m", "C") + EMPTY_TUPLE + NEWOBJ + fx.MARK + fx.s("secret") + fx.s("y") + fx.TUPLE + fx.BUILD + b"0"
        + NONE)
    w = _walk(data, watch)
    a, b, c = _ref(w, "m", "A"), _ref(w, "m", "B"), _ref(w, "m", "C")
    assert a.built and list(a.states or {}) == [(("secret", "x"),)]
    assert a.passed and (a.passed[0][1], a.passed[0][2]) == (0, "reduce")  # handed to copyreg._reconstructor
    assert list(b.states or {}) == [()]  # a dict read whole, with no watched attribute
    # A watched name inside a tuple state: a __setstate__ doing dict.update(pairs) may set it.
    assert list(c.states or {}) == [(("secret", NotConstant("set in a state shape the check cannot read")),)]


def test_a_dict_too_large_to_keep_is_opaque() -> None:
    items = {f"k{n}": fx.i(n) for n in range(80)}
    w = _walk(fx.pickle2(_newobj("m", "Big", items) + b"0" + NONE), frozenset({"secret"}))
    assert list(_ref(w, "m", "Big").states or {}) == [None]


def test_imports_held_in_a_state_or_by_a_called_result_are_handed_over() -> None:
    data = fx.pickle2(_newobj("numpy", "vectorize", {"pyfunc": fx.glob2("m", "helper")}) + b"0"
                      + fx.call(fx.call(fx.glob2("functools", "partial"), fx.glob2("m", "run"))) + b"0" + NONE)
    w = _walk(data)
    helper, run = _ref(w, "m", "helper"), _ref(w, "m", "run")
    assert helper.passed and (helper.passed[0][1], helper.passed[0][2]) == ("pyfunc", "state")
    assert {how for _, _, how in run.passed or []} == {"reduce", "held"}


# -- the generated data the judge reads ---------------------------------------------------------


def test_third_party_callables_that_reach_a_sink_are_denied_by_identity() -> None:
    lists = load_lists()
    for module, name, sink in [("psutil", "Popen", "subprocess.Popen"), ("urllib3", "request", "urllib3.poolmanager"),
                               ("zstandard", "open", "open"), ("lz4.frame", "open", "open"),
                               ("psutil", "Process.kill", "kill")]:
        j = judge(module, name, lists)
        assert j.verdict == "deny" and sink in j.reason, j
    assert judge("psutil", "Process", lists).verdict == "unknown"  # constructing it only reads /proc
    assert judge("sh", "ls", lists).verdict == "deny"  # a package denied whole (not installed here)


def test_callables_that_call_their_arguments_are_recorded() -> None:
    calls = load_lists().calls_args
    assert calls["numpy.random._pickle:__generator_ctor"] == {"1": "call"}
    assert calls["copyreg:_reconstructor"] == {"0": "new", "1": "call"}
    assert calls["numpy:vectorize"]["state:pyfunc"] == "call"


def test_numpy_vectorize_is_allowed_and_its_pyfunc_judged_as_called(tmp_path: Path) -> None:
    """Unpickling a vectorize stores pyfunc; the object calls it later. So pyfunc must be fine to call."""
    assert judge("numpy", "vectorize", load_lists()).verdict == "allow"
    ok = scan_bytes(tmp_path, "ok.pkl", fx.pickle2(_newobj("numpy", "vectorize", {"pyfunc": fx.glob2("numpy", "log1p")})))
    assert not blocks(ok), ok.findings
    unknown = scan_bytes(tmp_path, "u.pkl", fx.pickle2(_newobj("numpy", "vectorize", {"pyfunc": fx.glob2("mypkg", "helper")})))
    hit = _findings(unknown, "MLS103")
    assert hit and hit[0].severity.value == "high" and "hands it to numpy.vectorize" in hit[0].message, unknown.findings
    construct = scan_bytes(tmp_path, "c.pkl", fx.pickle2(fx.call(fx.glob2("numpy", "vectorize"),
                                                                 fx.glob2("accelerate.state", "PartialState"))))
    hit = _findings(construct, "MLS102")
    assert hit and "PartialState" in hit[0].message and "is called" in hit[0].message, construct.findings


def test_a_trampoline_makes_its_argument_called(tmp_path: Path) -> None:
    data = fx.pickle4(fx.call(fx.glob4("numpy.random._pickle", "__generator_ctor"), fx.s("x"), fx.glob4("mypkg", "Maker")))
    hit = _findings(scan_bytes(tmp_path, "t.pkl", data), "MLS103")
    assert hit and hit[0].severity.value == "high", hit
    assert "hands it to numpy.random._pickle.__generator_ctor, which calls it" in hit[0].message


def _partial_with_state(func: bytes, args: bytes, keywords: dict[str, bytes]) -> bytes:
    """functools.partial as pickle writes it: REDUCE partial(func), BUILD (func, args, kw, None)."""
    state = fx.MARK + func + args + _state(keywords) + NONE + fx.TUPLE
    return fx.call(fx.glob4("functools", "partial"), func) + state + fx.BUILD


@pytest.mark.parametrize("body", [
    # partial(f)(x, g): what the call of the partial object passes goes to f
    fx.call(fx.call(fx.glob4("functools", "partial"), fx.glob4("numpy.random._pickle", "__generator_ctor")),
            fx.s("x"), fx.glob4("mypkg", "Maker")),
    # partial(f, x, g)() with args in the partial's BUILD state
    fx.call(_partial_with_state(fx.glob4("numpy.random._pickle", "__generator_ctor"),
                                fx.MARK + fx.s("x") + fx.glob4("mypkg", "Maker") + fx.TUPLE, {})),
    # partial(f, x, bit_generator_ctor=g)(): handed over by keyword
    fx.call(_partial_with_state(fx.glob4("numpy.random._pickle", "__generator_ctor"), fx.MARK + fx.s("x") + fx.TUPLE,
                                {"bit_generator_ctor": fx.glob4("mypkg", "Maker")})),
])
def test_what_a_partial_hands_to_its_function_is_judged_as_called(tmp_path: Path, body: bytes) -> None:
    hit = _findings(scan_bytes(tmp_path, "p.pkl", fx.pickle4(body)), "MLS103")
    assert hit and hit[0].severity.value == "high", hit


def test_calling_an_object_the_pickle_made_is_high_unless_it_only_calls_what_it_holds(tmp_path: Path) -> None:
    """An instance's __call__ (a scikit-learn scorer calls estimator.<its response method>) or a callable some
    code returned runs code no allowlist entry judged; a partial or a vectorize runs only what it holds."""
    scorer = fx.glob4("sklearn.metrics._scorer", "_Scorer") + EMPTY_TUPLE + NEWOBJ + _state({"_response_method": fx.s("fit")}) + fx.BUILD
    hit = _findings(scan_bytes(tmp_path, "s.pkl", fx.pickle4(fx.call(scorer, NONE, NONE, NONE))), "MLS102")
    assert hit and hit[0].severity.value == "high" and "_Scorer" in hit[0].message, hit
    returned = fx.call(fx.call(fx.glob4("numpy", "asarray"), fx.s("x")))
    assert _findings(scan_bytes(tmp_path, "r.pkl", fx.pickle4(returned)), "MLS102")
    partial = fx.call(fx.call(fx.glob4("functools", "partial"), fx.glob4("numpy", "log1p")), fx.i(1))
    assert not blocks(scan_bytes(tmp_path, "p.pkl", fx.pickle4(partial)))


def test_an_import_used_as_a_key_of_an_object_made_at_load_time_is_judged_as_called(tmp_path: Path) -> None:
    """df[f] = 1 runs DataFrame.__setitem__, which calls a callable key: f(df). A plain dict's key is data."""
    frame = fx.call(fx.glob4("pandas.core.frame", "DataFrame"), fx.EMPTY_DICT)
    hit = _findings(scan_bytes(tmp_path, "f.pkl", fx.pickle4(frame + fx.glob4("mypkg", "run") + fx.i(1) + b"s")), "MLS103")
    assert hit and hit[0].severity.value == "high" and "SETITEM key" in hit[0].message, hit
    plain = _findings(scan_bytes(tmp_path, "d.pkl", fx.pickle4(fx.EMPTY_DICT + fx.glob4("mypkg", "run") + fx.i(1) + b"s")), "MLS103")
    assert [f.severity.value for f in plain] == ["medium"], plain


@pytest.mark.parametrize("module, name", [
    ("sklearn.metrics._scorer", "_cached_call"),             # getattr(estimator, <name from the pickle>)(X)
    ("sklearn.utils.validation", "_check_response_method"),  # returns getattr(estimator, <name from the pickle>)
    ("sklearn.calibration", "_check_response_method"),       # ... under another module's name
    ("numpy", "piecewise"),                                  # calls the callables inside its funclist argument
    ("numpy", "set_printoptions"),                           # installs formatter callables, process-wide
    ("sklearn.utils.validation", "check_memory"),            # joblib.Memory(folder) creates the folder
])
def test_allowed_callables_that_call_what_the_pickle_names_are_held_out(module: str, name: str) -> None:
    assert judge(module, name, load_lists()).verdict == "risky"
    assert judge("joblib.memory", "Memory", load_lists()).verdict == "deny"


def test_protocol_2_spellings_of_ordinary_objects_are_allowed(tmp_path: Path) -> None:
    """str.split pickled at protocol 2 is getattr(__builtin__.unicode, 'split'); a class with keyword
    arguments to __new__ is partial(Cls.__new__, Cls, ...) there: only Cls.__new__ runs."""
    lists = load_lists()
    assert judge("__builtin__", "unicode.split", lists).verdict == "allow"
    assert judge("scipy.stats._stats_py", "LinregressResult.__new__", lists).verdict == "allow"
    assert judge("builtins", "object.__reduce__", lists).verdict == "deny"
    assert judge("scipy.stats._stats_py", "LinregressResult.__new__.__globals__", lists).verdict == "deny"


# -- unknown_calls ------------------------------------------------------------------------------


@pytest.mark.parametrize("body, severity", [
    (fx.call(fx.glob2("mypkg", "run"), fx.s("x")), "high"),                     # a function, called with an argument
    (fx.call(fx.glob2("mypkg", "Shell"), fx.s("x"), fx.s("y")), "high"),        # capitalised, but nothing shows a class
    (fx.call(fx.glob2("mypkg", "Color"), fx.s("red")), "medium"),               # an enum member: Color("red")
    (fx.call(fx.glob2("mypkg", "Model"), fx.s("a"), fx.s("b")) + _state({"w": fx.i(1)}) + fx.BUILD, "medium"),
    (_newobj("mypkg", "Net", {"w": fx.i(1)}), "medium"),                         # torch.save of a whole model
    (fx.call(fx.glob2("mypkg", "make")), "medium"),                              # called without arguments
])
def test_unknown_callables_called_with_arguments_are_unknown_calls(tmp_path: Path, body: bytes, severity: str) -> None:
    hit = _findings(scan_bytes(tmp_path, "m.pkl", fx.pickle2(body + b"0" + NONE)), "MLS103")
    assert [f.severity.value for f in hit] == [severity], hit


def test_unknown_calls_follows_the_policy(tmp_path: Path) -> None:
    path = tmp_path / "m.pkl"
    path.write_bytes(fx.pickle2(fx.call(fx.glob2("mypkg", "run"), fx.s("x"))))
    assert [f.severity.value for f in _findings(scan_path(tmp_path, path, unknown_calls="medium"), "MLS103")] == ["medium"]
    assert not _findings(scan_path(tmp_path, path, unknown_calls="off"), "MLS103")


# -- state checks -------------------------------------------------------------------------------


def test_scipy_template_is_checked_whatever_class_receives_it(tmp_path: Path) -> None:
    """An rv_generic can reach BUILD behind a call the walker cannot see through: the check goes with the attribute."""
    data = fx.pickle2(_newobj("builtins", "object", {"_parse_arg_template": fx.s("import os\nos.system('id')")}))
    hit = _findings(scan_bytes(tmp_path, "s.pkl", data), "MLS101")
    assert hit and "scipy-argparser-template" in hit[0].message, hit


def _wrapper(filename: str) -> bytes:
    return fx.pickle2(_newobj("joblib.numpy_pickle_compat", "NDArrayWrapper", {
        "filename": fx.s(filename), "subclass": fx.glob2("numpy", "ndarray"), "allow_mmap": NEWTRUE}))


@pytest.mark.parametrize("filename", ["/etc/passwd", "../outside.npy", "sub/dir.npy", "C:evil.npy", ""])
def test_legacy_joblib_wrapper_must_name_a_file_in_its_folder(tmp_path: Path, filename: str) -> None:
    hit = _findings(scan_bytes(tmp_path, "model.pkl", _wrapper(filename)), "MLS101")
    assert hit and "joblib-side-file" in hit[0].message, hit


def _npy_object_array(pickle: bytes) -> bytes:
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + pickle


def test_legacy_joblib_side_file_is_scanned_where_it_lies(tmp_path: Path) -> None:
    (tmp_path / "model.pkl_01.npy").write_bytes(_npy_object_array(fx.malicious_pickle()))
    result = scan_bytes(tmp_path, "model.pkl", _wrapper("model.pkl_01.npy"))
    hit = [f for f in _findings(result, "MLS101") if f.member and "side file model.pkl_01.npy" in f.member]
    assert hit and "os.system" in hit[0].message, result.findings
    missing = scan_bytes(tmp_path, "other.pkl", _wrapper("absent.npy"))
    assert not blocks(missing) and _findings(missing, "MLS120"), missing.findings


def test_legacy_joblib_wrapper_called_with_arguments_is_not_verified(tmp_path: Path) -> None:
    data = fx.pickle2(fx.call(fx.glob2("joblib.numpy_pickle_compat", "NDArrayWrapper"), fx.s("/etc/passwd"),
                              fx.glob2("numpy", "ndarray")) + _state({}) + fx.BUILD)
    hit = _findings(scan_bytes(tmp_path, "model.pkl", data), "MLS102")
    assert hit and "called with arguments" in hit[0].message, hit


# -- the engines ------------------------------------------------------------------------------------


def test_fickling_is_handed_newobj_ex_as_pop_and_newobj(tmp_path: Path) -> None:
    """fickling cannot parse NEWOBJ_EX with keyword arguments (what protocol 4 writes for scipy's result
    tuples): the skeleton it is handed spells it POP + NEWOBJ, so it analyses the pickle instead of failing
    (an engine failure is a stage error)."""
    body = fx.glob4("collections", "OrderedDict") + EMPTY_TUPLE + fx.EMPTY_DICT + b"\x92"
    ok = scan_bytes(tmp_path, "ok.pkl", fx.pickle4(body))
    assert not ok.errors and not blocks(ok), (ok.errors, ok.findings)
    bad = scan_bytes(tmp_path, "bad.pkl", fx.pickle4(body + b"0" + fx.call(fx.glob4("os", "system"), fx.s("x"))))
    assert not bad.errors and blocks(bad) and any(f.rule_id == "MLS101" and "fickling" in f.engines for f in bad.findings)


# -- dateutil's time zones (pandas' tz="dateutil/...", dateutil.parser's zones) ---------------------

@pytest.mark.parametrize("cls, blocked", [
    (("dateutil.tz._tzfile", "tzfile"), False),  # how dateutil pickles a tzfile
    (("subprocess", "Popen"), True),  # _unpickle instantiates its first argument
    # ... and calls its _load_from_data, as BUILD calls an unknown class's __setstate__: unknown_globals (medium)
    (("mypkg", "Zone"), False),
])
def test_dateutil_unpickle_judges_the_class_it_is_handed(tmp_path: Path, cls: tuple[str, str], blocked: bool) -> None:
    data = fx.pickle4(fx.call(fx.glob4("dateutil.tz._tzfile", "_unpickle"), fx.glob4(*cls), fx.s("Europe/London"),
                              fx.s("/usr/share/zoneinfo/Europe/London"), EMPTY_TUPLE))
    result = scan_bytes(tmp_path, "tz.pkl", data)
    assert blocks(result) is blocked, result.findings
    if cls[0] == "mypkg":
        assert [f.severity.value for f in _findings(result, "MLS103")] == ["medium"]


def test_a_dateutil_tzfile_built_from_a_path_in_the_pickle_is_not_allowed(tmp_path: Path) -> None:
    """tzfile(path) opens the path: allowed only as _unpickle makes it, without calling it."""
    data = fx.pickle4(fx.call(fx.glob4("dateutil.tz._tzfile", "tzfile"), fx.s("/etc/passwd")))
    assert blocks(scan_bytes(tmp_path, "tz.pkl", data))
