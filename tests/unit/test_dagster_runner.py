"""The dagster runner's adapter without Dagster: where its day clock starts (on a tick of
the schedule's cron), which runs the operator gives up waiting for after a restart of
``dagster dev``, the operator's terminate-then-re-execute of a run a restart left in
progress, the team's bump of a ``code_version`` literal on a deploy, and what the
``tuned`` and ``production`` profiles change (the instance's daemon intervals or its
storage, the profile in the code location's environment, the card).

The adapter talks to Dagster over GraphQL only (``graphql.Api``), replaced here by a fake;
nothing here imports Dagster, so it runs in the harness's venv.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchbench.card import source_literal
from orchbench.contracts import RecoveryPlan
from orchbench.journal import Journal
from runners.dagster import adapter
from runners.dagster.adapter import DAY_S, SCHEDULE_LEAD_S, STUCK_S, DagsterRunner, first_tick
from runners.dagster.services import (
    DAGSTER_DEQUEUE_S,
    DAGSTER_POLL_S,
    TUNED_DEQUEUE_S,
    TUNED_POLL_S,
    instance_yaml,
)
from tests.conftest import make_scenario, run_context

D2 = "2026-01-02"


@pytest.mark.parametrize("now", [0.0, 1.0, 108.9, 109.0, 110.0, 119.5, 1_700_000_000.25])
def test_the_day_clock_starts_on_an_even_minute_after_the_lead(now: float) -> None:
    t = first_tick(now)
    assert t % DAY_S == 0 and t % 120 == 0  # a tick of cron */2 * * * *
    assert SCHEDULE_LEAD_S + 1 < t - now <= SCHEDULE_LEAD_S + 1 + DAY_S


class FakeDev:
    """What the adapter reads of ``services.DagsterDev``."""

    def __init__(self, starts: int, started_at: float) -> None:
        self.starts = starts
        self.started_at = started_at
        self.api = FakeApi()

    def alive(self) -> bool:
        return True


class FakeApi:
    """Dagster's GraphQL API as the adapter uses it: runs newest first."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.run_list: list[dict[str, Any]] = []

    def runs(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.run_list]

    def terminate(self, run_id: str) -> str:
        self.calls.append(("terminate", run_id))
        for r in self.run_list:
            if r["runId"] == run_id:
                r["status"] = "CANCELED"
        return "TerminateRunSuccess"

    def reexecute(
        self, location: str, job: str, tags: dict[str, str], parent: Any, keys: Any
    ) -> str:
        self.calls.append(("reexecute", (parent["runId"], parent["status"], tuple(keys))))
        self.run_list.insert(0, {"runId": "child", "status": "SUCCESS", "tags": tags})
        return "child"

    def reload(self, location: str) -> str:
        self.calls.append(("reload", location))
        return "LOADED"


def runner_with(dev: FakeDev) -> DagsterRunner:
    r = DagsterRunner()
    r.dev = dev  # type: ignore[assignment]
    r.location = "loc"
    return r


def run(status: str, start: float | None, run_id: str = "r") -> dict[str, Any]:
    return {"runId": run_id, "status": status, "startTime": start, "tags": {}}


def test_only_a_run_older_than_a_restart_and_unfinished_long_after_it_is_stuck() -> None:
    now = time.time()
    restarted = FakeDev(starts=2, started_at=now - STUCK_S - 1)
    r = runner_with(restarted)
    assert r._stuck(run("STARTED", restarted.started_at - 5))
    assert not r._stuck(run("SUCCESS", restarted.started_at - 5))  # finished
    assert not r._stuck(run("STARTED", restarted.started_at + 5))  # began after the restart
    assert not r._stuck(run("QUEUED", None))  # the queue still launches it
    # too soon after the restart: Dagster's run monitoring has not had its poll yet
    assert not runner_with(FakeDev(2, now - 10))._stuck(run("STARTED", now - 20))
    # never restarted: a long run is just running
    assert not runner_with(FakeDev(1, now - 1000))._stuck(run("STARTED", now - 999))


def test_the_operator_terminates_a_run_left_in_progress_then_re_executes_it(
    tmp_path: Path,
) -> None:
    dev = FakeDev(starts=2, started_at=time.time())
    dev.api.run_list = [
        {"runId": "inflight", "status": "STARTED", "startTime": 1.0, "tags": {}},
    ]
    dev.api.run_list[0]["tags"]["dagster/partition"] = D2
    r = runner_with(dev)
    ctx = run_context(tmp_path, make_scenario(), "dagster")
    ctx.intervention("re-run 2026-01-02 from featurize")
    r.recover(ctx, RecoveryPlan({D2: "featurize"}))
    assert [c[0] for c in dev.api.calls] == ["terminate", "reexecute"]
    assert dev.api.calls[1][1] == (
        "inflight",
        "CANCELED",
        ("features", "model", "evaluate", "registration", "deployment"),
    )
    commands = [a["command"] for a in Journal.load(ctx.journal).operator_actions]
    assert len(commands) == 2 and "terminate run inflight" in commands[0]
    assert "re-execute run inflight from features" in commands[1]


def test_a_deploy_bumps_the_code_version_literal_and_reloads(tmp_path: Path) -> None:
    dev = FakeDev(starts=1, started_at=time.time())
    r = runner_with(dev)
    ctx = run_context(tmp_path, make_scenario(), "dagster")
    r.deploy_code(ctx, "train", 2)
    assert json.loads(r.code_versions_path(ctx).read_text()) == {"train": "2"}
    assert dev.api.calls == [("reload", "loc")]
    assert adapter.OP_OF["train"] == "model"


def test_the_instance_per_profile_changes_only_the_daemon_intervals(tmp_path: Path) -> None:
    """default leaves the intervals to Dagster (the keys absent); tuned sets run
    monitoring's poll and the run queue's dequeue interval to its constants, shorter than
    Dagster's; both keep what the policy and the one-run-at-a-time rule rest on."""
    default = yaml.safe_load(instance_yaml(tmp_path, "default"))
    tuned = yaml.safe_load(instance_yaml(tmp_path, "tuned"))
    assert "poll_interval_seconds" not in default["run_monitoring"]
    assert "dequeue_interval_seconds" not in default["run_queue"]
    assert tuned["run_monitoring"]["poll_interval_seconds"] == TUNED_POLL_S < DAGSTER_POLL_S
    assert tuned["run_queue"]["dequeue_interval_seconds"] == TUNED_DEQUEUE_S < DAGSTER_DEQUEUE_S
    for doc in (default, tuned):
        assert doc["run_monitoring"]["enabled"] is True  # dagster/max_runtime is enforced
        assert doc["run_queue"]["max_concurrent_runs"] == 1
        assert doc["telemetry"] == {"enabled": False}
        assert doc["storage"] == {"sqlite": {"base_dir": f"{tmp_path}/storage"}}
    rest = {k: v for k, v in tuned.items() if k not in ("run_monitoring", "run_queue")}
    assert rest == {k: v for k, v in default.items() if k not in ("run_monitoring", "run_queue")}
    with pytest.raises(ValueError, match="production"):
        instance_yaml(tmp_path, "production")  # production's storage needs its database
    with pytest.raises(ValueError, match="production's alone"):
        instance_yaml(tmp_path, "default", {"username": "u"})
    with pytest.raises(ValueError, match="profile 'staging'"):
        instance_yaml(tmp_path, "staging")


def test_production_stores_the_instance_in_its_postgres_database(tmp_path: Path) -> None:
    """production: default's instance (Dagster's intervals, run monitoring, one run at a
    time, telemetry off) with every storage in the scenario run's PostgreSQL database on
    the runner's loopback cluster, in dagster-postgres' ``postgres_db`` form; the run's
    database name is a plain identifier derived from the run id; the card and settings
    say so."""
    db = {"username": "orchbench", "hostname": "127.0.0.1", "port": 54321, "db_name": "x_1"}
    default = yaml.safe_load(instance_yaml(tmp_path, "default"))
    production = yaml.safe_load(instance_yaml(tmp_path, "production", db))
    # psycopg2 named: dagster-postgres installs it, SQLAlchemy 2.1 would load psycopg 3
    scheme = {"scheme": "postgresql+psycopg2"}
    assert production["storage"] == {"postgres": {"postgres_db": {**db, **scheme}}}
    assert {k: v for k, v in production.items() if k != "storage"} == {
        k: v for k, v in default.items() if k != "storage"
    }
    assert str(tmp_path) not in instance_yaml(tmp_path, "production", db)
    name = adapter.db_name("20261206T110302Z-1a2B3c")
    assert name == "dagster_20261206t110302z_1a2b3c" and len(name) <= 63
    ctx = run_context(tmp_path, make_scenario(), "dagster")
    r = DagsterRunner("production")
    with pytest.raises(RuntimeError, match="not running"):
        r.postgres_db(ctx)  # no cluster before start()
    assert DagsterRunner().postgres_db(ctx) is None
    assert r.run_env(ctx)["ORCHBENCH_DAGSTER_PROFILE"] == "production"
    executor = source_literal(adapter.DEFINITIONS_FILE, "EXECUTOR")
    alert = source_literal(adapter.DEFINITIONS_FILE, "ALERT_INTERVAL_S")
    assert executor["production"] == executor["default"] == "multiprocess"
    assert alert["production"] == alert["default"]
    card, default_card = r.card(), DagsterRunner().card()
    assert "PostgreSQL" in card["database"] and "fsync off" in card["database"]
    assert {k: v for k, v in card.items() if k != "database"} == {
        k: v for k, v in default_card.items() if k != "database"
    }
    settings = r.settings()
    assert settings["postgresql"]["fsync"] is False and "PostgreSQL" in settings["storage"]
    assert "postgresql" not in DagsterRunner().settings()


def test_the_profile_reaches_the_definitions_and_the_card_shows_its_values(
    tmp_path: Path,
) -> None:
    """The code location is told its profile through the environment the adapter starts
    ``dagster dev`` with; the tuned card shows the constants the run is started with."""
    ctx = run_context(tmp_path, make_scenario(), "dagster")
    assert DagsterRunner("tuned").run_env(ctx)["ORCHBENCH_DAGSTER_PROFILE"] == "tuned"
    assert DagsterRunner().run_env(ctx)["ORCHBENCH_DAGSTER_PROFILE"] == "default"
    executor = source_literal(adapter.DEFINITIONS_FILE, "EXECUTOR")
    alert = source_literal(adapter.DEFINITIONS_FILE, "ALERT_INTERVAL_S")
    assert executor == {
        "default": "multiprocess",
        "tuned": "in_process",
        "production": "multiprocess",
    }
    card = DagsterRunner("tuned").card()
    assert "in-process" in card["executor"]
    assert f"every {alert['tuned']} s" in card["alerting"]
    assert f"polled every {TUNED_POLL_S} s" in card["timeouts"]
    assert f"read every {TUNED_DEQUEUE_S} s" in card["scheduler"]
    default = DagsterRunner().card()
    assert f"every {alert['default']} s" in default["alerting"]
    assert f"polled every {DAGSTER_POLL_S} s" in default["timeouts"]


class TickingApi(FakeApi):
    """The failure sensor's ticks as the daemon adds them: the ``i``-th question sees the
    ticks ``seen[i]`` (the last entry from then on)."""

    def __init__(self, seen: list[list[float]]) -> None:
        super().__init__()
        self.seen = seen

    def sensor_ticked_after(self, location: str, name: str, t: float) -> bool:
        ticks = self.seen[min(len(self.calls), len(self.seen) - 1)]
        self.calls.append(("ticks", t))
        return any(k > t for k in ticks)


def ticking_runner(seen: list[list[float]], runs: list[dict[str, Any]]) -> DagsterRunner:
    dev = FakeDev(starts=1, started_at=0.0)
    dev.api = TickingApi(seen)
    dev.api.run_list = runs
    return runner_with(dev)


def test_the_deployment_waits_for_no_sensor_tick_when_no_run_failed(tmp_path: Path) -> None:
    r = ticking_runner([[]], [{"runId": "a", "status": "SUCCESS", "endTime": 5.0, "tags": {}}])
    r.await_alerting(run_context(tmp_path, make_scenario(), "dagster"))
    assert r.api.calls == []


def test_the_deployment_stops_once_the_sensor_ticked_after_the_last_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adapter, "POLL_S", 0.01)
    runs = [
        {"runId": "a", "status": "FAILURE", "endTime": 10.0, "tags": {}},
        {"runId": "b", "status": "FAILURE", "endTime": 20.0, "tags": {}},
        {"runId": "c", "status": "SUCCESS", "endTime": 30.0, "tags": {}},
    ]
    # a tick between the two failures, then one after the last at the third question
    r = ticking_runner([[15.0], [15.0], [15.0, 25.0]], runs)
    r.await_alerting(run_context(tmp_path, make_scenario(), "dagster"))
    # asked about the last failure's end (not the success's), until a tick came after it
    assert r.api.calls == [("ticks", 20.0)] * 3


def test_a_sensor_that_never_ticks_is_waited_for_its_interval_and_noted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adapter, "POLL_S", 0.01)
    monkeypatch.setattr(adapter, "ALERT_TICK_MARGIN_S", 0.2)
    monkeypatch.setattr(adapter, "source_literal", lambda path, name: {"default": 0})
    r = ticking_runner([[]], [{"runId": "a", "status": "FAILURE", "endTime": 1.0, "tags": {}}])
    ctx = run_context(tmp_path, make_scenario(), "dagster")
    t0 = time.monotonic()
    r.await_alerting(ctx)
    assert 0.2 <= time.monotonic() - t0 < 5
    assert "no tick of alert_on_failure" in (ctx.logs / "dagster-scheduler.log").read_text()


def test_the_day_clock_starts_on_the_tick_the_adapter_aligned_to() -> None:
    """Not ``schedule_lead_s`` after ``prepare_days`` returned: that drifted 3.3 s past the
    tick, and the outage's stop then came after the daemon had launched the date."""
    r = DagsterRunner()
    r._first_tick = 1_796_579_040.0
    assert r.first_fire(None) == 1_796_579_040.0  # type: ignore[arg-type]
    r._first_tick = None  # not aligned (a harness-fired run): the base runner's lead
    assert abs(r.first_fire(None) - (time.time() + SCHEDULE_LEAD_S)) < 1  # type: ignore[arg-type]
