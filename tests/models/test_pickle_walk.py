"""The opcode walker: every import resolved, nothing executed, cost bounded by the program."""

from __future__ import annotations

import base64
import io
import pickle
import struct
import time
import tracemalloc
from pathlib import Path

from mlsecops import fixtures as fx
from mlsecops.formats.pickle_walk import walk


def run(data: bytes, max_opcodes: int = 10_000_000):  # type: ignore[no-untyped-def]
    return walk(io.BytesIO(data), 0, len(data), max_opcodes)


def imports(data: bytes) -> list[str]:
    return [f"{g.module}.{g.name}" for g in run(data).globals]


def issue_kinds(data: bytes) -> set[str]:
    return {i.kind for i in run(data).issues}


def test_global_stack_global_inst_and_obj() -> None:
    assert imports(fx.pickle2(fx.call(fx.glob2("os", "system"), fx.s2("id")))) == ["os.system"]
    assert imports(fx.malicious_pickle()) == ["os.system"]
    inst = b"(S'id'\nios\nsystem\n."
    assert imports(inst) == ["os.system"]
    obj = fx.pickle4(fx.MARK + fx.glob4("subprocess", "run") + fx.s("id") + b"o")
    res = run(obj)
    assert [f"{g.module}.{g.name}" for g in res.globals] == ["subprocess.run"] and res.globals[0].called


def test_stack_global_operands_traced_through_the_memo() -> None:
    # strings stored with BINPUT early, fetched with BINGET later, among decoys
    body = (fx.s("os") + b"q\x01" + fx.s("torch") + b"0" + fx.s("system") + b"q\x02" + fx.s("FloatStorage") + b"0"
            + b"h\x01h\x02" + fx.STACK_GLOBAL + fx.MARK + fx.s("id") + fx.TUPLE + fx.REDUCE)
    assert imports(fx.pickle4(body)) == ["os.system"]


def test_non_constant_stack_global_operands_are_flagged() -> None:
    body = fx.i(42) + fx.s("system") + fx.STACK_GLOBAL
    assert "dynamic-global" in issue_kinds(fx.pickle4(body))
    missing_memo = b"h\x07" + fx.s("system") + fx.STACK_GLOBAL
    assert {"memo-missing", "dynamic-global"} <= issue_kinds(fx.pickle4(missing_memo))


def test_ext_opcodes_and_build_on_a_global() -> None:
    assert "ext-opcode" in issue_kinds(fx.pickle2(b"\x82\x01" + fx.MARK + fx.TUPLE + fx.REDUCE))
    mutate = fx.glob2("torch._utils", "_rebuild_tensor") + fx.EMPTY_DICT + fx.BUILD
    assert "build-on-global" in issue_kinds(fx.pickle2(mutate))


def test_broken_stream_keeps_what_ran_before_the_break() -> None:
    data = fx.PROTO + b"\x04" + fx.glob4("builtins", "exec") + fx.MARK + b"X\xff\xff\xff\x7f" + b"abc"
    res = run(data)
    assert [f"{g.module}.{g.name}" for g in res.globals] == ["builtins.exec"]
    assert {i.kind for i in res.issues} & {"truncated", "malformed"} and not res.complete


def test_stacked_pickles_and_trailing_junk() -> None:
    two = fx.benign_dict_pickle() + fx.pickle2(fx.call(fx.glob2("requests.api", "get"), fx.s2("http://x")))
    res = run(two)
    assert res.pickles == 2 and [g.name for g in res.globals] == ["get"]
    junk = run(fx.malicious_pickle() + b"\xde\xad\xbe\xef")
    assert "trailing-data" in {i.kind for i in junk.issues} and junk.globals[0].name == "system"


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
    assert "malformed" in issue_kinds(b"I12x\n.")


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


def test_a_million_opcodes_is_bounded_in_time_and_by_the_limit() -> None:
    # a global at the end defeats the data-only fast path: every opcode is walked
    data = pickle.dumps(list(range(1_000_000)), protocol=4)[:-1] + b"0" + fx.glob4("collections", "OrderedDict") + b"0."
    start = time.process_time()  # CPU, not wall: a loaded machine must not fail this
    res = run(data)
    assert res.complete and time.process_time() - start < 30
    limited = run(data, max_opcodes=10_000)
    assert "opcode-limit" in {i.kind for i in limited.issues}


def test_data_only_fast_path_is_a_proof_not_a_guess() -> None:
    data = pickle.dumps({f"k{i}": i for i in range(100_000)}, protocol=4)
    assert run(data).data_only_proof
    hidden = pickle.dumps({f"k{i}": i for i in range(100_000)}, protocol=4)[:-1] + b"0" + fx.glob4("os", "system") + b"0."
    res = run(hidden)
    assert not res.data_only_proof and [g.name for g in res.globals] == ["system"]


def test_deep_nesting_does_not_recurse() -> None:
    data = fx.PROTO + b"\x04" + fx.MARK * 100_000 + fx.s("x") + b"t" * 100_000 + fx.STOP
    res = run(data)
    assert res.complete


def test_joblib_inline_arrays_are_skipped_exactly(tmp_path: Path) -> None:
    import joblib
    import numpy as np

    joblib.dump({"w": np.arange(1000, dtype="f8"), "o": np.array([1, "x"], dtype=object), "i": np.ones((3, 4), "i4")}, tmp_path / "m.joblib")
    data = (tmp_path / "m.joblib").read_bytes()
    res = run(data)
    assert res.complete and res.joblib_arrays == 3
    assert {g.name for g in res.globals} >= {"NumpyArrayWrapper", "dtype", "ndarray"}
