"""Differential tests: the walker against CPython's own unpicklers, on generated pickles.

Every input from the grammar (pickle_grammar.py) is walked and also handed to the real
unpicklers in a sandboxed child with recording stubs (tests/adversarial/unpickler_oracle.py);
the agreement relation is in pickle_differential.py. Any disagreement fails. The run is
deterministic (derandomize) and sized by MLSECOPS_ORACLE_EXAMPLES (default 5000).

The same oracle proves three more things the gate relies on: the skeleton handed to
fickling and modelscan keeps every import and call; the fast path's "data only" is a
proof; the sniff recognises every stream an unpickler would import from.
"""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlsecops.formats.pickle import Options, walk, would_run
from mlsecops.formats.pickle.fastpath import data_only
from mlsecops.formats.pickle.skeleton import skeleton
from tests.adversarial.harness import LoaderOracle
from tests.models.pickle_differential import OPTIONS, disagreement, walker_view
from tests.models.pickle_grammar import EXTENSIONS, pickles, seeded_pickles

EXAMPLES = int(os.environ.get("MLSECOPS_ORACLE_EXAMPLES", "5000"))


def _settings(n: int) -> settings:
    return settings(max_examples=n, derandomize=True, deadline=None, database=None, print_blob=True,
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def oracle() -> Iterator[LoaderOracle]:
    o = LoaderOracle()
    yield o
    o.close()


@pytest.mark.parametrize(("strategy", "examples"), [(seeded_pickles(), EXAMPLES), (pickles(), max(100, EXAMPLES // 25))],
                         ids=["seeded", "drawn"])
def test_walker_agrees_with_cpython_unpicklers(oracle: LoaderOracle, strategy: st.SearchStrategy[bytes],
                                               examples: int) -> None:
    """`seeded`: the large run (one draw per program); `drawn`: every choice a hypothesis
    draw, so a disagreement shrinks to a small program."""
    found: list[str] = []

    @_settings(examples)
    @given(strategy)
    def check(data: bytes) -> None:
        problem = disagreement(data, oracle)
        if problem:
            found.append(problem)
        if would_run(io.BytesIO(data), len(data)) is False:
            loaded = {(m, n) for m, n in oracle(data).imports
                      if all(p.isidentifier() for p in m.split(".") + n.split("."))}
            if loaded:
                found.append(f"{data!r}: the sniff misses a stream that imports {sorted(loaded)}")

    check()
    assert not found, f"{len(found)} disagreements, first: " + "\n".join(found[:3])


def test_skeleton_keeps_every_import_and_call(oracle: LoaderOracle) -> None:
    """What the engines get (payloads elided, frames dropped) makes the unpicklers do at
    least what the original makes them do."""
    small = Options(trace=True, extensions=EXTENSIONS, big=8)
    lost: list[str] = []

    @_settings(max(200, EXAMPLES // 5))
    @given(seeded_pickles())
    def check(data: bytes) -> None:
        r = walk(io.BytesIO(data), 0, len(data), 2_000_000, opts=small)
        if r.blind or any(i.kind == "dynamic-global" for i in r.issues) or \
                any(g.name.endswith("NumpyArrayWrapper") for g in r.globals):
            return  # blocked anyway / a name that was itself elided / joblib's view (arrays cut out)
        skel = skeleton(io.BytesIO(data), r, 0, r.end, 1 << 20)
        if skel is None:
            return
        before, after = oracle(data[: r.end]), oracle(skel)
        if not before.imports <= after.imports or not before.calls <= after.calls:
            lost.append(f"{data!r} -> {skel!r}: {sorted(before.imports - after.imports)} "
                        f"{sorted(before.calls - after.calls)}")

    check()
    assert not lost, "\n".join(lost[:3])


_DATA = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    | st.binary(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.tuples(inner, inner) | st.dictionaries(st.text(max_size=5), inner,
                                                                                         max_size=5)
    | st.frozensets(st.integers(), max_size=4) | st.sets(st.text(max_size=3), max_size=4),
    max_leaves=30,
)


def test_data_only_proof_is_a_proof(oracle: LoaderOracle) -> None:
    wrong: list[str] = []

    @_settings(max(200, EXAMPLES // 5))
    @given(_DATA, st.sampled_from([2, 3, 4, 5]), seeded_pickles())
    def check(value: object, protocol: int, generated: bytes) -> None:
        for data in (pickle.dumps(value, protocol=protocol), generated):
            proof = data_only(io.BytesIO(data), 0, len(data))
            if proof is not None:
                answer = oracle(data[: proof.end])
                if answer.imports or answer.calls:
                    wrong.append(f"{data!r}: proven data-only, but {answer.imports} {answer.calls}")

    check()
    assert not wrong, "\n".join(wrong[:3])


def test_the_walk_of_real_pickles_matches_the_loader(oracle: LoaderOracle) -> None:
    """Ordinary pickles of the data the tests above generate: complete, exact imports, no assumptions."""
    for value in ({"a": [1, 2.5, None]}, {1, 2}, frozenset({"x"}), b"\x00" * 300, "é" * 100, (1, (2, (3,)))):
        for protocol in range(6):
            data = pickle.dumps(value, protocol=protocol)
            imports, calls, r = walker_view(data, OPTIONS)
            answer = oracle(data)
            assert r.complete and not r.issues, (protocol, value, r.issues)
            assert imports == answer.imports and calls == answer.calls, (protocol, value)
