"""The ``kfp`` and ``kfp-docker`` scale engines: the scale pipelines (``scale_pipeline.py``)
on ``kfp.local``, each task a process (``KfpScale``, ``SubprocessRunner``) or a container
(``KfpDockerScale``, ``DockerRunner``).

Only orchestration; shapes, task and metrics are ``orchbench.scale``'s.

- ``fanout-N``: one submission of ``scale-fanout`` with ``items = [0..N-1]``
  (``dsl.ParallelFor``). kfp.local 2.17.3 runs a ParallelFor's iterations on a
  ``ThreadPoolExecutor`` whose ``max_workers`` is capped at 2 (``ParallelExecutor.
  conservative_max`` in ``kfp/local/orchestrator/enhanced_dag_orchestrator.py``, "to avoid
  thread explosion with nested ParallelFor loops"; a ``parallelism=`` on the loop can only
  lower it): the parallelism is that number, read from kfp.local in ``.venvs/kfp``. The
  driver's orchestrator builds that executor whatever the runner (``run_enhanced_dag``), so
  it is the same under the DockerRunner, each iteration a container. Regular tasks of a
  DAG run one at a time.
- ``backfill-D``: D submissions of ``scale-daily``, one per logical date, one after
  another, as a user's ``for date in dates: run(date)`` does (a kfp.local run blocks until it
  ends; there is no scheduler, so no catch-up): parallelism 1.
- ``concurrent-K``: K submissions started at once, each its own driver process. kfp.local
  has no server or shared scheduler, so nothing limits them: parallelism K. (In one
  process it would not work: ``local.init`` is one global configuration and a run blocks.)
  kfp-docker: the K drivers start their containers on one dockerd, which caps no number of
  running containers; the DockerRunner's run arguments (read from kfp.local, in
  ``settings``) set no CPU or concurrency limit.

Each submission is ``.venvs/kfp/bin/python -m runners.kfp.scale_pipeline run`` in its own
process group, caching off, one pipeline root per point: ``SubprocessRunner(use_venv=False)``
(``kfp``) or, with ``--docker`` and the kfp-docker runner's flags, the DockerRunner its
driver builds (``runners.kfp.__main__._docker_runner``). Wall time: just before the first
driver starts to the last driver's exit, so it includes what a kfp.local user pays per run
(interpreter start, importing kfp, loading the spec) and per task (a subprocess, or a
container, that imports kfp).

**kfp-docker** is deployed by the runner's own code (``KfpDockerRunner``): ``start`` starts
the harness's dockerd (or uses ``ORCHBENCH_DOCKER_HOST``) and builds or reuses the step
image (``ensure_image``, which keeps one step image and prunes older ones); the engine
compiles the scale specs with that image as the component's (``ORCHBENCH_KFP_BASE_IMAGE``,
as the runner compiles its pipeline) into its services directory; each driver gets the
runner's ``docker_args``: containers labelled with the engine's run id, the point directory
bind-mounted at the same path (the task's journal is there), the task's variables and
PYTHONUNBUFFERED passed, no network, and a memory limit only when the spec declares one
(``KfpDockerRunner.memory_limit``'s rule; the scale pipelines declare none). After each
sample, and in ``abort``, the engine's containers are removed; ``stop`` is the runner's
(its containers removed, dockerd stopped).

**Profiles** (``plugin.py``: ``default``, ``tuned``, ``gpu-request`` on both runners): both
engines measure ``default``. ``tuned`` and ``gpu-request`` are ``unmeasured`` (reasons
below): the adapters read the profile only to compile the benchmark pipeline's ``train``
with an accelerator request (``adapter.GPU_PROFILE``), which these pipelines do not run and
kfp.local ignores anyway.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

import yaml

from orchbench import scale
from orchbench.containers import daemon as dd
from orchbench.containers import image as img
from orchbench.containers.limits import memory_bytes
from orchbench.point import DEFAULT_PROFILE
from orchbench.runner import EnvironmentMissing
from orchbench.scale import DriverEngine, PointContext, Shape, Timing
from runners.kfp.__main__ import BASE_IMAGE_ENV
from runners.kfp.adapter import GPU_PROFILE, _clean_env
from runners.kfp.docker_adapter import LABEL, KfpDockerRunner

MODULE = "runners.kfp.scale_pipeline"
SPECS = {"fanout": "scale_fanout.yaml", "daily": "scale_daily.yaml"}
PIPELINE_FILE = Path(__file__).resolve().parent / "scale_pipeline.py"
# the variables the synthetic task reads (orchbench.scale.task_env), passed to containers
TASK_VARS = (scale.ENV_JOURNAL, scale.ENV_ENGINE, scale.ENV_POINT)

TUNED = (
    "the kfp adapters have no tuned setting (KfpRunner reads its profile only for "
    "gpu-request) and kfp.local none that changes how it runs tasks: the same driver, "
    "SubprocessRunner and ParallelFor pool as default"
)
GPU = (
    "it only adds an accelerator request on the benchmark pipeline's train "
    "(pipeline.TRAIN_ACCELERATOR), which kfp.local 2.17.3 ignores (task_executor."
    "_warn_local_only_noops; its task handlers get no resource field): the same processes "
    "and limits as default"
)
DOCKER_TUNED = (
    "the kfp adapters have no tuned setting (KfpRunner and KfpDockerRunner read the profile "
    "only for gpu-request) and kfp.local none that changes how it runs tasks: the same "
    "driver, DockerRunner arguments, dockerd and ParallelFor pool as default"
)
DOCKER_GPU = (
    "it only adds an accelerator request on the benchmark pipeline's train "
    "(pipeline.TRAIN_ACCELERATOR), which kfp.local 2.17.3's DockerRunner ignores (its "
    "containers get only the runner's run arguments; the adapter adds the spec's memory "
    "limit, which the request leaves unchanged): the same containers and limits as default"
)


def spec_kind(shape: Shape) -> str:
    """Which scale pipeline a shape submits (``SPECS``)."""
    return "fanout" if shape.kind == "fanout" else "daily"


def declared_memory_limit(spec: Path) -> int | None:
    """The largest memory limit a compiled spec's containers declare, in bytes (None: none),
    as ``KfpDockerRunner.memory_limit`` reads the benchmark pipeline's."""
    doc = yaml.safe_load(spec.read_text())
    executors = (doc.get("deploymentSpec") or {}).get("executors") or {}
    limits = []
    for ex in executors.values():
        res = (ex.get("container") or {}).get("resources") or {}
        limits.append(memory_bytes(res.get("resourceMemoryLimit") or res.get("memoryLimit")))
    return max((b for b in limits if b), default=None)


class KfpScale(DriverEngine):
    """Scale shapes on kfp.local (SubprocessRunner)."""

    name: ClassVar[str] = "kfp"
    system: ClassVar[str] = "KFP (local runner)"
    venv: ClassVar[str] = "kfp"
    version_keys: ClassVar[tuple[str, ...]] = ("kfp", "kfp-pipeline-spec")
    profiles: ClassVar[tuple[str, ...]] = (DEFAULT_PROFILE,)
    unmeasured: ClassVar[dict[str, str]] = {"tuned": TUNED, GPU_PROFILE: GPU}
    executor: ClassVar[str] = "kfp.local SubprocessRunner(use_venv=False): a process per task"

    def __init__(self, repo_root: Path, profile: str = DEFAULT_PROFILE) -> None:
        super().__init__(repo_root, profile)
        self._kfp_local: dict[str, Any] | None = None

    def clean_env(self) -> dict[str, str]:
        return _clean_env()

    def compile_specs(self, out_dir: Path, env: dict[str, str]) -> None:
        """Compile both scale pipelines into ``out_dir`` with the interpreter of .venvs/kfp."""
        cmd = [str(self.python()), "-m", MODULE, "compile", "--out-dir", str(out_dir)]
        done = subprocess.run(
            cmd, cwd=self.repo_root, env=env, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
            raise EnvironmentMissing(f"compiling the KFP scale pipelines failed: {tail}")

    def spec(self, which: str) -> Path:
        """The compiled spec (``build/kfp/``), compiled when missing or stale."""
        path = self.repo_root / "build" / "kfp" / SPECS[which]
        if not path.exists() or path.stat().st_mtime < PIPELINE_FILE.stat().st_mtime:
            self.compile_specs(path.parent, _clean_env())
        return path

    def probe_args(self) -> list[str]:
        """Runner flags of the ``parallelism`` probe (those the drivers get)."""
        return []

    def kfp_local(self) -> dict[str, Any]:
        """What kfp.local in .venvs/kfp says of itself (``scale_pipeline parallelism``)."""
        if self._kfp_local is None:
            self._kfp_local = self.probe(MODULE, "parallelism", *self.probe_args())
        return self._kfp_local

    def fanout_workers(self) -> int:
        """kfp.local's ParallelFor worker count, read from kfp.local itself."""
        return int(self.kfp_local()["max_workers"])

    def parallelism(self, shape: Shape) -> tuple[int, str]:
        if shape.kind == "fanout":
            return self.fanout_workers(), (
                "kfp.local ParallelExecutor().max_workers (ParallelFor iterations on a "
                "thread pool capped at conservative_max)"
            )
        if shape.kind == "backfill":
            return 1, "one kfp.local run per date, each submitted after the previous ended"
        return shape.n, "K independent kfp.local driver processes; nothing limits them"

    def settings(self, shape: Shape) -> dict[str, Any]:
        which = spec_kind(shape)
        return {
            "profile": self.profile,
            "runner": self.executor,
            "caching": "off (set_caching_options(False), local.init(enable_caching=False))",
            "parallel_for": {k: self.kfp_local()[k] for k in ("max_workers", "cap")},
            "pipeline": f"scale-{which}",
            "spec": str(self.spec(which)),
            "submissions": "at once" if shape.kind == "concurrent" else "one after another",
        }

    def driver_args(self, point: PointContext) -> list[str]:
        """Runner flags of one submission (none: SubprocessRunner)."""
        return []

    def driver_env(self, point: PointContext) -> dict[str, str]:
        return {**_clean_env(), **point.task_env(), "PYTHONUNBUFFERED": "1"}

    def _start(
        self, point: PointContext, spec: Path, date: str, items: int | None
    ) -> subprocess.Popen[bytes]:
        root = point.work / "pipeline_root"
        cmd = [str(self.python()), "-m", MODULE, "run", "--spec", str(spec)]
        cmd += ["--pipeline-root", str(root), "--logical-date", date]
        if items is not None:
            cmd += ["--items", str(items)]
        cmd += self.driver_args(point)
        log = point.logs / f"kfp-submission-{len(self._drivers.procs) + 1:03d}-{date}.log"
        return self._drivers.start(cmd, self.driver_env(point), log)

    def clear(self) -> None:
        """Kill what a sample started: nothing a run started may outlive it."""
        self._drivers.kill()

    def run(self, shape: Shape, point: PointContext) -> Timing:
        self.clear()
        spec = self.spec(spec_kind(shape))
        dates = shape.dates()
        start = time.time_ns()
        if shape.kind == "fanout":
            self._drivers.wait(point, [self._start(point, spec, dates[0], shape.n)])
        elif shape.kind == "backfill":
            for date in dates:
                self._drivers.wait(point, [self._start(point, spec, date, None)])
        else:
            self._drivers.wait(point, [self._start(point, spec, date, None) for date in dates])
        end = time.time_ns()
        self.clear()
        return Timing(start, end)


class KfpDockerScale(KfpScale):
    """Scale shapes on kfp.local's DockerRunner, deployed by the kfp-docker runner's code."""

    name: ClassVar[str] = "kfp-docker"
    system: ClassVar[str] = "KFP (local DockerRunner)"
    unmeasured: ClassVar[dict[str, str]] = {"tuned": DOCKER_TUNED, GPU_PROFILE: DOCKER_GPU}
    executor: ClassVar[str] = (
        "kfp.local DockerRunner (the kfp-docker driver's): a container per task from the step "
        "image, no network, the point directory bind-mounted"
    )

    def __init__(self, repo_root: Path, profile: str = DEFAULT_PROFILE) -> None:
        super().__init__(repo_root, profile)
        self._runner = KfpDockerRunner(profile, repo_root)
        self.run_id = f"scale-{uuid.uuid4().hex[:12]}"  # the containers' orchbench.run label
        self._specs: Path | None = None  # the scale specs compiled with the step image
        self._limit: int | None = None  # the memory limit the specs declare (bytes)
        self._daemon: dict[str, Any] | None = None  # what the daemon says (docker info)

    def check_environment(self) -> None:
        super().check_environment()
        if not self._runner.user_docker_host:  # as KfpDockerRunner.check_environment
            try:
                dd.check_can_run()
            except dd.DockerUnavailable as e:
                raise EnvironmentMissing(f"kfp-docker: {e}") from e

    def start(self, work: Path) -> None:
        """The runner's dockerd and step image, then the specs compiled with that image."""
        self._runner.start(work / "kfp-docker")
        assert self._runner.base_image is not None
        specs = work / "specs"
        self.compile_specs(specs, {**_clean_env(), BASE_IMAGE_ENV: self._runner.base_image})
        self._specs = specs
        self._limit = max(
            (b for b in (declared_memory_limit(specs / f) for f in SPECS.values()) if b),
            default=None,
        )
        self._daemon = docker_info(self.docker_env())

    def stop(self) -> None:
        self._runner.stop()  # its containers removed, dockerd stopped
        self._specs = None
        self._daemon = None

    def abort(self) -> None:
        super().abort()
        self._runner.abort()  # the containers labelled with this engine's run id

    def clear(self) -> None:
        super().clear()
        if self._specs is not None:
            dd.remove_containers(self.docker_env(), f"{LABEL}={self.run_id}")

    def docker_env(self) -> dict[str, str]:
        """The environment a docker client needs to reach the runner's daemon."""
        return self._runner.driver_env({})

    def spec(self, which: str) -> Path:
        if self._specs is None:
            raise RuntimeError("kfp-docker scale engine not started")
        return self._specs / SPECS[which]

    def docker_args(self, mounts: list[Path]) -> list[str]:
        """The kfp-docker runner's DockerRunner flags for this engine's containers."""
        return self._runner.docker_args(self.run_id, mounts, list(TASK_VARS), self._limit)

    def probe_args(self) -> list[str]:
        return self.docker_args([])

    def driver_args(self, point: PointContext) -> list[str]:
        return self.docker_args([point.dir])

    def driver_env(self, point: PointContext) -> dict[str, str]:
        return self._runner.driver_env(point.task_env())  # DOCKER_HOST and PYTHONUNBUFFERED

    def parallelism(self, shape: Shape) -> tuple[int, str]:
        if shape.kind == "fanout":
            return self.fanout_workers(), (
                "kfp.local ParallelExecutor().max_workers in the driver (ParallelFor "
                "iterations on a thread pool capped at conservative_max, whatever the "
                "runner), each iteration a container"
            )
        if shape.kind == "backfill":
            return 1, "one kfp.local run per date, each submitted after the previous ended"
        return shape.n, (
            "K independent kfp.local driver processes on one dockerd: neither the "
            "DockerRunner's run arguments nor dockerd limit running containers (settings)"
        )

    def settings(self, shape: Shape) -> dict[str, Any]:
        image = self._runner.base_image
        return {
            **super().settings(shape),
            "docker_run_args": self.kfp_local().get("docker_run_args"),
            "memory_limit": self._limit or "none (the scale spec declares none)",
            "docker_host": self._runner.user_docker_host or "the harness's own dockerd",
            "dockerd": self._daemon,
            "image": image,
            "image_manifest": img.manifest(image) if image else None,
        }

    def versions(self) -> dict[str, str]:
        return {**super().versions(), "docker": self._runner.versions()["docker"]}


DOCKER_INFO = {  # point settings key -> ``docker info`` field
    "server_version": "ServerVersion",
    "ncpu": "NCPU",
    "mem_total": "MemTotal",
    "storage_driver": "Driver",
    "cgroup_driver": "CgroupDriver",
    "cgroup_version": "CgroupVersion",
    "default_runtime": "DefaultRuntime",
}


def docker_info(env: dict[str, str]) -> dict[str, Any]:
    """What the daemon at ``env``'s DOCKER_HOST says of itself (``docker info``)."""
    out = subprocess.run(
        [str(dd.DOCKER_CLI), "info", "--format", "{{json .}}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return pick_info(json.loads(out))


def pick_info(info: dict[str, Any]) -> dict[str, Any]:
    return {key: info.get(field) for key, field in DOCKER_INFO.items()}
