"""The kfp scale engines' own logic (``runners/kfp/scale.py``): which runner profiles they
measure and why the others would repeat them (checked against the adapters' and
kfp.local's code), the parallelism and settings each reads, the submissions each shape
starts and the kfp-docker engine's DockerRunner flags, containers and teardown. No
orchestrator, no daemon: kfp.local's probe output is hand-made or read with the kfp
venv's interpreter (no pipeline run)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from orchbench import plugins, scale
from runners.kfp import scale as ks
from runners.kfp.adapter import GPU_PROFILE, KfpRunner
from runners.kfp.docker_adapter import LABEL, KfpDockerRunner
from tests.conftest import REPO

KFP_PY = REPO / ".venvs" / "kfp" / "bin" / "python"
KFP_LOCAL = REPO / ".venvs" / "kfp" / "lib" / "python3.11" / "site-packages" / "kfp" / "local"
PROBE = {"max_workers": 2, "cap": 2}
DOCKER_HOST = "unix:///tmp/obd-test/docker.sock"


def point(tmp_path: Path, shape: scale.Shape) -> scale.PointContext:
    ctx = scale.PointContext(
        engine="kfp-docker",
        shape=shape,
        dir=tmp_path,
        journal=tmp_path / "journal-1.jsonl",
        logs=tmp_path / "logs-1",
        work=tmp_path / "work",
        deadline=time.monotonic() + 60,
    )
    ctx.logs.mkdir(exist_ok=True)
    ctx.work.mkdir(exist_ok=True)
    return ctx


def started_docker_engine(tmp_path: Path) -> ks.KfpDockerScale:
    """A kfp-docker engine as ``start`` leaves it, without a daemon: the runner's client
    environment set, the specs 'compiled', the probe's output known."""
    engine = ks.KfpDockerScale(REPO)
    engine._runner._docker_env = {"DOCKER_HOST": DOCKER_HOST}
    engine._runner.base_image = "orchbench-step:0123456789ab"
    engine._specs = tmp_path / "specs"
    engine._kfp_local = {
        **PROBE,
        "docker_run_args": {"network_mode": "none", "labels": {LABEL: engine.run_id}},
    }
    engine._daemon = ks.pick_info({"ServerVersion": "28.2.2", "NCPU": 2})
    return engine


# --- profiles ---------------------------------------------------------------------------


def test_the_plugins_declare_both_engines() -> None:
    assert scale.engine_class("kfp") is ks.KfpScale
    assert scale.engine_class("kfp-docker") is ks.KfpDockerScale
    names = scale.engine_names()
    assert "kfp" in names and "kfp-docker" in names
    assert not [n for n in names if n.startswith("kfp/") or n.startswith("kfp-docker/")]


@pytest.mark.parametrize("cls", [ks.KfpScale, ks.KfpDockerScale])
def test_every_profile_is_measured_or_has_a_reason(cls: type[ks.KfpScale]) -> None:
    plugin = plugins.all_plugins()[cls.name]
    assert cls.profiles == ("default",)
    assert set(cls.unmeasured) == {"tuned", GPU_PROFILE}
    assert set(cls.profiles) | set(cls.unmeasured) == set(plugin.profiles)
    assert all(reason.strip() for reason in cls.unmeasured.values())


@pytest.mark.parametrize("label", ["kfp/tuned", "kfp/gpu-request", "kfp-docker/tuned", "kfp/x"])
def test_an_unmeasured_or_unknown_profile_is_refused(label: str) -> None:
    name, profile = scale.split_label(label)
    with pytest.raises(ValueError, match="has no profile"):
        scale.engine_class(name)(REPO, profile)


def test_the_labels_are_the_runners_names() -> None:
    assert ks.KfpScale(REPO).label == "kfp" and ks.KfpScale(REPO).series_dir == "kfp"
    docker = ks.KfpDockerScale(REPO)
    assert docker.label == "kfp-docker" and docker._runner.profile == "default"


@pytest.mark.parametrize("cls", [KfpRunner, KfpDockerRunner])
def test_tuned_configures_nothing_default_does_not(cls: type[KfpRunner]) -> None:
    """The ``tuned`` reason: the adapters read no tuned setting (same spec, settings, card)."""
    default, tuned = cls("default", REPO), cls("tuned", REPO)
    assert tuned.spec_path() == default.spec_path()
    assert {**tuned.settings(), "profile": "default"} == default.settings()
    assert tuned.card() == default.card()
    assert tuned.task_executor() == default.task_executor()


@pytest.mark.parametrize("cls", [KfpRunner, KfpDockerRunner])
def test_gpu_request_changes_only_the_benchmark_pipelines_spec(cls: type[KfpRunner]) -> None:
    """The ``gpu-request`` reason: only the benchmark pipeline's spec differs (compiled with
    ``--accelerator``); the executor is the same and the scale pipelines name no train."""
    default, gpu = cls("default", REPO), cls(GPU_PROFILE, REPO)
    assert gpu.spec_path() != default.spec_path()
    assert gpu.task_executor() == default.task_executor()
    assert "not enforced" in gpu.card()["executor"]
    assert "accelerator" not in ks.PIPELINE_FILE.read_text()


@pytest.mark.skipif(not KFP_LOCAL.is_dir(), reason="make setup (.venvs/kfp)")
def test_kfp_local_ignores_an_accelerator_request() -> None:
    """kfp.local warns that an accelerator has no effect, and neither task handler is
    given any resource field (what the gpu-request reasons say)."""
    executor = (KFP_LOCAL / "orchestrator" / "task_executor.py").read_text()
    assert "no_op_settings.append('accelerator')" in executor
    assert "no effect in the current local runner and will be ignored" in executor
    dispatcher = (KFP_LOCAL / "task_dispatcher.py").read_text()
    call = dispatcher.split("task_handler = TaskHandler(", 1)[1].split(")", 1)[0]
    assert "resource" not in call and "accelerator" not in call
    for handler in ("docker_task_handler.py", "subprocess_task_handler.py"):
        text = (KFP_LOCAL / handler).read_text()
        assert "accelerator" not in text and "resources" not in text


@pytest.mark.skipif(not KFP_LOCAL.is_dir(), reason="make setup (.venvs/kfp)")
def test_the_parallel_for_pool_is_built_whatever_the_runner() -> None:
    """The fan-out parallelism of both engines: run_enhanced_dag builds a ParallelExecutor
    with no argument, under any runner."""
    text = (KFP_LOCAL / "orchestrator" / "enhanced_dag_orchestrator.py").read_text()
    assert "parallel_executor = ParallelExecutor()" in text
    assert "self.conservative_max = 2" in text


# --- parallelism and settings -----------------------------------------------------------


@pytest.mark.parametrize("cls", [ks.KfpScale, ks.KfpDockerScale])
def test_parallelism_per_shape(cls: type[ks.KfpScale]) -> None:
    engine = cls(REPO)
    engine._kfp_local = {**PROBE, "max_workers": 3}  # what the probe would have read
    n, source = engine.parallelism(scale.Shape("fanout", 20))
    assert n == 3 and "ParallelExecutor().max_workers" in source
    assert engine.parallelism(scale.Shape("backfill", 5))[0] == 1
    n, source = engine.parallelism(scale.Shape("concurrent", 4))
    assert n == 4 and "driver processes" in source
    if cls is ks.KfpDockerScale:
        assert "dockerd" in source


def test_the_probe_is_asked_with_the_drivers_runner_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[str, ...]] = []

    def probe(self: Any, module: str, *args: str) -> dict[str, Any]:
        asked.append((module, *args))
        return PROBE

    monkeypatch.setattr(ks.DriverEngine, "probe", probe)
    assert ks.KfpScale(REPO).fanout_workers() == 2
    engine = started_docker_engine(tmp_path)
    engine._kfp_local = None
    engine.fanout_workers()
    engine.fanout_workers()  # cached
    assert asked[0] == (ks.MODULE, "parallelism")
    assert len(asked) == 2 and asked[1][:3] == (ks.MODULE, "parallelism", "--docker")
    assert f"{LABEL}={engine.run_id}" in asked[1] and "--mount" not in asked[1]


def test_kfp_settings_record_the_profile_and_the_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = ks.KfpScale(REPO)
    engine._kfp_local = dict(PROBE)
    monkeypatch.setattr(ks.KfpScale, "spec", lambda self, which: Path(f"/specs/{which}.yaml"))
    s = engine.settings(scale.Shape("fanout", 4))
    assert s["profile"] == "default" and "SubprocessRunner" in s["runner"]
    assert s["parallel_for"] == PROBE and s["pipeline"] == "scale-fanout"
    assert engine.settings(scale.Shape("concurrent", 2))["submissions"] == "at once"


def test_docker_settings_are_read_from_what_runs(tmp_path: Path) -> None:
    engine = started_docker_engine(tmp_path)
    s = engine.settings(scale.Shape("concurrent", 2))
    assert s["profile"] == "default" and "DockerRunner" in s["runner"]
    assert s["docker_run_args"]["network_mode"] == "none"
    assert s["dockerd"]["server_version"] == "28.2.2" and s["dockerd"]["ncpu"] == 2
    assert s["image"] == "orchbench-step:0123456789ab"
    assert s["spec"] == str(tmp_path / "specs" / "scale_daily.yaml")
    assert s["memory_limit"].startswith("none")
    assert s["docker_host"] == "the harness's own dockerd"


def test_declared_memory_limit(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    executors: dict[str, Any] = {
        "exec-a": {"container": {"image": "x"}},
        "exec-b": {"container": {"resources": {"resourceMemoryLimit": "512M"}}},
        "exec-c": {"container": {"resources": {"memoryLimit": 0.25e9}}},
    }
    spec.write_text(json.dumps({"deploymentSpec": {"executors": executors}}))
    assert ks.declared_memory_limit(spec) == 512 * 10**6
    spec.write_text(json.dumps({"deploymentSpec": {"executors": {"e": executors["exec-a"]}}}))
    assert ks.declared_memory_limit(spec) is None


# --- submissions ------------------------------------------------------------------------


class FakeDrivers:
    """Stands for ``orchbench.scale.Drivers``: records each submission, runs nothing."""

    def __init__(self) -> None:
        self.procs: list[Any] = []
        self.started: list[tuple[list[str], dict[str, str]]] = []
        self.waits: list[int] = []
        self.kills = 0

    def start(self, cmd: list[str], env: dict[str, str], log: Path) -> Any:
        self.started.append((cmd, env))
        self.procs.append(cmd)
        return cmd

    def wait(self, point: scale.PointContext, procs: list[Any]) -> None:
        self.waits.append(len(procs))

    def kill(self) -> None:
        self.kills += 1
        self.procs = []


def run_shape(engine: ks.KfpScale, shape: scale.Shape, tmp_path: Path) -> FakeDrivers:
    fake = FakeDrivers()
    engine._drivers = fake  # type: ignore[assignment]
    engine.run(shape, point(tmp_path, shape))
    return fake


@pytest.mark.parametrize(
    ("shape", "waits"),
    [(scale.Shape("fanout", 6), [1]), (scale.Shape("backfill", 3), [1, 1, 1]),
     (scale.Shape("concurrent", 3), [3])],
)  # fmt: skip
def test_each_shapes_submissions(
    shape: scale.Shape, waits: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHBENCH_KFP_HOST", "http://elsewhere")
    monkeypatch.setattr(ks.KfpScale, "spec", lambda self, which: Path(f"/specs/{which}.yaml"))
    fake = run_shape(ks.KfpScale(REPO), shape, tmp_path)
    assert fake.waits == waits and fake.kills == 2  # before and after the sample
    dates = [cmd[cmd.index("--logical-date") + 1] for cmd, _ in fake.started]
    assert dates == shape.dates()
    for cmd, env in fake.started:
        assert cmd[1:4] == ["-m", ks.MODULE, "run"] and "--docker" not in cmd
        assert ("--items" in cmd) == (shape.kind == "fanout")
        assert env[scale.ENV_POINT] == shape.name and "ORCHBENCH_KFP_HOST" not in env
    if shape.kind == "fanout":
        assert fake.started[0][0][-2:] == ["--items", "6"]


def test_docker_submissions_carry_the_runners_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    removed: list[str] = []
    monkeypatch.setattr(ks.dd, "remove_containers", lambda env, label: removed.append(label))
    monkeypatch.setenv("ORCHBENCH_DOCKER_HOST", "")
    engine = started_docker_engine(tmp_path)
    shape = scale.Shape("concurrent", 2)
    fake = run_shape(engine, shape, tmp_path)
    flags = ["--docker", "--label", f"{LABEL}={engine.run_id}", "--mount", str(tmp_path)]
    for var in (*ks.TASK_VARS, "PYTHONUNBUFFERED"):
        flags += ["--env", var]
    for cmd, env in fake.started:
        assert cmd[cmd.index("--docker") :] == flags  # no --mem-limit: the spec declares none
        assert cmd[cmd.index("--spec") + 1] == str(tmp_path / "specs" / "scale_daily.yaml")
        assert env["DOCKER_HOST"] == DOCKER_HOST and env["PYTHONUNBUFFERED"] == "1"
        assert all(env[v] for v in ks.TASK_VARS)
    # the sample's containers are removed before and after it
    assert removed == [f"{LABEL}={engine.run_id}"] * 2


def test_docker_engine_needs_start_and_stops_safely(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = ks.KfpDockerScale(REPO)
    with pytest.raises(RuntimeError, match="not started"):
        engine.spec("daily")
    engine.abort()  # nothing started: nothing to kill or remove
    engine.stop()
    engine.stop()
    engine = started_docker_engine(tmp_path)
    engine.docker_args([])  # registers the run id with the runner (its abort removes them)
    removed: list[str] = []
    monkeypatch.setattr(
        "runners.kfp.docker_adapter.dd.remove_containers",
        lambda env, label: removed.append(label),
    )
    engine.abort()
    assert removed == [f"{LABEL}={engine.run_id}"]
    engine.stop()  # the runner's stop: no daemon of ours here, client environment dropped
    assert engine._runner._docker_env is None and engine._specs is None


def test_pick_info() -> None:
    info = ks.pick_info({"ServerVersion": "28", "NCPU": 2, "Driver": "overlay2", "X": 1})
    assert info["server_version"] == "28" and info["storage_driver"] == "overlay2"
    assert set(info) == set(ks.DOCKER_INFO)


@pytest.mark.skipif(not KFP_PY.exists(), reason="make setup (.venvs/kfp)")
def test_the_scale_driver_builds_the_runners_docker_runner() -> None:
    """``scale_pipeline parallelism`` takes the kfp-docker runner's ``docker_args`` and
    reports the DockerRunner its driver would build (imports kfp; runs no pipeline)."""
    runner = KfpDockerRunner("default", REPO)
    args = runner.docker_args("scale-test", [Path("/tmp")], list(ks.TASK_VARS), 10**9)
    out = subprocess.run(
        [str(KFP_PY), "-m", ks.MODULE, "parallelism", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    got = json.loads(out.strip().splitlines()[-1])
    assert got["max_workers"] == got["cap"] == 2
    run_args = got["docker_run_args"]
    assert run_args["network_mode"] == "none" and run_args["labels"] == {LABEL: "scale-test"}
    assert run_args["environment"] == sorted([*ks.TASK_VARS, "PYTHONUNBUFFERED"])
    assert run_args["mem_limit"] == run_args["memswap_limit"] == 10**9
    assert [m["Source"] for m in run_args["mounts"]] == ["/tmp"]
