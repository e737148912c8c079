"""Which lane the conformance bench starts next (``tests/conformance/bench.py``): up to
``jobs`` lanes of ordinary runners, one ``light`` lane beside them, and an ``exclusive``
one only on an idle machine, with nothing beside it. The plugins' flags are stubbed: on
the machine running this, cron's exclusivity depends on its cgroups."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from orchbench.matrix import Lane
from tests.conformance import bench

KIND = {"h1": "", "h2": "", "h3": "", "l1": "light", "l2": "light", "x": "alone"}


def lane(name: str) -> Lane:
    return Lane(name, "default", ("clean",), 10.0)


@pytest.fixture(autouse=True)
def flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "alone", lambda ln: KIND[ln.runner] == "alone")
    monkeypatch.setattr(bench, "light", lambda ln: KIND[ln.runner] == "light")


def start_all(queue: list[str], jobs: int, running: list[str] = ()) -> list[str]:
    """Start lanes until ``_next`` says wait; the names running then, in start order."""
    todo = [lane(n) for n in queue]
    now: dict[Lane, Any] = {lane(n): subprocess.Popen for n in running}
    while (nxt := bench._next(todo, now, jobs)) is not None:
        todo.remove(nxt)
        now[nxt] = subprocess.Popen
    return [ln.runner for ln in now]


def test_one_light_lane_runs_beside_the_others_from_the_start() -> None:
    assert start_all(["h1", "h2", "h3", "l1", "l2"], jobs=2) == ["l1", "h1", "h2"]


def test_a_light_lane_takes_no_slot_of_the_others() -> None:
    assert start_all(["h2", "h3", "l2"], jobs=3, running=["l1", "h1"]) == ["l1", "h1", "h2", "h3"]


def test_the_next_light_lane_waits_while_the_slots_are_taken() -> None:
    assert start_all(["l2"], jobs=1, running=["l1", "h1"]) == ["l1", "h1"]


def test_an_exclusive_lane_waits_for_an_idle_machine_then_runs_alone() -> None:
    assert start_all(["x", "h2"], jobs=3, running=["h1"]) == ["h1"]
    assert start_all(["x", "h2", "l1"], jobs=3) == ["x"]


def test_a_light_lane_takes_a_free_slot_when_no_other_lane_waits() -> None:
    assert start_all(["h1", "l1", "l2"], jobs=2) == ["l1", "h1", "l2"]
    assert start_all(["l2", "h2"], jobs=2, running=["l1", "h1"]) == ["l1", "h1", "h2"]
