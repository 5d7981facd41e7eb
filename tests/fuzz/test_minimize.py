"""ddmin: back to the seed where possible, then delete what is not needed; bounded in time."""

from __future__ import annotations

import time

from mlsecops.stages.fuzz import minimize


def test_reverts_every_byte_but_the_ones_that_matter():
    seed = bytes(range(256)) * 16
    crash = bytearray(seed)
    for i in (10, 500, 1000, 2000, 3000):
        crash[i] ^= 0xFF
    crash[77] = 0x41  # the trigger
    calls = []

    def test(data: bytes) -> bool:
        calls.append(1)
        return data[77] == 0x41

    out = minimize.minimize(bytes(crash), seed, test, time.monotonic() + 10)
    assert len(out) == len(seed)
    assert [i for i in range(len(seed)) if out[i] != seed[i]] == [77]
    assert len(calls) < 200


def test_deletes_down_to_the_trigger_without_a_seed():
    data = b"x" * 500 + b"MLS!" + b"y" * 500
    out = minimize.minimize(data, None, lambda d: b"MLS!" in d, time.monotonic() + 10)
    assert out == b"MLS!"


def test_stops_at_the_deadline():
    data = bytes(100_000)
    deadline = time.monotonic() + 0.3
    calls: list[float] = []

    def test(d: bytes) -> bool:
        calls.append(time.monotonic())
        time.sleep(0.05)
        return len(d) > 10

    out = minimize.minimize(data, None, test, deadline)
    # No new try once the deadline has passed (one may start just after the check that let it in);
    # finishing would take some thirty more.
    assert len([t for t in calls if t > deadline]) <= 1, len(calls)
    assert len(out) > 10  # returned with what it had, not finished


def test_transplant_applies_the_change_to_the_base_version():
    head = b"HEADER" + b"a" * 10 + b"TAIL"
    crash = b"HEADER" + b"aaXXaa" + b"a" * 4 + b"TAIL"
    base = b"HEADER" + b"b" * 12 + b"TAIL"
    moved = minimize.transplant(head, crash, base)
    assert moved is not None and b"XX" in moved and moved.endswith(b"TAIL") and moved.startswith(b"HEADER")
