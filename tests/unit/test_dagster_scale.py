"""The dagster scale engine without Dagster: the parallelism it reports from the limits its
probe reads (the fan-out's executor, the instance's run queue), Dagster's end of a sample
(the latest ``endTime`` of its runs), what one sample sends over GraphQL
(``graphql.Api``, our own client, replaced here by a fake; ``dagster dev`` by a stand-in
with that fake as its API), and how each runner profile is deployed (the runner's
instance file, executor variable and PostgreSQL cluster, the cluster a stand-in). Nothing
here imports Dagster or starts a server."""

from __future__ import annotations

import ast
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from orchbench import postgres, scale
from orchbench.card import source_literal
from orchbench.plugins import scale_plugins
from runners.dagster import adapter
from runners.dagster import scale as dscale
from runners.dagster.adapter import PARTITION_TAG, DagsterRunner
from runners.dagster.scale import DagsterScale, end_ns, parallelism_of, sample_state
from runners.dagster.services import DagsterDev, instance_yaml

REPO = Path(__file__).resolve().parents[2]
JOB_FILE = REPO / "runners" / "dagster" / "scale_job.py"

# what scale_job.limits prints with the runner's default instance on a 2-core machine
LIMITS: dict[str, Any] = {
    "profile": "default",
    "executor.definition": "multi_or_in_process_executor",
    "executor.config": {"multiprocess": {"max_concurrent": None, "retries": {"enabled": {}}}},
    "cpu_count": 2,
    "env.DAGSTER_MULTIPROCESS_EXECUTOR_MAX_CONCURRENT": None,
    "backfill_daemon.interval_s": 30,
    "executor": "MultiprocessExecutor",
    "executor.max_concurrent": 2,
    "executor.tag_concurrency_limits": [],
    "run_coordinator": "QueuedRunCoordinator",
    "run_launcher": "DefaultRunLauncher",
    "run_queue.max_concurrent_runs": 1,
    "run_queue.tag_concurrency_limits": [],
    "run_queue.dequeue_interval_s": 5,
    "run_monitoring.enabled": True,
    "run_monitoring.poll_interval_s": 120,
    "storage.runs": "SqliteRunStorage",
    "storage.event_log": "SqliteEventLogStorage",
}
# ... and with the tuned profile's (in-process executor, shorter daemon intervals)
TUNED_LIMITS: dict[str, Any] = {
    **LIMITS,
    "profile": "tuned",
    "executor.definition": "in_process",
    "executor.config": {"retries": {"enabled": {}}},
    "executor": "InProcessExecutor",
    "executor.max_concurrent": None,
    "run_queue.dequeue_interval_s": 1,
    "run_monitoring.poll_interval_s": 10,
}


def test_the_fanout_runs_as_many_steps_as_the_executor_builds_max_concurrent_with() -> None:
    n, source = parallelism_of(scale.Shape("fanout", 20), LIMITS)
    assert n == 2
    assert "max_concurrent 2" in source and "multiprocessing.cpu_count() = 2" in source


def test_the_fanout_names_the_environment_variable_when_it_set_the_limit() -> None:
    limits = {
        **LIMITS,
        "env.DAGSTER_MULTIPROCESS_EXECUTOR_MAX_CONCURRENT": "6",
        "executor.max_concurrent": 6,
    }
    n, source = parallelism_of(scale.Shape("fanout", 20), limits)
    assert n == 6 and "DAGSTER_MULTIPROCESS_EXECUTOR_MAX_CONCURRENT=6" in source
    limits["executor.config"] = {"multiprocess": {"max_concurrent": 3}}
    limits["executor.max_concurrent"] = 3
    assert parallelism_of(scale.Shape("fanout", 20), limits)[0] == 3
    assert "run config" in parallelism_of(scale.Shape("fanout", 20), limits)[1]


@pytest.mark.parametrize("kind", ["backfill", "concurrent"])
def test_runs_go_as_many_at_a_time_as_the_run_queue_allows(kind: str) -> None:
    n, source = parallelism_of(scale.Shape(kind, 7), LIMITS)  # type: ignore[arg-type]
    assert n == 1 and "max_concurrent_runs 1" in source and "QueuedRunCoordinator" in source
    unlimited = {**LIMITS, "run_queue.max_concurrent_runs": -1}
    assert parallelism_of(scale.Shape(kind, 7), unlimited)[0] == 7  # type: ignore[arg-type]
    no_queue = {**LIMITS, "run_queue.max_concurrent_runs": None}
    assert parallelism_of(scale.Shape(kind, 7), no_queue)[0] == 7  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no run would launch"):
        parallelism_of(scale.Shape(kind, 7), {**LIMITS, "run_queue.max_concurrent_runs": 0})  # type: ignore[arg-type]


def test_a_sample_ends_at_its_latest_run_end_and_only_when_every_run_ended() -> None:
    runs = [
        {"runId": "a", "status": "SUCCESS", "endTime": 100.25},
        {"runId": "b", "status": "SUCCESS", "endTime": 101.5},
    ]
    assert end_ns(runs) == 101_500_000_000
    assert sample_state(runs, 2) == "success"
    assert sample_state(runs, 3) == "running"  # the backfill has not submitted the third
    assert sample_state([*runs[:1], {"runId": "c", "status": "STARTED"}], 2) == "running"
    assert sample_state([*runs[:1], {"runId": "c", "status": "FAILURE"}], 2) == "failed"
    assert sample_state([*runs, runs[0]], 2) == "failed"
    with pytest.raises(RuntimeError, match="no endTime"):
        end_ns([{"runId": "a", "status": "SUCCESS", "endTime": None}])


def test_the_engine_reads_the_job_files_names_and_its_first_partition() -> None:
    assert source_literal(JOB_FILE, "FIRST_DATE") == scale.FIRST_DATE.isoformat()
    tree = ast.parse(JOB_FILE.read_text())
    ops = {
        f.name
        for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef)
        and any(getattr(getattr(d, "func", d), "id", None) == "op" for d in f.decorator_list)
    }
    assert set(dscale.fanout_run_config(3, "2026-01-01")["ops"]) <= ops
    assert {dscale.FANOUT_JOB, dscale.DAILY_JOB} == {
        "orchbench_scale_fanout",
        "orchbench_scale_daily",
    }
    assert scale_plugins()["dagster"].scale_class() is DagsterScale


class FakeApi:
    """Dagster's GraphQL API as the engine uses it: runs end ``ends_after`` s after launch."""

    def __init__(self, status: str = "SUCCESS", ends_after: float = 0.0) -> None:
        self.status = status
        self.ends_after = ends_after
        self.launched: list[tuple[str, dict[str, str], dict[str, Any] | None]] = []
        self.backfills: list[tuple[str, list[str], dict[str, str]]] = []
        self._runs: list[dict[str, Any]] = []

    def _add(self, tags: dict[str, str]) -> str:
        rid = f"run-{len(self._runs)}"
        t = time.time()
        self._runs.append({"runId": rid, "tags": tags, "launched": t})
        return rid

    def launch(self, location: str, job: str, tags: dict[str, str], run_config: Any = None) -> str:
        self.launched.append((job, tags, run_config))
        return self._add(tags)

    def backfill(self, location: str, job: str, partitions: list[str], tags: dict[str, str]) -> str:
        self.backfills.append((job, partitions, tags))
        for p in partitions:
            self._add({**tags, PARTITION_TAG: p})
        return "bf-1"

    def backfill_status(self, backfill_id: str) -> str:
        return "REQUESTED"

    def runs(self, tags: dict[str, str] | None = None) -> list[dict[str, Any]]:
        now = time.time()
        out = []
        for r in self._runs:
            if tags and any(r["tags"].get(k) != v for k, v in tags.items()):
                continue
            done = now >= r["launched"] + self.ends_after
            out.append(
                {
                    "runId": r["runId"],
                    "tags": r["tags"],
                    "status": self.status if done else "STARTED",
                    "endTime": r["launched"] + self.ends_after if done else None,
                }
            )
        return out


class FakeDev:
    def __init__(self, api: FakeApi) -> None:
        self.api = api
        self.killed = False
        self.log = Path("/nonexistent/dagster-dev.log")

    def alive(self) -> bool:
        return not self.killed

    def kill(self) -> None:
        self.killed = True


def started(tmp_path: Path, api: FakeApi) -> tuple[DagsterScale, FakeDev]:
    engine = DagsterScale(REPO)
    dev = FakeDev(api)
    engine.dev = dev  # type: ignore[assignment]
    engine.location = "scale_job"
    engine.limits = LIMITS
    engine._work = tmp_path
    return engine, dev


def point(tmp_path: Path, shape: scale.Shape, timeout_s: float = 30.0) -> scale.PointContext:
    return scale.PointContext(
        engine="dagster",
        shape=shape,
        dir=tmp_path,
        journal=tmp_path / "journal-1.jsonl",
        logs=tmp_path / "logs-1",
        work=tmp_path / "work",
        deadline=time.monotonic() + timeout_s,
    )


def test_concurrent_runs_are_one_launch_per_partition_with_the_samples_tags(
    tmp_path: Path,
) -> None:
    api = FakeApi()
    engine, _ = started(tmp_path, api)
    shape = scale.Shape("concurrent", 3)
    timing = engine.run(shape, point(tmp_path, shape))
    assert [j for j, _, _ in api.launched] == [dscale.DAILY_JOB] * 3
    assert [t[PARTITION_TAG] for _, t, _ in api.launched] == shape.dates()
    tags = api.launched[0][1]
    assert tags[dscale.TAG_JOURNAL] == str(tmp_path / "journal-1.jsonl")
    assert tags[dscale.TAG_POINT] == "concurrent-3" and tags[dscale.TAG_ENGINE] == "dagster"
    assert len({t[dscale.TAG_SAMPLE] for _, t, _ in api.launched}) == 1
    assert timing.end_ns == end_ns(api.runs())


def test_a_fanout_is_one_launch_with_n_in_its_run_config_and_a_backfill_one_backfill(
    tmp_path: Path,
) -> None:
    api = FakeApi()
    engine, _ = started(tmp_path, api)
    engine.run(scale.Shape("fanout", 5), point(tmp_path, scale.Shape("fanout", 5)))
    job, _, config = api.launched[0]
    assert job == dscale.FANOUT_JOB
    assert config == dscale.fanout_run_config(5, "2026-01-01")
    assert config["ops"]["items"]["config"]["n"] == 5
    shape = scale.Shape("backfill", 2)
    engine.run(shape, point(tmp_path, shape))
    assert [(j, p) for j, p, _ in api.backfills] == [(dscale.DAILY_JOB, shape.dates())]
    assert len(api.launched) == 1  # the backfill launched its runs itself


def test_a_failed_run_fails_the_sample(tmp_path: Path) -> None:
    engine, _ = started(tmp_path, FakeApi(status="FAILURE"))
    shape = scale.Shape("concurrent", 2)
    with pytest.raises(RuntimeError, match="not successful: run-0 FAILURE"):
        engine.run(shape, point(tmp_path, shape))


def test_runs_going_at_the_deadline_kill_dagster_dev_and_the_next_sample_restarts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, dev = started(tmp_path, FakeApi(ends_after=3600))
    shape = scale.Shape("fanout", 2)
    with pytest.raises(scale.ScaleTimeout, match="0 of 1 runs ended"):
        engine.run(shape, point(tmp_path, shape, timeout_s=0.2))
    assert dev.killed and engine.dev is None
    fresh = FakeApi()

    def up() -> None:  # a restart that takes longer than the sample's deadline
        time.sleep(0.3)
        engine.dev = FakeDev(fresh)  # type: ignore[assignment]

    monkeypatch.setattr(engine, "_up", up)
    timing = engine.run(shape, point(tmp_path, shape, timeout_s=0.2))
    assert fresh.launched and "restarted after an abort" in timing.notes[0]


def test_a_backfill_past_the_daily_partitions_is_refused(tmp_path: Path) -> None:
    engine, _ = started(tmp_path, FakeApi())
    shape = scale.Shape("backfill", scale.MAX_SIZE)  # reaches past today
    with pytest.raises(ValueError, match="no daily partition yet"):
        engine.run(shape, point(tmp_path, shape))


# --- profiles ---------------------------------------------------------------------------


def test_the_engine_runs_every_runner_profile_and_refuses_others() -> None:
    assert DagsterScale.profiles == DagsterRunner.profiles == ("default", "tuned", "production")
    assert DagsterScale.unmeasured == {}
    assert {"dagster", "dagster/tuned", "dagster/production"} <= set(scale.engine_names())
    for profile, label in [
        ("default", "dagster"),
        ("tuned", "dagster/tuned"),
        ("production", "dagster/production"),
    ]:
        engine = DagsterScale(REPO, profile)
        assert engine.runner.profile == profile and engine.label == label
    with pytest.raises(ValueError, match="no profile 'celery'"):
        DagsterScale(REPO, "celery")


def job_file_as_loaded(monkeypatch: pytest.MonkeyPatch, profile: str | None) -> ModuleType:
    """``scale_job.py`` executed against a stand-in ``dagster`` whose ``@job`` keeps its
    arguments, with ``ORCHBENCH_DAGSTER_PROFILE`` = ``profile`` (None: unset)."""
    fake = ModuleType("dagster")
    for name in (
        "Config",
        "DailyPartitionsDefinition",
        "Definitions",
        "DynamicOut",
        "DynamicOutput",
        "OpExecutionContext",
    ):
        setattr(fake, name, type(name, (), {"__init__": lambda self, *a, **kw: None}))
    fake.in_process_executor = "in_process_executor"  # type: ignore[attr-defined]
    fake.op = lambda fn=None, **kw: fn if fn is not None else (lambda f: f)  # type: ignore[attr-defined]
    fake.job = lambda **kw: lambda fn: SimpleNamespace(fn=fn, **kw)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dagster", fake)
    if profile is None:
        monkeypatch.delenv(dscale.ENV_PROFILE, raising=False)
    else:
        monkeypatch.setenv(dscale.ENV_PROFILE, profile)
    spec = importlib.util.spec_from_file_location("scale_job_as_loaded", JOB_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("profile", "executor_def"),
    [
        (None, None),
        ("default", None),
        ("tuned", "in_process_executor"),
        ("production", None),
    ],
)
def test_the_scale_jobs_take_the_profile_s_executor_by_the_pipeline_s_rule(
    monkeypatch: pytest.MonkeyPatch, profile: str | None, executor_def: str | None
) -> None:
    defs = REPO / "runners" / "dagster" / "definitions.py"
    assert dscale.ENV_PROFILE == source_literal(defs, "ENV_PROFILE") == "ORCHBENCH_DAGSTER_PROFILE"
    job_file = job_file_as_loaded(monkeypatch, profile)
    assert (profile or "default") == job_file.PROFILE
    assert job_file.EXECUTOR == source_literal(defs, "EXECUTOR") == dscale.EXECUTOR
    for job in (job_file.scale_fanout, job_file.scale_daily):
        assert job.executor_def == executor_def  # None: the Definitions default, multiprocess
    assert set(dscale.EXECUTOR_CLASS) == set(dscale.EXECUTOR.values())


def test_the_scale_jobs_refuse_an_unknown_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="ORCHBENCH_DAGSTER_PROFILE='celery'"):
        job_file_as_loaded(monkeypatch, "celery")


def test_tuned_fans_out_one_step_at_a_time_on_the_in_process_executor() -> None:
    n, source = parallelism_of(scale.Shape("fanout", 20), TUNED_LIMITS)
    assert n == 1 and "in-process executor" in source and "profile tuned" in source
    n, source = parallelism_of(scale.Shape("backfill", 4), TUNED_LIMITS)
    assert n == 1 and "max_concurrent_runs 1" in source and "dequeued every 1 s" in source
    with pytest.raises(ValueError, match="no parallelism known for executor 'CeleryExecutor'"):
        parallelism_of(scale.Shape("fanout", 2), {**LIMITS, "executor": "CeleryExecutor"})


class FakeCluster:
    """``orchbench.postgres.PostgresCluster`` as the runner uses it."""

    def __init__(self, *, fsync: bool = True, superuser: str = "orchbench") -> None:
        self.fsync = fsync
        self.superuser = superuser
        self.port = 0
        self.databases: list[str] = []
        self.running = False
        self.removed = 0

    def start(self) -> None:
        self.port = 54321
        self.running = True

    def create_database(self, name: str) -> None:
        assert self.running
        self.databases.append(name)

    def remove(self) -> None:
        self.running = False
        self.removed += 1


@pytest.fixture
def clusters(monkeypatch: pytest.MonkeyPatch) -> list[FakeCluster]:
    """The clusters the runner starts (stand-ins); PostgreSQL reported installed."""
    made: list[FakeCluster] = []

    def make(**kw: Any) -> FakeCluster:
        made.append(FakeCluster(**kw))
        return made[-1]

    monkeypatch.setattr(postgres, "PostgresCluster", make)
    monkeypatch.setattr(postgres, "available", lambda: None)
    monkeypatch.setattr(postgres, "version", lambda: "15.test")
    return made


def deploy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, profile: str, limits: dict[str, Any]
) -> tuple[DagsterScale, list[DagsterDev]]:
    """``start`` with each ``dagster dev`` start replaced by writing its instance file (and
    the limits probe and warm-up by stand-ins); the engine and the ``DagsterDev``s it
    started."""
    devs: list[DagsterDev] = []

    def dev_start(dev: DagsterDev, deadline: float) -> str:
        dev.write_instance()
        devs.append(dev)
        return "scale_job"

    monkeypatch.setattr(DagsterDev, "start", dev_start)
    monkeypatch.setattr(DagsterDev, "stop", lambda dev: None)
    monkeypatch.setattr(DagsterDev, "kill", lambda dev: None)
    engine = DagsterScale(REPO, profile)
    monkeypatch.setattr(engine, "_read_limits", lambda env, home: limits)
    monkeypatch.setattr(engine, "_warm_up", lambda work: None)
    engine.start(tmp_path / "services")
    return engine, devs


def limits_of(profile: str) -> dict[str, Any]:
    if profile == "tuned":
        return TUNED_LIMITS
    storage = "PostgresRunStorage" if profile == "production" else "SqliteRunStorage"
    return {**LIMITS, "profile": profile, "storage.runs": storage}


@pytest.mark.parametrize("profile", ["default", "tuned", "production"])
def test_each_profile_is_deployed_by_the_runner_s_own_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clusters: list[FakeCluster], profile: str
) -> None:
    engine, devs = deploy(tmp_path, monkeypatch, profile, limits_of(profile))
    (dev,) = devs
    assert dev.profile == profile and dev.module == dscale.CODE_MODULE
    assert dev.env[dscale.ENV_PROFILE] == profile  # scale_job's executor rule reads it
    assert not {k for k in dev.env if k.startswith("DAGSTER_")}
    written = (dev.home / "dagster.yaml").read_text()
    assert written == instance_yaml(dev.home, profile, dev.postgres_db)
    assert ("dequeue_interval_seconds: 1" in written) == (profile == "tuned")
    if profile == "production":
        (cluster,) = clusters
        assert cluster.running and not cluster.fsync and cluster.databases == ["dagster_scale_1"]
        assert dev.postgres_db == {
            "username": "orchbench",
            "hostname": "127.0.0.1",
            "port": 54321,
            "db_name": "dagster_scale_1",
        }
        assert "postgres_db" in written and "sqlite" not in written
    else:
        assert clusters == [] and dev.postgres_db is None and "sqlite" in written
    settings = engine.settings(scale.Shape("fanout", 2))
    assert settings["profile"] == profile and settings["limits"] == limits_of(profile)
    assert settings["executor"].startswith("in_process_executor") == (profile == "tuned")
    assert ("postgresql" in settings) == (profile == "production")
    engine.stop()
    engine.stop()  # safe twice
    assert engine.runner.pg is None and all(c.removed == 1 and not c.running for c in clusters)


def test_tuned_settings_are_the_tuned_instance_s_intervals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clusters: list[FakeCluster]
) -> None:
    engine, _ = deploy(tmp_path, monkeypatch, "tuned", TUNED_LIMITS)
    instance = engine.settings(scale.Shape("concurrent", 2))["instance"]
    assert "profile tuned" in instance and "dequeued every 1 s" in instance
    assert "run monitoring every 10 s" in instance
    engine.stop()


def test_production_restarts_on_a_new_database_and_stop_removes_the_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clusters: list[FakeCluster]
) -> None:
    engine, devs = deploy(tmp_path, monkeypatch, "production", limits_of("production"))
    engine.abort()  # what a timed-out sample does: the next one starts afresh
    engine._up()
    (cluster,) = clusters  # one cluster for the engine's life
    assert cluster.databases == ["dagster_scale_1", "dagster_scale_2"]
    assert [d.postgres_db["db_name"] for d in devs if d.postgres_db] == cluster.databases
    pg = engine.settings(scale.Shape("backfill", 2))["postgresql"]
    assert pg["database"] == "dagster_scale_2" and pg["port"] == 54321 and pg["fsync"] is False
    engine.stop()
    assert cluster.removed == 1 and engine.runner.pg is None


def test_a_failed_start_leaves_no_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clusters: list[FakeCluster]
) -> None:
    # the scale job built on another executor than the profile's: refused, nothing left
    with pytest.raises(RuntimeError, match="not MultiprocessExecutor"):
        deploy(tmp_path, monkeypatch, "production", {**TUNED_LIMITS, "profile": "production"})
    (cluster,) = clusters
    assert cluster.removed == 1 and not cluster.running


def test_an_executor_other_than_the_profile_s_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clusters: list[FakeCluster]
) -> None:
    with pytest.raises(RuntimeError, match="not InProcessExecutor"):
        deploy(tmp_path, monkeypatch, "tuned", {**LIMITS, "profile": "tuned"})
    with pytest.raises(RuntimeError, match="profile 'default'"):
        deploy(tmp_path, monkeypatch, "tuned", {**TUNED_LIMITS, "profile": "default"})


def test_production_versions_name_its_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adapter, "venv_versions", lambda python, keys: dict.fromkeys(keys, "1.0"))
    monkeypatch.setattr(postgres, "version", lambda: "15.test")
    default = DagsterScale(REPO).versions()
    assert set(default) == set(dscale.VERSION_KEYS)
    production = DagsterScale(REPO, "production").versions()
    assert production["postgresql"] == "15.test" and production["dagster-postgres"] == "1.0"
