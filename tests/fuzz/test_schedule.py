"""Splitting the budget: equal slices in parallel lanes, targets that do not fit are skipped."""

from __future__ import annotations

from mlsecops.stages.fuzz import stage
from mlsecops.stages.fuzz.targets import Target


def _targets(n: int, torch: int = 0) -> list[Target]:
    out = [Target(kind="loader", path=f"m{i}.npy", key=f"loader:m{i}.npy", loaders=["numpy"]) for i in range(n)]
    out += [Target(kind="loader", path=f"t{i}.pt", key=f"loader:t{i}.pt", loaders=["torch"]) for i in range(torch)]
    return out


def test_equal_slices_in_lanes_and_the_rest_skipped():
    lanes, slice_s, dropped = stage.plan(_targets(6), window=7.0, lanes=2)
    assert [len(lane) for lane in lanes] == [3, 3] and not dropped
    assert abs(slice_s - 7.0 / 3) < 1e-9
    lanes, slice_s, dropped = stage.plan(_targets(9), window=7.0, lanes=2)
    assert sum(len(lane) for lane in lanes) == 6 and len(dropped) == 3 and slice_s >= stage.MIN_SLICE


def test_torch_targets_are_not_given_a_slice_too_short_to_import_torch():
    lanes, slice_s, dropped = stage.schedule(_targets(4, torch=2), window=7.0, lanes=2)
    assert [t.path for t in dropped] == ["t0.pt", "t1.pt"] and slice_s >= stage.MIN_SLICE
    lanes, slice_s, dropped = stage.schedule(_targets(1, torch=1), window=40.0, lanes=2)
    assert not dropped and slice_s == 40.0


def test_the_triage_reserve_grows_with_the_budget_within_bounds():
    assert stage.triage_reserve(10) == 4.5
    assert stage.triage_reserve(60) == 15.0
    assert stage.triage_reserve(600) == 20.0
