"""The Airflow scale engine per runner profile (``runners/airflow/scale.py``): the stack it
builds, the limits it reads and the parallelism, settings and versions it reports. No
Airflow process is started (one test runs the config probe in the airflow venv)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from orchbench import plugins, scale
from orchbench.scale import Shape
from runners.airflow import modes
from runners.airflow import scale as af
from runners.airflow.adapter import AirflowRunner
from runners.airflow.stack import (
    CELERY_CONCURRENCY,
    CELERY_WORKERS,
    PROFILES,
    AirflowStack,
    CeleryAirflowStack,
)

REPO = Path(__file__).resolve().parents[2]
VENV_PY = REPO / ".venvs" / "airflow" / "bin" / "python"

LOCAL = {
    "core.executor": "LocalExecutor",
    "core.parallelism": 32,
    "core.max_active_tasks_per_dag": 16,
    "core.max_active_runs_per_dag": 16,
    "backfill.max_active_runs": 10,
    "default_pool.slots": 128,
    f"{af.FANOUT_DAG}.max_active_tasks": 16,
    f"{af.FANOUT_DAG}.max_active_runs": 16,
    f"{af.DAILY_DAG}.max_active_tasks": 16,
    f"{af.DAILY_DAG}.max_active_runs": 16,
}
CELERY = {
    **LOCAL,
    "core.executor": "CeleryExecutor",
    "celery.worker_concurrency": 16,
    "celery.worker_autoscale": None,
    "celery.workers": 2,
    "celery.pool_max_concurrency": {"worker1@h": 2, "worker2@h": 2},
    "celery.slots": 4,
}


def engine(profile: str = "default") -> af.AirflowScale:
    return af.AirflowScale(REPO, profile)


@pytest.fixture
def no_services(monkeypatch: pytest.MonkeyPatch) -> None:
    """The celery mode's settings and versions without asking the PostgreSQL and Redis
    binaries."""
    monkeypatch.setattr(modes.postgres, "version", lambda: "15.0")
    monkeypatch.setattr(modes, "redis_version", lambda: "7.0.0")


def test_every_profile_of_the_runner_is_measured() -> None:
    plugin = plugins.all_plugins()["airflow"]
    assert af.AirflowScale.profiles == plugin.profiles == ("default", "tuned", "celery")
    assert af.AirflowScale.unmeasured == {}
    names = scale.engine_names()
    assert {"airflow", "airflow/tuned", "airflow/celery"} <= set(names)


def test_unknown_profile_raises() -> None:
    with pytest.raises(ValueError, match="no profile 'nope'"):
        engine("nope")


@pytest.mark.parametrize(
    ("profile", "cls", "executor"),
    [
        ("default", AirflowStack, "LocalExecutor"),
        ("tuned", AirflowStack, "LocalExecutor"),
        ("celery", CeleryAirflowStack, "CeleryExecutor"),
    ],
)
def test_each_profile_builds_the_runners_stack(
    tmp_path: Path, profile: str, cls: type[AirflowStack], executor: str
) -> None:
    e = engine(profile)
    assert e.label == ("airflow" if profile == "default" else f"airflow/{profile}")
    assert e.mode.executor == executor
    stack = e.new_stack(tmp_path)
    assert type(stack) is cls and stack.profile == profile
    assert {p.name for p in stack.extra_dags} == {"orchbench_scale.py"}
    cfg = stack.settings()
    assert cfg["AIRFLOW__CORE__EXECUTOR"] == executor
    assert PROFILES[profile].items() <= cfg.items()  # tuned's intervals, celery's executor
    workers = [c for c in stack.components if c.startswith("celery-worker-")]
    assert len(workers) == (CELERY_WORKERS if profile == "celery" else 0)


@pytest.mark.parametrize("profile", ["default", "tuned"])
def test_local_executor_parallelism_is_core_parallelism(profile: str) -> None:
    e = engine(profile)
    e.limits = {**LOCAL, "core.parallelism": 8}
    n, source = e.parallelism(Shape("fanout", 50))
    assert n == 8 and "core.parallelism 8 (LocalExecutor worker processes)" in source
    assert "celery" not in source
    e.limits = dict(LOCAL)
    assert e.parallelism(Shape("fanout", 50))[0] == 16  # the DAG's max_active_tasks
    assert e.parallelism(Shape("backfill", 30))[0] == 10  # the backfill's max_active_runs
    assert e.parallelism(Shape("concurrent", 4))[0] == 16


def test_celery_parallelism_is_the_workers_slots_under_core_parallelism() -> None:
    e = engine("celery")
    e.limits = dict(CELERY)
    for kind in ("fanout", "backfill", "concurrent"):
        n, source = e.parallelism(Shape(kind, 16))  # type: ignore[arg-type]
        assert n == 4, kind
        assert "CeleryExecutor slots 4: min of core.parallelism 32" in source
        assert "2 celery workers' 4 slots (2 x 2" in source and "inspect stats" in source
        assert "[celery] worker_concurrency 16" in source
    e.limits = {**CELERY, "core.parallelism": 3}
    assert e.parallelism(Shape("fanout", 16))[0] == 3
    e.limits = {**CELERY, "celery.pool_max_concurrency": {"a": 1, "b": 3}}
    assert "(2 of 1+3" in e.parallelism(Shape("fanout", 16))[1]


def test_parallelism_needs_a_started_engine() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        engine("celery").parallelism(Shape("fanout", 1))


@pytest.mark.parametrize(
    ("profile", "executor", "db"),
    [
        ("default", "LocalExecutor", "sqlite"),
        ("tuned", "LocalExecutor", "sqlite"),
        ("celery", "CeleryExecutor", "postgresql"),
    ],
)
@pytest.mark.usefixtures("no_services")
def test_settings_are_the_profiles(profile: str, executor: str, db: str) -> None:
    e = engine(profile)
    e.limits = dict(CELERY if profile == "celery" else LOCAL)
    s = e.settings(Shape("concurrent", 4))
    assert s["profile"] == profile and s["profile_settings"] == PROFILES[profile]
    assert s["executor"] == executor and s["metadata_db"] == db
    assert s["limits"] == e.limits and s["dag"] == af.DAILY_DAG
    if profile == "celery":
        assert s["celery_workers"] == CELERY_WORKERS
        assert s["worker_concurrency"] == CELERY_CONCURRENCY
        assert s["broker"]["kind"] == "redis"
    else:
        assert "celery_workers" not in s


@pytest.mark.usefixtures("no_services")
def test_versions_add_celery_packages_and_services_for_celery(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorded = {
        "apache-airflow": "3.3.2",
        "apache-airflow-core": "3.3.2",
        "python": "3.11.2",
        "celery": "5.6.3",
        "apache-airflow-providers-celery": "3.26.0",
        "pandas": "2.0",
    }
    monkeypatch.setattr(AirflowRunner, "versions", lambda self: recorded)
    assert engine("default").versions() == {
        "apache-airflow": "3.3.2",
        "apache-airflow-core": "3.3.2",
        "python": "3.11.2",
    }
    celery = engine("celery").versions()
    assert celery["celery"] == "5.6.3" and celery["apache-airflow-providers-celery"] == "3.26.0"
    assert celery["redis-server"] == "7.0.0" and celery["postgresql"] == "15.0"
    assert "pandas" not in celery


class FakeAPI:
    def get(self, path: str) -> dict[str, Any]:
        assert path == "/pools/default_pool"
        return {"slots": 128}


def fake_probes(
    monkeypatch: pytest.MonkeyPatch, core: dict[str, Any], workers: list[dict[str, int]]
) -> list[str]:
    """``subprocess.run`` in the engine answering the config probe with ``core`` and each
    celery probe with the next of ``workers``; the probes run."""
    calls: list[str] = []

    def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        script = cmd[-1]
        calls.append(script)
        if script == af.CONFIG_PROBE:
            out = core
        else:
            assert script == af.CELERY_PROBE % af.INSPECT_TIMEOUT_S and "env" in kw
            out = {
                "celery.worker_concurrency": 16,
                "celery.worker_autoscale": None,
                "workers": workers[min(len(calls) - 2, len(workers) - 1)],
            }
        return subprocess.CompletedProcess(cmd, 0, "a warning line\n" + json.dumps(out), "")

    monkeypatch.setattr(scale.subprocess, "run", run)  # the probes go through scale.last_json
    return calls


def started(tmp_path: Path, profile: str, monkeypatch: pytest.MonkeyPatch) -> af.AirflowScale:
    e = engine(profile)
    e.stack = e.new_stack(tmp_path)
    monkeypatch.setattr(e, "_api", lambda: FakeAPI())
    return e


DAGS = {af.FANOUT_DAG: {"max_active_tasks": 16, "max_active_runs": 16}}
CORE = {k: v for k, v in LOCAL.items() if k.startswith(("core.", "backfill."))}


def test_read_limits_celery_sums_the_workers_pools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    e = started(tmp_path, "celery", monkeypatch)
    core = {**CORE, "core.executor": "CeleryExecutor"}
    calls = fake_probes(monkeypatch, core, [{"worker1@h": 2}, {"worker1@h": 2, "worker2@h": 3}])
    lim = e._read_limits(DAGS)
    assert len(calls) == 3  # one worker missed the first broadcast: asked again
    assert lim["celery.workers"] == 2 and lim["celery.slots"] == 5
    assert lim["celery.worker_concurrency"] == 16 and lim["default_pool.slots"] == 128
    assert lim[f"{af.FANOUT_DAG}.max_active_tasks"] == 16


def test_read_limits_celery_raises_when_a_worker_never_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    e = started(tmp_path, "celery", monkeypatch)
    fake_probes(monkeypatch, {**CORE, "core.executor": "CeleryExecutor"}, [{"worker1@h": 2}])
    with pytest.raises(RuntimeError, match="1 of the stack's 2 celery workers answered"):
        e._read_limits(DAGS)


@pytest.mark.parametrize("profile", ["default", "tuned"])
def test_read_limits_local_asks_no_celery_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, profile: str
) -> None:
    e = started(tmp_path, profile, monkeypatch)
    calls = fake_probes(monkeypatch, CORE, [])
    lim = e._read_limits(DAGS)
    assert calls == [af.CONFIG_PROBE] and "celery.slots" not in lim


def test_read_limits_refuses_a_stack_running_another_executor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    e = started(tmp_path, "celery", monkeypatch)
    fake_probes(monkeypatch, CORE, [])  # LocalExecutor
    with pytest.raises(RuntimeError, match="runs LocalExecutor, not CeleryExecutor"):
        e._read_limits(DAGS)


@pytest.mark.skipif(not VENV_PY.is_file(), reason="make setup")
def test_config_probe_reads_the_celery_stacks_executor(tmp_path: Path) -> None:
    """The probe, in the celery stack's environment, sees what its processes see."""
    stack = engine("celery").new_stack(tmp_path)
    out = subprocess.run(
        [str(VENV_PY), "-c", af.CONFIG_PROBE],
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    got = json.loads(out.strip().splitlines()[-1])
    assert got["core.executor"] == "CeleryExecutor" and got["core.parallelism"] >= 1
