"""Declared memory limits, the limits attempts ran under, and OOM kills the system reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchbench import trace as tr
from orchbench.containers.limits import memory_bytes
from orchbench.metrics import declared_memory_limits, memory_limits, oom_kills
from orchbench.report.capability import NO, YES, capability_table
from orchbench.report.load import load_runs
from runners.kfp.docker_adapter import containers_from_events
from tests.unit.journal_builder import Builder
from tests.unit.test_report import _run

D1 = "2026-01-01"
MB512 = 512 * 10**6


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [("512M", MB512), ("1Gi", 2**30), ("1.5G", 1_500_000_000), ("64Ki", 65536), (7, 7),
     ("100", 100), (None, None), ("lots", None), ("5X", None)],
)  # fmt: skip
def test_memory_quantities(quantity: str | int | None, expected: int | None) -> None:
    assert memory_bytes(quantity) == expected


def declared(limit: str | None = "512M") -> dict:
    res = {"featurize": {"memory": "256M", "memory_limit": limit}, "train": {"cpu": "1"}}
    return tr.declared(source="spec.yaml", resources=res)


def featurize(b: Builder, **native: object) -> str:
    b.day(D1, upto="validate")
    return b.step("featurize", D1, native=native)


def test_no_declared_limit_is_none_not_false() -> None:
    b = Builder()
    featurize(b)
    assert memory_limits(b.journal(), []) is None
    assert memory_limits(b.journal(), [declared(None)]) is None
    assert declared_memory_limits([declared()]) == {"featurize": MB512}


def test_limit_enforced_only_when_every_limited_attempt_ran_under_it() -> None:
    under = Builder()
    featurize(under, container_id="c1", memory_limit_bytes=MB512)
    assert memory_limits(under.journal(), [declared()]) is True

    over = Builder()
    featurize(over, container_id="c1", memory_limit_bytes=2 * MB512)
    assert memory_limits(over.journal(), [declared()]) is False

    unlimited = Builder()  # a process with no cgroup limit journals nothing
    featurize(unlimited)
    assert memory_limits(unlimited.journal(), [declared()]) is False


def test_oom_kills_count_attempts_whose_container_the_system_reports() -> None:
    b = Builder()
    featurize(b, container_id="c1", memory_limit_bytes=MB512)
    b.step("featurize", D1, native={"container_id": "c2", "memory_limit_bytes": MB512})
    kill = tr.container(container_id="c1", oom_killed=True, exit_code=137, t_ns=1, source="t")
    ok = tr.container(container_id="c2", oom_killed=False, exit_code=0, t_ns=2, source="t")
    other = tr.container(container_id="c9", oom_killed=True, exit_code=137, t_ns=3, source="t")
    assert oom_kills(b.journal(), [kill, ok]) == 1
    assert oom_kills(b.journal(), [ok, other]) == 0  # not one of this run's attempts
    assert oom_kills(b.journal(), []) == 0


def test_docker_events_become_one_container_record_each(tmp_path: Path) -> None:
    def event(cid: str, action: str, **attrs: str) -> dict:
        actor = {"ID": cid, "Attributes": {"name": "x", **attrs}}
        return {"Type": "container", "Action": action, "id": cid, "Actor": actor,
                "timeNano": 5}  # fmt: skip

    log = tmp_path / "docker-events.jsonl"
    lines = [event("a", "oom"), event("a", "die", exitCode="137"), event("b", "die", exitCode="0")]
    log.write_text("".join(json.dumps(e) + "\n" for e in lines))
    recs = {r["container_id"]: r for r in containers_from_events(log)}
    assert recs["a"]["oom_killed"] is True and recs["a"]["exit_code"] == 137
    assert recs["b"]["oom_killed"] is False and recs["b"]["exit_code"] == 0
    assert all(r["kind"] == "container" for r in recs.values())
    assert containers_from_events(tmp_path / "absent.jsonl") == []


def test_capability_cell_follows_memory_limit_enforced(tmp_path: Path) -> None:
    res = tmp_path / "runs"
    caps = ["resource_limits"]
    _run(res, "crash", "a", "r1", "completed", capabilities=caps, memory_limit_enforced=True,
         oom_kills=1)  # fmt: skip
    _run(res, "crash", "b", "r2", "completed", capabilities=caps, memory_limit_enforced=False)
    _run(res, "crash", "c", "r3", "completed", capabilities=caps, memory_limit_enforced=None)
    table = capability_table(load_runs(res))["resource_limits"]
    assert table["a"].verdict == YES and "OOM kills by the kernel 1" in table["a"].text
    assert table["b"].verdict == NO
    assert table["c"].verdict == NO and "no memory limit declared" in table["c"].text
