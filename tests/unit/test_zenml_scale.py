"""The ZenML scale engine's own logic (``runners/zenml/scale.py``): the dynamic runner's
pool size read from what the installed package says, the processes each shape starts,
the parallelism, settings and environment of each profile (``default``: SQLite store;
``server``: a local ZenML server's REST clients). No ZenML here: the probe's output is
hand-made, in the shape ``scale_pipeline workers`` prints; no server starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchbench import plugins, scale
from runners.zenml.scale import MODULE, ZenmlScale, server_pool, submissions, worker_count
from runners.zenml.server import LocalServer
from tests.conftest import REPO

INIT = """    def __init__(self, snapshot, run, orchestrator=None) -> None:
        worker_count = handle_int_env_var(
            ENV_ZENML_DYNAMIC_PIPELINE_WORKER_COUNT, default=10
        )
        self._executor = ThreadPoolExecutor(max_workers=worker_count)
"""
PROBE = {
    "init_source": INIT,
    "module": "zenml.execution.pipeline.dynamic.runner",
    "env_var": "ZENML_DYNAMIC_PIPELINE_WORKER_COUNT",
    "env": None,
    "server_thread_pool_size": 40,
}


def test_worker_count_is_the_default_in_the_runner_source() -> None:
    n, source = worker_count(PROBE)
    assert n == 10
    assert "DynamicPipelineRunner" in source and "ZENML_DYNAMIC_PIPELINE_WORKER_COUNT" in source
    assert "default 10" in source


def test_worker_count_follows_the_variable_when_set() -> None:
    n, source = worker_count({**PROBE, "env": "3"})
    assert n == 3 and "ZENML_DYNAMIC_PIPELINE_WORKER_COUNT=3" in source


def test_worker_count_refuses_a_source_that_no_longer_says() -> None:
    with pytest.raises(ValueError, match="no default worker count"):
        worker_count({**PROBE, "init_source": "self._executor = ThreadPoolExecutor()"})


def test_fanout_is_one_run_of_n_items_on_the_first_date() -> None:
    assert submissions(scale.Shape("fanout", 20)) == [
        ["fanout", "--items", "20", "--logical-date", "2026-01-01"]
    ]


def test_backfill_is_one_catch_up_script_of_every_date_in_order() -> None:
    shape = scale.Shape("backfill", 3)
    assert submissions(shape) == [["daily", *shape.dates()]]
    assert shape.dates() == ["2026-01-01", "2026-01-02", "2026-01-03"]


def test_concurrent_is_k_processes_of_one_date_each() -> None:
    shape = scale.Shape("concurrent", 4)
    assert submissions(shape) == [["daily", d] for d in shape.dates()]


def test_parallelism_per_shape(tmp_path: Path) -> None:
    engine = ZenmlScale(REPO)
    engine._workers = worker_count(PROBE)  # what the probe would have read
    assert engine.parallelism(scale.Shape("fanout", 20))[0] == 10
    assert engine.parallelism(scale.Shape("backfill", 5))[0] == 1
    assert engine.parallelism(scale.Shape("concurrent", 4))[0] == 4


def test_processes_get_the_engines_store_and_nothing_of_the_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZENML_STORE_URL", "http://elsewhere")
    monkeypatch.setenv("ORCHBENCH_SCALE_JOURNAL", "/stale")
    engine = ZenmlScale(REPO)
    with pytest.raises(RuntimeError, match="start"):
        engine.clean_env()  # no store deployed: no ZenML process may start
    engine._root = tmp_path / "zenml"
    env = engine.clean_env()
    assert env["ZENML_CONFIG_PATH"] == str(tmp_path / "zenml" / "config")
    assert env["HOME"].startswith(str(tmp_path)) and env["ZENML_ANALYTICS_OPT_IN"] == "false"
    assert "ZENML_STORE_URL" not in env and "ORCHBENCH_SCALE_JOURNAL" not in env


def test_the_plugin_declares_the_engine() -> None:
    assert scale.engine_class("zenml") is ZenmlScale
    assert MODULE == "runners.zenml.scale_pipeline"


def test_every_runner_profile_is_measured() -> None:
    assert ZenmlScale.profiles == plugins.all_plugins()["zenml"].profiles
    assert ZenmlScale.unmeasured == {}
    assert [n for n in scale.engine_names() if n.startswith("zenml")] == ["zenml", "zenml/server"]
    with pytest.raises(ValueError, match="no profile 'docker'"):
        ZenmlScale(REPO, "docker")


def server_engine(tmp_path: Path) -> ZenmlScale:
    """A ``server`` engine as ``start`` leaves it, with a server that is not running."""
    engine = ZenmlScale(REPO, "server")
    engine._root = tmp_path / "zenml"
    server = LocalServer(Path("/zenml"), tmp_path / "zenml" / "server", tmp_path / "s.log", {})
    server.port = 8237
    server.started_s = 4.2
    engine._server = server
    engine._probe = dict(PROBE)
    engine._workers = worker_count(PROBE)
    return engine


def test_server_processes_are_rest_clients_of_the_engine_s_server(tmp_path: Path) -> None:
    engine = ZenmlScale(REPO, "server")
    engine._root = tmp_path / "zenml"
    with pytest.raises(RuntimeError, match="server is not running"):
        engine.clean_env()  # a server profile's process never falls back to SQLite
    env = server_engine(tmp_path).clean_env()
    assert env["ZENML_STORE_URL"] == "http://127.0.0.1:8237"
    # the clients' config dir is their own, not the server's
    assert env["ZENML_CONFIG_PATH"] == str(tmp_path / "zenml" / "config")


def test_each_profile_s_parallelism_and_settings(tmp_path: Path) -> None:
    default = ZenmlScale(REPO)
    default._root = tmp_path / "d"
    default._probe, default._workers = dict(PROBE), worker_count(PROBE)
    server = server_engine(tmp_path)
    for engine in (default, server):
        assert engine.parallelism(scale.Shape("fanout", 20))[0] == 10
        assert engine.parallelism(scale.Shape("backfill", 5))[0] == 1
        assert engine.parallelism(scale.Shape("concurrent", 4))[0] == 4
    assert "SQLite" in default.parallelism(scale.Shape("concurrent", 4))[1]
    assert "local ZenML server" in server.parallelism(scale.Shape("concurrent", 4))[1]
    d = default.settings(scale.Shape("concurrent", 2))
    s = server.settings(scale.Shape("concurrent", 2))
    assert d["profile"] == "default" and "server" not in d and "SQLite" in d["store"]
    assert s["profile"] == "server" and "ZENML_STORE_URL" in s["store"]
    assert s["server"] == {
        "started_s": 4.2,
        "thread_pool_size": 40,
        "thread_pool_source": "ServerConfiguration.thread_pool_size default "
        "(ZENML_SERVER_THREAD_POOL_SIZE unset)",
    }


def test_the_server_pool_follows_the_server_s_variable() -> None:
    assert server_pool(PROBE, {"ZENML_SERVER_THREAD_POOL_SIZE": "8"})[0] == 8
    assert server_pool(PROBE, {})[0] == 40
