"""Fuzz the gate itself with hypothesis (bounded; the long runs are `fuzz/gate_fuzz.py`).

Random bytes, and inputs with structure the targets care about: pickles assembled
from random valid opcodes, zips with random bytes overwritten, policies built from
the real keys with wrong values, deep nesting and YAML aliases. The properties are
the ones in `fuzz/gate_targets.py`. Regressions found this way: deeply nested JSON
crashed detection (RecursionError), a zip directory offset past the end crashed the
zip reader, a nested or alias-heavy policy crashed or hung the loader.
"""

from __future__ import annotations

import io
import struct
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz import gate_targets as T
from mlsecops import fixtures as fx

FAST = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)

_ARGLESS = [b"(", b".", b"0", b"1", b"2", b"N", b"R", b"a", b"b", b"d", b"e", b"l", b"o", b"s", b"t", b"u", b"}",
            b")", b"]", b"\x85", b"\x86", b"\x87", b"\x88", b"\x89", b"\x8f", b"\x90", b"\x91", b"\x92", b"\x93", b"\x94",
            b"\x81", b"\x97", b"\x98", b"Q"]


@st.composite
def opcode(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind < 4:
        return draw(st.sampled_from(_ARGLESS))
    if kind == 4:
        return fx.s(draw(st.sampled_from(["os", "system", "builtins", "eval", "torch", "collections", "OrderedDict", "x"])))
    if kind == 5:
        return draw(st.sampled_from([b"q", b"h"])) + bytes([draw(st.integers(0, 255))])
    if kind == 6:
        return draw(st.sampled_from([b"r", b"j"])) + struct.pack("<I", draw(st.integers(0, 2**32 - 1)))
    if kind == 7:
        return b"c" + draw(st.sampled_from([b"os\nsystem\n", b"__builtin__\neval\n", b"x y\nz\n", b"a\n"]))
    if kind == 8:
        return draw(st.sampled_from([b"K", b"M", b"J", b"C", b"B", b"\x82", b"\x83", b"\x8a", b"\x95", b"\x8e"])) \
            + draw(st.binary(max_size=12))
    return b"\x80" + bytes([draw(st.integers(0, 6))])


pickles = st.lists(opcode(), max_size=60).map(b"".join)


@FAST
@given(st.binary(max_size=4096))
def test_random_bytes_never_break_any_target(data: bytes) -> None:
    for target in T.TARGETS:
        target(data)


@FAST
@given(pickles)
def test_pickle_shaped_inputs(data: bytes) -> None:
    T.walker(data)
    T.detector(b"\x00" + data)
    T.scanner(b"\x00" + data)


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("archive/data.pkl", fx.malicious_pickle())
        zf.writestr("archive/version", "3\n")
    return out.getvalue()


ZIP = _zip()


@FAST
@given(st.lists(st.tuples(st.integers(0, len(ZIP) - 1), st.integers(0, 255)), min_size=1, max_size=8),
       st.integers(0, len(ZIP)))
def test_mutated_zips(patches: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(ZIP)
    for pos, value in patches:
        data[pos] = value
    for variant in (bytes(data), bytes(data[:cut])):
        T.zip_reader(variant)
        T.detector(variant)
        T.scanner(bytes([8]) + variant)


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**12), st.text(max_size=12),
                    st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
_KEYS = ["version", "fail_on_scanner_error", "paths", "ignore", "models", "deps", "fuzz", "waivers", "lfs_pointers",
         "fail_on", "limits", "max_depth", "timeout_seconds", "allow_globals", "rule", "expires", "reason", "bogus"]
policies = st.recursive(_VALUES, lambda inner: st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4), max_leaves=12)


@FAST
@given(policies)
def test_policy_loader_explains_or_accepts(tree: object) -> None:
    import yaml

    T.policy_loader(yaml.safe_dump(tree).encode())


def test_policy_loader_regressions() -> None:
    deep = "paths: " + "[" * 5_000 + "]" * 5_000
    T.policy_loader(deep.encode())
    laughs = 'a: &a ["x","x","x","x","x","x","x","x","x","x"]\n'
    prev = "a"
    for k in range(1, 12):
        laughs += f"l{k}: &l{k} [" + ",".join([f"*{prev}"] * 10) + "]\n"
        prev = f"l{k}"
    T.policy_loader((laughs + f"paths: *{prev}\n").encode())  # 10^12 paths if walked naively


def test_detector_regressions() -> None:
    T.detector(b'{"chat_template": "{{ x }}", "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    broken = bytearray(ZIP)
    eocd = broken.rfind(b"PK\x05\x06")
    struct.pack_into("<I", broken, eocd + 16, 0xFFFFFF00)  # directory offset past the end
    T.scanner(b"\x08" + bytes(broken))  # a real file: read() of a negative length raised there
    T.zip_reader(bytes(broken))


@FAST
@given(st.text(max_size=300))
def test_escapers_keep_text_inert(text: str) -> None:
    T.escapers(text.encode("utf-8", "surrogatepass"))


@FAST
@given(st.binary(max_size=300))
def test_escapers_on_undecodable_names(raw: bytes) -> None:
    T.escapers(raw)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.integers(60_000, 140_000), st.sampled_from([b"\x93", b"R", b"b", b"c", b"i", b"\x8c\x12\x80\x04"]))
def test_data_only_proof_sees_a_call_at_any_offset(run: int, opcode: bytes) -> None:
    """The C-speed proof scans in 64 KiB windows (memory): nothing may slip between two windows."""
    from mlsecops.formats.pickle.fastpath import data_only

    body = b"N0" * (run // 2) + opcode + b"N" * 300_000
    data = b"\x80\x04" + body + b"."
    assert data_only(io.BytesIO(data), 0, len(data)) is None
    clean = b"\x80\x04" + b"N0" * (run // 2) + b"N" * 300_000 + b"."
    proof = data_only(io.BytesIO(clean), 0, len(clean))
    assert proof is not None and proof.end == len(clean)
