"""The Prefect scale engine's own logic (``runners/prefect/scale.py``) without Prefect: the
profiles it runs as, the parallelism each reads from its configuration (the probe's output
and the API's records hand-made here), what one deployment sample sends to the API (a fake
``Api``), and the script profile's processes. No server, serve process or worker starts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from orchbench import plugins, scale
from orchbench.runner import EnvironmentMissing
from runners.prefect import scale as pscale
from runners.prefect.adapter import PROFILES
from runners.prefect.modes import ENV_API_URL
from runners.prefect.scale import (
    PrefectScale,
    concurrency_limit,
    parameters,
    pool_parallelism,
    script_args,
)
from tests.conftest import REPO

# what scale_flow.limits prints with Prefect 3.9 as installed
LIMITS: dict[str, Any] = {
    "setting": None,
    "max_workers": None,
    "serve_limit_default": None,
    "runner_process_limit": 5,
    "runner_poll_frequency": 10,
    "worker_query_seconds": 10.0,
    "worker_prefetch_seconds": 10.0,
}
POOL_LIMITS = {
    **LIMITS,
    "work_pool_concurrency_limit": None,
    "work_queue_concurrency_limit": None,
    "deployment_concurrency_limit": None,
    "workers": {"count": 2, "limit": 1},
}


def engine(profile: str, limits: dict[str, Any]) -> PrefectScale:
    e = PrefectScale(REPO, profile)
    e._limits = dict(limits)  # what limits() would have read
    return e


def test_every_runner_profile_is_measured() -> None:
    assert PrefectScale.profiles == plugins.all_plugins()["prefect"].profiles
    assert PrefectScale.unmeasured == {}
    assert scale.engine_class("prefect") is PrefectScale
    names = [n for n in scale.engine_names() if n.startswith("prefect")]
    assert names == ["prefect", "prefect/tuned", "prefect/pool", "prefect/script"]


def test_an_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="no profile 'docker'"):
        PrefectScale(REPO, "docker")


def test_a_remote_server_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine measures services it starts: never ``--prefect-api-url``'s."""
    monkeypatch.setenv(ENV_API_URL, "http://elsewhere:4200/api")
    with pytest.raises(EnvironmentMissing, match=ENV_API_URL):
        PrefectScale(REPO, "tuned").check_environment()


@pytest.mark.parametrize("profile", PrefectScale.profiles)
def test_fanout_is_the_thread_pool_as_the_flow_sees_it(profile: str) -> None:
    limits = POOL_LIMITS if profile == "pool" else LIMITS
    n, source = engine(profile, limits).parallelism(scale.Shape("fanout", 20))
    assert n == 20 and "no thread limit" in source
    n, source = engine(profile, {**limits, "max_workers": 3, "setting": 3}).parallelism(
        scale.Shape("fanout", 20)
    )
    assert n == 3 and source == "PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS"


@pytest.mark.parametrize("profile", PrefectScale.profiles)
def test_a_backfill_is_one_run_after_another(profile: str) -> None:
    limits = POOL_LIMITS if profile == "pool" else LIMITS
    n, source = engine(profile, limits).parallelism(scale.Shape("backfill", 5))
    assert n == 1
    assert ("script" in source) == (profile == "script")


def test_concurrent_runs_per_profile() -> None:
    shape = scale.Shape("concurrent", 8)
    for profile in ("default", "tuned"):
        n, source = engine(profile, LIMITS).parallelism(shape)
        assert n == 8 and "flow.serve()" in source and "no deployment" in source
    n, source = engine("script", LIMITS).parallelism(shape)
    assert n == 8 and "script" in source
    n, source = engine("pool", POOL_LIMITS).parallelism(shape)
    assert n == 2 and "2 process workers x --limit 1" in source
    assert "no concurrency_limit on the work pool, its queues, the deployment" in source


def test_a_served_deployment_limit_caps_concurrent_runs() -> None:
    n, source = engine("default", {**LIMITS, "deployment_concurrency_limit": 3}).parallelism(
        scale.Shape("concurrent", 8)
    )
    assert n == 3 and "deployment limit 3" in source


def test_the_pool_s_tightest_limit_wins() -> None:
    n, source = pool_parallelism(3, 2, {"the work pool": 4, "its queues": None})
    assert n == 4 and source.startswith("the work pool concurrency_limit 4")
    assert "no concurrency_limit on its queues" in source
    assert pool_parallelism(3, 2, {"the work pool": 10})[0] == 6


def test_concurrency_limits_as_the_api_shows_them() -> None:
    assert concurrency_limit(None) is None
    assert concurrency_limit({"concurrency_limit": None}) is None
    assert concurrency_limit({"concurrency_limit": 4}) == 4
    # a Prefect 3 deployment: the legacy field always None, the limit in its own object
    assert concurrency_limit({"concurrency_limit": None, "global_concurrency_limit": None}) is None
    dep = {"concurrency_limit": None, "global_concurrency_limit": {"limit": 2, "name": "x"}}
    assert concurrency_limit(dep) == 2


@pytest.mark.parametrize("profile", PrefectScale.profiles)
def test_settings_are_the_profile_s(profile: str) -> None:
    limits = POOL_LIMITS if profile == "pool" else LIMITS
    s = engine(profile, limits).settings(scale.Shape("concurrent", 2))
    assert s["profile"] == profile
    assert s["client_env"] == PROFILES[profile]["client"]
    for k, v in PROFILES[profile]["server"].items():
        assert s["server_env"][k] == v
    assert s["flow"] == "scale-daily"
    assert ("serve" in s) == (profile in ("default", "tuned"))
    assert ("workers" in s) == (profile == "pool")
    assert ("harness_poll_s" in s) == (profile != "script")
    if profile == "pool":
        assert s["workers"]["count"] == 2 and s["workers"]["query_seconds"] == 10.0
    if profile == "tuned":
        assert s["server_env"]["PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED"] == "false"
        assert s["client_env"]["PREFECT_LOGGING_TO_API_ENABLED"] == "false"
    assert engine(profile, limits).settings(scale.Shape("fanout", 2))["flow"] == "scale-fanout"


def test_the_runs_each_shape_submits() -> None:
    assert parameters(scale.Shape("fanout", 7)) == [{"items": 7, "logical_date": "2026-01-01"}]
    assert parameters(scale.Shape("backfill", 2)) == [
        {"logical_date": "2026-01-01"},
        {"logical_date": "2026-01-02"},
    ]
    assert script_args(scale.Shape("backfill", 2)) == [
        ["daily", "--logical-date", "2026-01-01", "--logical-date", "2026-01-02"]
    ]
    assert script_args(scale.Shape("concurrent", 2)) == [
        ["daily", "--logical-date", "2026-01-01"],
        ["daily", "--logical-date", "2026-01-02"],
    ]
    assert script_args(scale.Shape("fanout", 3)) == [
        ["fanout", "--items", "3", "--logical-date", "2026-01-01"]
    ]


def test_the_serve_process_is_the_runner_s_for_a_scale_flow(tmp_path: Path) -> None:
    serve = pscale.ScaleServe(Path("/py"), "orchbench-scale-x", "fanout", {}, tmp_path / "l", REPO)
    assert serve.command() == [
        "/py", "-m", "runners.prefect.scale_flow", "--serve", "orchbench-scale-x",
        "--flow", "fanout",
    ]  # fmt: skip
    assert serve.flow_name == "scale-fanout"
    assert serve.env["PREFECT_RUNNER_POLL_FREQUENCY"] == str(pscale.SERVE_POLL_S)


# --- a deployment sample against a fake API -------------------------------------------


class FakeApi:
    """Prefect's REST API as a deployment sample uses it: created runs complete at once,
    ``end_time`` one second after they were created."""

    url = "http://fake/api"

    def __init__(self, final: str = "COMPLETED") -> None:
        self.final = final
        self.created: list[dict[str, Any]] = []
        self.runs: dict[str, dict[str, Any]] = {}
        self.filtered: list[int] = []  # ids asked for per filter request

    def post(self, path: str, body: Any) -> Any:
        if path.endswith("/create_flow_run"):
            fid = f"run-{len(self.created)}"
            self.created.append({"path": path, **body})
            end = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 1)) + ".5Z"
            self.runs[fid] = {"id": fid, "state": {"type": self.final}, "end_time": end}
            return {"id": fid}
        if path == "flow_runs/filter":
            ids = body["flow_runs"]["id"]["any_"]
            assert len(ids) <= body["limit"] <= 200  # the API's maximum page
            self.filtered.append(len(ids))
            return [self.runs[i] for i in ids]
        raise AssertionError(path)

    def get(self, path: str) -> Any:
        raise AssertionError(path)


class FakeRunner:
    def __init__(self, api: FakeApi) -> None:
        self.api = api

    def client_env(self) -> dict[str, str]:
        return {"PREFECT_API_URL": self.api.url}


def context(tmp_path: Path, shape: scale.Shape) -> scale.PointContext:
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    return scale.PointContext(
        engine="prefect/pool",
        shape=shape,
        dir=tmp_path,
        journal=tmp_path / "journal-1.jsonl",
        logs=logs,
        work=tmp_path,
        deadline=time.monotonic() + 30,
    )


def pool_engine(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> PrefectScale:
    e = engine("pool", POOL_LIMITS)
    e._runner = FakeRunner(api)  # type: ignore[assignment]
    e._deployments = {"fanout": "dep-fanout", "daily": "dep-daily"}
    monkeypatch.setattr(PrefectScale, "_ensure_workers", lambda self: None)
    monkeypatch.setattr(pscale, "POLL_S", 0.01)
    return e


def test_a_pool_sample_creates_runs_with_the_sample_s_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = FakeApi()
    e = pool_engine(api, monkeypatch)
    shape = scale.Shape("concurrent", 3)
    ctx = context(tmp_path, shape)
    timing = e.run(shape, ctx)
    assert [c["path"] for c in api.created] == ["deployments/dep-daily/create_flow_run"] * 3
    assert [c["parameters"]["logical_date"] for c in api.created] == shape.dates()
    env = api.created[0]["job_variables"]["env"]
    assert env == {**PROFILES["pool"]["client"], **ctx.task_env()}
    assert all(c["state"] == {"type": "SCHEDULED"} for c in api.created)
    # the end is Prefect's end_time (a second after creation here), never after it was seen
    assert timing.start_ns < timing.end_ns <= time.time_ns()
    assert e._runs == []  # all final: nothing left to cancel


def test_many_runs_are_read_in_pages_the_api_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = FakeApi()
    shape = scale.Shape("concurrent", 450)
    pool_engine(api, monkeypatch).run(shape, context(tmp_path, shape))
    assert api.filtered == [200, 200, 50]


def test_a_pool_backfill_creates_each_run_after_the_previous_is_final(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = FakeApi()
    e = pool_engine(api, monkeypatch)
    awaited: list[list[str]] = []
    real = PrefectScale._await

    def spy(self: PrefectScale, shape: Any, point: Any, ids: list[str]) -> Any:
        awaited.append(list(ids))
        return real(self, shape, point, ids)

    monkeypatch.setattr(PrefectScale, "_await", spy)
    shape = scale.Shape("backfill", 3)
    e.run(shape, context(tmp_path, shape))
    assert awaited == [["run-0"], ["run-1"], ["run-2"]]
    assert [c["parameters"] for c in api.created] == parameters(shape)


def test_a_run_that_did_not_complete_fails_the_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    e = pool_engine(FakeApi(final="CRASHED"), monkeypatch)
    shape = scale.Shape("fanout", 2)
    with pytest.raises(RuntimeError, match="ended CRASHED"):
        e.run(shape, context(tmp_path, shape))
    assert e._runs == ["run-0"]  # left for abort() to cancel


def test_the_engine_refuses_to_run_before_start(tmp_path: Path) -> None:
    shape = scale.Shape("fanout", 1)
    with pytest.raises(RuntimeError, match="not started"):
        PrefectScale(REPO, "script").run(shape, context(tmp_path, shape))
