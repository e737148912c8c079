"""How ``orchbench.matrix.lane_order`` splits one (runner, profile) over the lanes its
plugin allows: every scenario in exactly one lane, the days as even as they can be, a
lane's ``--scenarios`` naming only its own, and one lane (no part) where only one is
allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchbench import matrix
from orchbench.matrix import Cell, lane_order


@pytest.fixture
def allowed(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    lanes = {"split": 2, "three": 3}
    monkeypatch.setattr(matrix, "lanes_of", lambda r: lanes.get(r, 1))
    monkeypatch.setattr(matrix, "cost_hint_s", lambda r: 10.0)
    return lanes


def cells(runner: str, days: dict[str, int], done: int = 0) -> list[Cell]:
    return [Cell(Path(f"{s}.yaml"), runner, "default", done, d) for s, d in days.items()]


def test_a_runner_allowing_one_lane_gets_one_with_every_scenario(allowed: dict) -> None:
    (lane,) = lane_order(cells("one", {"a": 3, "b": 2}), repeat=1)
    assert (lane.key, lane.scenarios, lane.part, lane.cost_s) == (
        "one/default",
        ("a", "b"),
        None,
        20,
    )


def test_a_split_runner_s_scenarios_are_each_in_one_lane_days_balanced(allowed: dict) -> None:
    days = {"missed": 7, "clean": 3, "hang": 2, "crash": 2, "late": 3, "schema": 2}
    lanes = lane_order(cells("split", days), repeat=1)
    assert sorted(lane.part for lane in lanes) == [(1, 2), (2, 2)]
    got = sorted(s for lane in lanes for s in lane.scenarios)
    assert got == sorted(days)
    per_lane = sorted(sum(days[s] for s in lane.scenarios) for lane in lanes)
    assert per_lane == [9, 10]  # 19 days, the closest split
    assert {lane.key for lane in lanes} == {"split/default [1/2]", "split/default [2/2]"}


def test_never_more_lanes_than_scenarios_left(allowed: dict) -> None:
    todo = cells("three", {"a": 1, "b": 1}) + cells("three", {"c": 1}, done=1)
    lanes = lane_order(todo, repeat=1)
    assert sorted(lane.scenarios for lane in lanes) == [("a",), ("b",)]
    assert {lane.part for lane in lanes} == {(1, 2), (2, 2)}


def test_repeats_left_weigh_a_scenario_and_count_in_its_lane_s_cost(allowed: dict) -> None:
    todo = cells("split", {"a": 2}, done=0) + cells("split", {"b": 2, "c": 2}, done=2)
    lanes = lane_order(todo, repeat=3)  # a: 3 runs x 2 days; b, c: 1 run each
    by = {lane.scenarios: lane.cost_s for lane in lanes}
    assert by == {("a",): 30, ("b", "c"): 20}


def test_lanes_are_longest_first_across_runners(allowed: dict) -> None:
    todo = cells("one", {"a": 1}) + cells("split", {"a": 1, "b": 1, "c": 1, "d": 1})
    assert [lane.cost_s for lane in lane_order(todo, repeat=1)] == [20, 20, 10]


def test_a_split_group_s_lanes_start_before_a_shorter_group(allowed: dict) -> None:
    """Each of its three lanes is shorter than the other runner's one lane, but the
    three together are longer: ordered by lane alone, the third would start last."""
    todo = cells("one", {s: 1 for s in "abcd"}) + cells("three", {s: 1 for s in "abcdef"})
    order = [(lane.runner, lane.cost_s) for lane in lane_order(todo, repeat=1)]
    assert order == [("three", 20), ("three", 20), ("three", 20), ("one", 40)]


def test_scheduler_fired_scenarios_are_spread_over_the_lanes(allowed: dict) -> None:
    """Their days last the runner's wall-clock day: two in one lane would make it the
    long pole (the Dagster conformance lanes, 2026-12-06). By days alone both would share
    a lane here (long first: 4 | 2, 2+2 | ...)."""
    todo = cells("split", {"long": 4, "short": 1})
    fired = {"f1": 2, "f2": 2}
    todo += [Cell(Path(f"{s}.yaml"), "split", "default", 0, d, True) for s, d in fired.items()]
    lanes = lane_order(todo, repeat=1)
    assert sorted(sorted(set(lane.scenarios) & set(fired)) for lane in lanes) == [["f1"], ["f2"]]
