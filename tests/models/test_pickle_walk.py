"""The walker on hand-made cases: each is one way CPython's unpicklers read a pickle.

The grammar-driven differential tests (test_pickle_oracle.py) are the proof of
agreement; these pin down the cases by name, and the behaviour around them that the
oracle does not see (limits, seeking, resolution of getattr and embedded checkpoints).
"""

from __future__ import annotations

import base64
import io
import pickle
import struct
import tracemalloc
from pathlib import Path

import pytest

from mlsecops import fixtures as fx
from mlsecops.formats.pickle import walk, would_run
from mlsecops.formats.pickle.fastpath import data_only


def run(data: bytes, max_opcodes: int = 10_000_000):  # type: ignore[no-untyped-def]
    return walk(io.BytesIO(data), 0, len(data), max_opcodes)


def imports(data: bytes) -> list[str]:
    return [f"{g.module}.{g.name}" for g in run(data).globals]


def issue_kinds(data: bytes) -> set[str]:
    return {i.kind for i in run(data).issues}


def test_global_stack_global_inst_and_obj() -> None:
    assert imports(fx.pickle2(fx.call(fx.glob2("os", "system"), fx.s2("id")))) == ["os.system"]
    assert imports(fx.malicious_pickle()) == ["os.system"]
    assert imports(b"(S'id'\nios\nsystem\n.") == ["os.system"]
    obj = fx.pickle4(fx.MARK + fx.glob4("subprocess", "run") + fx.s("id") + b"o")
    res = run(obj)
    assert [f"{g.module}.{g.name}" for g in res.globals] == ["subprocess.run"] and res.globals[0].called


@pytest.mark.parametrize("spelling", [b"I0x1f\n", b"I017\n", b"I 12\n", b"I12\x00junk\n", b"I\x00\n", b"I1_0\n",
                                      b"L0x1fL\n", b"F1.5\x00x\n", b"F 1.5\n", b"F1e999\n"])
def test_text_numbers_spelled_as_an_unpickler_accepts_them(spelling: bytes) -> None:
    """`I0x1f` then os.system: the unpickler (C strtol base 0, or Python's int(x, 0)) reads on."""
    data = spelling + b"0cos\nsystem\n(S'id'\ntR."
    res = run(data)
    assert [(g.module, g.name, g.called) for g in res.globals] == [("os", "system", True)]
    assert res.broken is None


def test_text_numbers_no_unpickler_accepts_stop_the_walk() -> None:
    res = run(b"I12x\ncos\nsystem\n.")
    assert not res.globals and res.broken is not None and res.broken.kind == "malformed"


def test_stack_global_operands_traced_through_the_memo() -> None:
    # strings stored with BINPUT early, fetched with BINGET later, among decoys
    body = (fx.s("os") + b"q\x01" + fx.s("torch") + b"0" + fx.s("system") + b"q\x02" + fx.s("FloatStorage") + b"0"
            + b"h\x01h\x02" + fx.STACK_GLOBAL + fx.MARK + fx.s("id") + fx.TUPLE + fx.REDUCE)
    assert imports(fx.pickle4(body)) == ["os.system"]


def test_memoize_numbers_filled_slots_not_the_highest_index() -> None:
    # BINPUT 5 fills one slot: the next MEMOIZE stores at 1, so GET 1 is "os", not "torch"
    body = fx.s("torch") + b"q\x05" + b"0" + fx.s("os") + b"\x94" + b"0" + fx.s("system") + b"q\x02" + b"0" \
        + b"h\x01h\x02" + fx.STACK_GLOBAL + b")" + fx.REDUCE
    assert imports(fx.pickle4(body)) == ["os.system"]


def test_operands_that_are_not_strings() -> None:
    computed = fx.call(fx.glob4("builtins", "str"), fx.b(b"os")) + fx.s("system") + fx.STACK_GLOBAL
    assert "dynamic-global" in issue_kinds(fx.pickle4(computed))
    # an int or a memo key never stored: every unpickler fails, nothing is imported
    for body in (fx.i(42) + fx.s("system") + fx.STACK_GLOBAL, b"h\x07" + fx.s("system") + fx.STACK_GLOBAL):
        res = run(fx.pickle4(body))
        assert not res.globals and res.broken is not None


def test_ext_opcodes_and_build_on_a_global() -> None:
    assert "ext-opcode" in issue_kinds(fx.pickle2(b"\x82\x01" + fx.MARK + fx.TUPLE + fx.REDUCE))
    mutate = fx.glob2("torch._utils", "_rebuild_tensor") + fx.EMPTY_DICT + fx.BUILD
    assert "build-on-global" in issue_kinds(fx.pickle2(mutate))


def test_broken_stream_keeps_what_ran_before_the_break() -> None:
    data = fx.PROTO + b"\x04" + fx.glob4("builtins", "exec") + fx.MARK + b"X\xff\xff\xff\x7f" + b"abc"
    res = run(data)
    assert [f"{g.module}.{g.name}" for g in res.globals] == ["builtins.exec"]
    assert res.broken is not None and res.broken.kind == "truncated" and not res.complete


def test_pure_python_unpickler_imports_from_a_last_line_without_newline() -> None:
    """joblib's unpickler (pickle._Unpickler) takes `system` without its newline as `syste`."""
    assert imports(b"cos\nsystem") == ["os.syste"]
    assert imports(b"cos\nsystem\n") == ["os.system"]


def test_stacked_pickles_are_read_as_a_load_loop_reads_them() -> None:
    two = fx.benign_dict_pickle() + fx.pickle2(fx.call(fx.glob2("requests.api", "get"), fx.s2("http://x")))
    res = run(two)
    assert res.pickles == 2 and [g.name for g in res.globals] == ["get"]
    junk = run(fx.malicious_pickle() + b"\xde\xad\xbe\xef")
    assert "trailing-data" in {i.kind for i in junk.issues} and junk.globals[0].name == "system"
    # trailing "text" that a loop of pickle.load calls reads as another pickle is judged too
    assert [g.name for g in run(fx.benign_dict_pickle() + b"cos\nsystem\n.").globals] == ["system"]


def test_nested_pickles_raw_base64_hex_and_latin1() -> None:
    inner = fx.malicious_pickle()
    for payload in (fx.b(inner), fx.s(base64.b64encode(inner).decode()), fx.s(inner.hex())):
        res = run(fx.pickle4(fx.EMPTY_DICT + fx.s("blob") + payload + b"s"))
        assert len(res.nested) == 1 and res.nested[0].result.globals[0].name == "system"
    # protocol 2 spells bytes as _codecs.encode(text, 'latin1')
    latin = fx.call(fx.glob2("_codecs", "encode"), fx.s2(inner.decode("latin1")), fx.s2("latin1"))
    res = run(fx.pickle2(latin))
    assert res.nested and res.nested[0].encoding == "latin1"


def test_py2_text_opcodes() -> None:
    assert imports(b"c__builtin__\neval\n(S'1+1'\ntR.") == ["__builtin__.eval"]
    assert imports(b"(V\\u0065val\nS'x'\ntp0\n.") == []  # a unicode escape is data, not an import


def test_constant_getattr_resolves_to_the_attribute_it_names() -> None:
    target = fx.glob4("collections", "OrderedDict")
    res = run(fx.pickle4(fx.call(fx.glob4("builtins", "getattr"), target, fx.s("fromkeys"))))
    getattr_ref = next(g for g in res.globals if g.name == "getattr")
    resolved = [g for g in res.globals if g.opcode == "getattr"]
    assert getattr_ref.resolved and [(g.module, g.name) for g in resolved] == [("collections", "OrderedDict.fromkeys")]
    # a bound method: getattr on an instance made by copyreg._reconstructor
    inst = fx.call(fx.glob4("copyreg", "_reconstructor"), fx.glob4("mypkg", "Model"), fx.glob4("builtins", "object"),
                   b"N")
    res = run(fx.pickle4(fx.call(fx.glob4("builtins", "getattr"), inst, fx.s("predict"))))
    assert ("mypkg", "Model.predict") in {(g.module, g.name) for g in res.globals if g.opcode == "getattr"}


def test_getattr_with_a_computed_name_or_used_as_data_stays_unresolved() -> None:
    computed = fx.call(fx.glob4("builtins", "getattr"), fx.glob4("os", "path"), fx.call(fx.glob4("builtins", "str"), fx.s("x")))
    assert not next(g for g in run(fx.pickle4(computed)).globals if g.name == "getattr").resolved
    as_data = b"]" + fx.glob4("builtins", "getattr") + b"a"
    assert not next(g for g in run(fx.pickle4(as_data)).globals if g.name == "getattr").resolved


def test_load_from_bytes_payload_is_an_embedded_checkpoint() -> None:
    import torch

    data = pickle.dumps(torch.tensor([1.0, 2.0]))
    res = run(data)
    lfb = next(g for g in res.globals if g.name == "_load_from_bytes")
    assert lfb.resolved and lfb.called and len(res.embedded) == 1
    emb = res.embedded[0]
    assert emb.data is not None and emb.data[:2] == b"\x80\x02" and emb.size == len(emb.data)
    assert not res.nested  # not walked as a nested string pickle: scanned as a checkpoint


def test_frame_layouts_readers_disagree_on_are_not_followed() -> None:
    body = fx.glob4("os", "system") + b")" + fx.REDUCE
    straddle = b"\x80\x04\x95" + struct.pack("<Q", 8) + body + b"."  # the frame ends inside "system"
    assert "unreadable" in issue_kinds(straddle)
    early_stop = b"\x80\x04\x95" + struct.pack("<Q", 8) + b"N.cos\nsy" + b"stem\n."
    assert "unreadable" in issue_kinds(early_stop)


def test_large_payload_is_seeked_over_not_read(tmp_path: Path) -> None:
    size = 256 * 1024 * 1024
    path = tmp_path / "big.pkl"
    with path.open("wb") as f:
        f.write(b"\x80\x04" + fx.glob4("numpy.core.multiarray", "_reconstruct") + b"\x8e" + struct.pack("<Q", size))
        f.seek(size - 1, 1)
        f.write(b"\x00\x94\x85R.")
    tracemalloc.start()
    with path.open("rb") as fh:
        res = walk(fh, 0, path.stat().st_size, 1_000_000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert res.complete and size <= res.elided_bytes <= size + 16  # the payload and its opcode header
    assert peak < 32 * 1024 * 1024, peak


def test_a_million_opcodes_is_walked_and_bounded_by_the_limit() -> None:
    # a global at the end defeats the data-only fast path: every opcode is walked
    data = pickle.dumps(list(range(1_000_000)), protocol=4)[:-1] + b"0" + fx.glob4("collections", "OrderedDict") + b"."
    res = run(data)
    assert res.complete and res.opcodes > 1_000_000
    limited = run(data, max_opcodes=10_000)
    assert "opcode-limit" in {i.kind for i in limited.issues}


def test_data_only_fast_path_is_a_proof_not_a_guess() -> None:
    data = pickle.dumps({f"k{i}": i for i in range(100_000)}, protocol=4)
    assert run(data).data_only_proof
    hidden = data[:-1] + b"0" + fx.glob4("os", "system") + b"."
    res = run(hidden)
    assert not res.data_only_proof and [g.name for g in res.globals] == ["system"]
    assert data_only(io.BytesIO(hidden), 0, len(hidden)) is None


def test_deep_nesting_does_not_recurse() -> None:
    data = fx.PROTO + b"\x04" + fx.MARK * 100_000 + fx.s("x") + b"t" * 100_000 + fx.STOP
    res = run(data)
    assert res.complete


def test_joblib_inline_arrays_are_skipped_exactly(tmp_path: Path) -> None:
    import joblib
    import numpy as np

    arrays = {"w": np.arange(1000, dtype="f8"), "o": np.array([1, "x"], dtype=object), "i": np.ones((3, 4), "i4"),
              "s": np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8", (2,))]), "u": np.array(["ab", "c"]),
              "t": np.array(["2020-01-01"], dtype="M8[ns]"), "e": np.empty((0, 5))}
    joblib.dump(arrays, tmp_path / "m.joblib")
    res = run((tmp_path / "m.joblib").read_bytes())
    assert res.complete and res.joblib_arrays == len(arrays) and not res.issues
    assert {g.name for g in res.globals} >= {"NumpyArrayWrapper", "dtype", "ndarray"}
    assert [n.encoding for n in res.nested] == ["joblib-object-array"]


def test_joblib_array_dtype_sized_as_numpy_sizes_it() -> None:
    """A flexible dtype's itemsize and hasobject come from its pickled state, not its type string."""
    def wrapper(state_flags: int, count: int) -> bytes:
        dtype = (b"cnumpy\ndtype\n\x8c\x02V8\x89\x88\x87R(K\x03\x8c\x01|NNNK\x08K\x01K" + bytes([state_flags]) + b"tb")
        return (b"\x80\x04cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}(\x8c\x05shapeK" + bytes([count]) + b"\x85"
                + b"\x8c\x05dtype" + dtype + b"\x8c\x05order\x8c\x01Cub")
    raw = wrapper(0, 2) + b"\x00" * 16 + b"."
    assert run(raw).joblib_arrays == 1 and run(raw).complete
    # the same type string with the hasobject flag set: joblib unpickles the next pickle instead
    objects = wrapper(1, 2) + fx.pickle4(fx.call(fx.glob4("os", "system"), fx.s("id"))) + b"."
    res = run(objects)
    assert [g.name for g in res.nested[0].result.globals] == ["system"]


def test_would_run_follows_the_unpickler() -> None:
    def sniff(data: bytes) -> bool:
        return would_run(io.BytesIO(data), len(data))

    assert not sniff(b"torch==2.13.0\n")
    assert sniff(b"I0x1f\ncos\nsystem\n(S'id'\ntR.")
    assert sniff(fx.benign_dict_pickle()[2:])  # a protocol-less stream read whole
