"""The ``prefect`` scale engine: the scale flows (``scale_flow.py``) on each profile's own
Prefect deployment. Only orchestration; shapes, task and metrics are ``orchbench.scale``'s.

``start`` brings up the profile's services with the runner's own code
(``PrefectRunner(profile).start``: the runner's warm imports, then its mode's ``start``,
``modes.py``), outside every measured interval, then imports the scale flow module once
with bytecode writing on and makes one un-timed ``backfill-1`` and ``fanout-1`` sample the
profile's way (their records go to a scratch journal), so the server has seen both flows
and their deployments before the first point. How each profile runs the shapes:

- ``default``, ``tuned``: ``prefect server start`` (SQLite in ``PREFECT_HOME``) with the
  profile's server settings (``adapter.PROFILES``: tuned turns the UI and the scheduling
  services off and the flow process's API logging and resource metrics off), and a
  ``flow.serve()`` process (``serve.ServeProcess``: the runner's, polling every
  ``serve.POLL_S`` s) serving the shape's flow as a deployment. Prefect's serve runner
  gives a flow run no environment of its own, so, as the runner starts one serve process
  per scenario run, the engine starts one per sample (its own deployment name, the
  sample's journal in its environment) and waits until it has polled the server, all
  before the sample's interval. Each run is a flow run of the deployment created over the
  API (``POST /deployments/{id}/create_flow_run``, what ``run_deployment`` does), which the
  serve process starts in a subprocess.
- ``pool``: PostgreSQL, the server on it, the process work pool and its ``pool.WORKERS``
  workers (``prefect worker start --limit pool.WORKER_LIMIT``, polling as installed), the
  runner's ``modes.PoolStack``; both scale flows deployed on the pool
  (``pool.register_deployment`` of ``scale_flow --deploy``). Each run is a flow run of the
  deployment created over the API with the sample's variables as the job's ``env`` (as
  the runner passes a scenario run's), executed by a worker in a process of its own.
- ``script``: the server as on ``default``; each submission is ``.venvs/prefect/bin/python
  -m runners.prefect.scale_flow ...``, a bare script run in its own process group
  (``orchbench.scale.Drivers``), as the runner's ``modes.LocalServer`` runs a date.

The shapes, on every profile:

- ``fanout-N``: one run of ``scale-fanout`` mapping the task over N items on the flow's
  default ``ThreadPoolTaskRunner``: ``PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS``
  threads, no limit when unset (as installed); read from Prefect in the flow's
  environment (``scale_flow parallelism``).
- ``backfill-D``: Prefect 3 creates no runs for missed schedule slots, so the user catches
  up with a loop, oldest date first, one flow run after another: on ``script`` one
  catch-up script running ``scale-daily`` per date; on the deployment profiles a loop that
  creates each date's flow run once the previous one is final (``run_deployment`` in a
  loop: it awaits each run). Parallelism 1.
- ``concurrent-K``: K ``scale-daily`` runs of K dates submitted at once: K scripts
  (nothing limits them), or K flow runs of the deployment, which the serve process runs
  all at once (``Flow.serve`` called without ``limit``: its runner has no process limit)
  and the pool's workers at most ``WORKERS x WORKER_LIMIT`` at a time (and the work
  pool's, its queues' and the deployment's concurrency limits, read from the API: none
  as created).

Wall time: on ``script``, just before the first script starts to the last one's exit, so
it includes what a Prefect user pays per script run (interpreter start, importing
Prefect); on the deployment profiles, just before the first ``create_flow_run`` to the
latest ``end_time`` Prefect recorded for the sample's flow runs, so it includes the serve
process's or the workers' polling, the flow-run process's start and the state changes.
The harness reads the runs' states every ``POLL_S`` (its catch-up loop creates the next
date's run when it sees the previous one final). Every profile is measured: ``unmeasured``
is empty.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

from orchbench.point import DEFAULT_PROFILE
from orchbench.runner import EnvironmentMissing
from orchbench.scale import DriverEngine, PointContext, ScaleTimeout, Shape, Timing
from runners.prefect.adapter import BASE_SERVER_ENV, PROFILES, PrefectRunner, _clean_env
from runners.prefect.modes import ENV_API_URL, PoolStack
from runners.prefect.native import ts_ns
from runners.prefect.pool import POOL, TERMINAL, register_deployment
from runners.prefect.serve import POLL_S as SERVE_POLL_S
from runners.prefect.serve import ServeProcess
from runners.prefect.server import Api, ApiError

MODULE = "runners.prefect.scale_flow"
FLOWS = {"fanout": "scale-fanout", "daily": "scale-daily"}  # scale_flow.FLOWS (imports prefect)
DEPLOYMENT = "orchbench-scale"  # pool: <flow>/orchbench-scale; served: a name per sample
SERVED = ("default", "tuned")  # the profiles whose deployment a flow.serve() process serves
POOL_PROFILE = "pool"
SCRIPT = "script"
POLL_S = 0.2  # how often the harness reads the sample's flow run states
API_LIMIT = 200  # rows per filter request (PREFECT_API_DEFAULT_LIMIT, the API's maximum)
READY_TIMEOUT_S = 120.0  # a new serve process has polled the server
TAG = "orchbench-scale"
WARM_IMPORTS = "import runners.prefect.scale_flow, orchbench.scale, prefect.engine"
WARM_S = 300.0
EXECUTES = {
    "default": "a flow.serve() process (one per sample): each flow run in a subprocess of it",
    "tuned": "a flow.serve() process (one per sample): each flow run in a subprocess of it",
    "pool": "process workers of the work pool: each flow run in a process of its own",
    "script": "the script's own process (nothing supervises it)",
}
SUBMITS = {
    "script": {
        "fanout": "one script run",
        "backfill": "one script looping over the dates",
        "concurrent": "K script runs at once",
    },
    "deployment": {
        "fanout": "one flow run of the deployment (POST /deployments/{id}/create_flow_run)",
        "backfill": "one flow run per date, each created when the previous one is final",
        "concurrent": "K flow runs of the deployment created back to back",
    },
}


def flow_key(shape: Shape) -> str:
    return "fanout" if shape.kind == "fanout" else "daily"


def parameters(shape: Shape) -> list[dict[str, Any]]:
    """The flow runs' parameters, in submission order: one fan-out run, or one run per
    date."""
    dates = shape.dates()
    if shape.kind == "fanout":
        return [{"items": shape.n, "logical_date": dates[0]}]
    return [{"logical_date": d} for d in dates]


def script_args(shape: Shape) -> list[list[str]]:
    """The ``scale_flow`` argv tails of the ``script`` profile's processes, all started at
    once: one fan-out run, one catch-up script of D dates, or K one-date runs."""
    dates = shape.dates()
    if shape.kind == "fanout":
        return [["fanout", "--items", str(shape.n), "--logical-date", dates[0]]]
    if shape.kind == "backfill":
        return [["daily"] + [a for d in dates for a in ("--logical-date", d)]]
    return [["daily", "--logical-date", d] for d in dates]


def concurrency_limit(obj: dict[str, Any] | None) -> int | None:
    """A work pool's, queue's or deployment's concurrency limit as the API shows it."""
    if not obj:
        return None
    if obj.get("concurrency_limit") is not None:
        return int(obj["concurrency_limit"])
    gcl = obj.get("global_concurrency_limit")  # a deployment's (Prefect 3)
    return int(gcl["limit"]) if isinstance(gcl, dict) and gcl.get("limit") is not None else None


def pool_parallelism(workers: int, limit: int, caps: dict[str, int | None]) -> tuple[int, str]:
    """Flow runs a process pool runs at once: ``workers`` x ``limit`` (each worker's
    ``--limit``), capped by every concurrency limit set in ``caps`` (name -> limit)."""
    n = workers * limit
    where = f"{workers} process workers x --limit {limit} (pool.Workers as started)"
    set_caps = {k: v for k, v in caps.items() if v is not None}
    for name, cap in set_caps.items():
        if cap < n:
            n, where = cap, f"{name} concurrency_limit {cap} (API)"
    unset = [k for k, v in caps.items() if v is None]
    if unset:
        where += f"; no concurrency_limit on {', '.join(unset)} (API)"
    return n, where


class ScaleServe(ServeProcess):
    """The runner's serve process (``serve.ServeProcess``) for one scale flow:
    ``python -m runners.prefect.scale_flow --serve NAME --flow KEY``."""

    module = MODULE

    def __init__(
        self, python: Path, name: str, key: str, env: dict[str, str], log: Path, cwd: Path
    ) -> None:
        super().__init__(python, name, env, log, cwd, stack=f"{log.parent}#{name}")
        self.key = key
        self.flow_name = FLOWS[key]

    def command(self) -> list[str]:
        return [str(self.python), "-m", self.module, "--serve", self.name, "--flow", self.key]


class PrefectScale(DriverEngine):
    """Scale shapes as Prefect flow runs, each profile's way (served deployment runs,
    a process pool's deployment runs, or script runs)."""

    name: ClassVar[str] = "prefect"
    system: ClassVar[str] = "Prefect"
    venv: ClassVar[str] = "prefect"
    version_keys: ClassVar[tuple[str, ...]] = ("prefect",)
    profiles: ClassVar[tuple[str, ...]] = ("default", "tuned", "pool", "script")
    unmeasured: ClassVar[dict[str, str]] = {}

    def __init__(self, repo_root: Path, profile: str = DEFAULT_PROFILE) -> None:
        super().__init__(repo_root, profile)
        self._runner: PrefectRunner | None = None
        self._limits: dict[str, Any] | None = None
        self._deployments: dict[str, str] = {}  # pool: flow key -> deployment id
        self._served_id: str | None = None  # the last served deployment (its limits)
        self._serve: ScaleServe | None = None
        self._runs: list[str] = []  # the current sample's flow runs

    # --- environment --------------------------------------------------------------------

    def check_environment(self) -> None:
        if os.environ.get(ENV_API_URL):
            raise EnvironmentMissing(
                f"the prefect scale engine starts its own services: unset {ENV_API_URL}"
            )
        super().check_environment()
        PrefectRunner(self.profile, self.repo_root).check_environment()

    def clean_env(self) -> dict[str, str]:
        """What the flow runs run with: the runner's client environment and the profile's
        client settings (before ``start``: the harness's without Prefect's)."""
        if self._runner is None or self._runner.api is None:
            return _clean_env()
        return {**self._runner.client_env(), **PROFILES[self.profile]["client"]}

    def _api(self) -> Api:
        if self._runner is None or self._runner.api is None:
            raise RuntimeError("the prefect scale engine was not started")
        return self._runner.api

    # --- services -----------------------------------------------------------------------

    def start(self, work: Path) -> None:
        """The profile's services (``PrefectRunner.start``; on pool, both scale flows
        deployed on its pool), warm imports and the un-timed warm-up samples."""
        self._runner = PrefectRunner(self.profile, self.repo_root)
        try:
            self._runner.start(work)
            if self.profile == POOL_PROFILE:
                self._deploy()
            self._warm(work)
            self.limits()  # read before the first measured interval
        except BaseException:
            self.stop()
            raise

    def _deploy(self) -> None:
        r = self._runner
        assert r is not None
        register_deployment(
            r.python(), DEPLOYMENT, POOL, r.client_env(), self.repo_root, module=MODULE
        )
        api = self._api()
        self._deployments = {
            key: str(api.get(f"deployments/name/{flow}/{DEPLOYMENT}")["id"])
            for key, flow in FLOWS.items()
        }

    def _warm(self, work: Path) -> None:
        """Compile the scale flow module's bytecode, then one un-timed ``backfill-1`` and
        ``fanout-1`` sample the profile's way (records to a scratch journal)."""
        env = {k: v for k, v in self.clean_env().items() if k != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run(
            [str(self.python()), "-c", WARM_IMPORTS],
            env=env,
            cwd=self.repo_root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=WARM_S,
            check=False,
        )
        for shape in (Shape("backfill", 1), Shape("fanout", 1)):
            ctx = PointContext(
                engine=self.label,
                shape=shape,
                dir=work,
                journal=work / "warm-up.jsonl",
                logs=work / "warm-up-logs",
                work=work,
                deadline=time.monotonic() + WARM_S,
            )
            ctx.logs.mkdir(parents=True, exist_ok=True)
            try:
                self.run(shape, ctx)
            except Exception as e:
                raise RuntimeError(f"the warm-up prefect {shape.name} failed: {e}") from e

    def stop(self) -> None:
        self.abort()
        if self._runner is not None:
            self._runner.stop()
            self._runner = None

    def abort(self) -> None:
        """Kill the current sample: its scripts, its flow runs (cancelled over the API so
        no worker picks them up later), its serve process; on pool the workers and every
        flow-run process they started (``PoolStack.abort``; ``run`` starts the workers
        again)."""
        self._drivers.kill()
        runner, runs, self._runs = self._runner, self._runs, []
        if runner is not None and runner.api is not None:
            quick = Api(runner.api.url, timeout=5, retries=0)
            for fid in runs:
                with contextlib.suppress(OSError, ApiError, ValueError):
                    quick.post(
                        f"flow_runs/{fid}/set_state",
                        {"state": {"type": "CANCELLED", "message": "aborted"}, "force": True},
                    )
        if self._serve is not None:
            self._serve.stop()
            self._serve = None
        if runs and runner is not None and self.profile == POOL_PROFILE:
            runner.abort()

    # --- limits and settings ------------------------------------------------------------

    def limits(self) -> dict[str, Any]:
        """What Prefect says in the flows' environment (``scale_flow parallelism``) and,
        on the deployment profiles, the concurrency limits the API shows."""
        if self._limits is None:
            found = dict(self.probe(MODULE, "parallelism"))
            api = self._api()
            if self.profile in SERVED and self._served_id is not None:
                dep = api.get(f"deployments/{self._served_id}")
                found["deployment_concurrency_limit"] = concurrency_limit(dep)
            if self.profile == POOL_PROFILE:
                found["work_pool_concurrency_limit"] = concurrency_limit(
                    api.get(f"work_pools/{POOL}")
                )
                queues = api.post(f"work_pools/{POOL}/queues/filter", {}) or []
                caps = [c for q in queues if (c := concurrency_limit(q)) is not None]
                found["work_queue_concurrency_limit"] = min(caps) if caps else None
                dep = api.get(f"deployments/{self._deployments['daily']}")
                found["deployment_concurrency_limit"] = concurrency_limit(dep)
                workers = self._pool().workers
                assert workers is not None
                found["workers"] = {"count": workers.count, "limit": workers.limit}
            self._limits = found
        return self._limits

    def _pool(self) -> PoolStack:
        assert self._runner is not None
        mode = self._runner.mode
        assert isinstance(mode, PoolStack)
        return mode

    def parallelism(self, shape: Shape) -> tuple[int, str]:
        lim = self.limits()
        if shape.kind == "fanout":
            if lim.get("max_workers") is None:
                return shape.n, (
                    "ThreadPoolTaskRunner as installed: no thread limit "
                    "(PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS unset in the flow's env)"
                )
            return int(lim["max_workers"]), "PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS"
        if shape.kind == "backfill":
            if self.profile == SCRIPT:
                return 1, "one catch-up script: one flow run per date, one after another"
            return 1, "catch-up loop: each date's flow run created once the previous one is final"
        if self.profile == SCRIPT:
            return shape.n, "K independent script runs; no work pool or concurrency limit"
        if self.profile == POOL_PROFILE:
            w = lim["workers"]
            return pool_parallelism(
                w["count"],
                w["limit"],
                {
                    "the work pool": lim.get("work_pool_concurrency_limit"),
                    "its queues": lim.get("work_queue_concurrency_limit"),
                    "the deployment": lim.get("deployment_concurrency_limit"),
                },
            )
        serve_limit = lim.get("serve_limit_default")
        dep_limit = lim.get("deployment_concurrency_limit")
        caps = [c for c in (serve_limit, dep_limit) if c is not None]
        if caps:
            return min(caps), f"flow.serve limit {serve_limit}, deployment limit {dep_limit}"
        return shape.n, (
            "flow.serve() without limit (Flow.serve's default None: a runner with no "
            "process limit); no deployment concurrency_limit (API)"
        )

    def settings(self, shape: Shape) -> dict[str, Any]:
        prof = PROFILES[self.profile]
        server = {} if self._runner is None else dict(self._runner.server_info)
        server.pop("api_url", None)
        server.pop("database_url", None)
        lim = self._limits or {}
        kind = SCRIPT if self.profile == SCRIPT else "deployment"
        out: dict[str, Any] = {
            "profile": self.profile,
            "server_env": {**BASE_SERVER_ENV, **prof["server"]},
            "client_env": dict(prof["client"]),
            "database": server.get("database"),
            "server": server,
            "flow": FLOWS[flow_key(shape)],
            "task_runner": "ThreadPoolTaskRunner (the flow's default)",
            "thread_pool_max_workers": lim.get("max_workers"),
            "executes": EXECUTES[self.profile],
            "submissions": SUBMITS[kind][shape.kind],
        }
        if self.profile in SERVED:
            out["serve"] = {
                "command": f"python -m {MODULE} --serve NAME --flow KEY (flow.serve())",
                "poll_s": SERVE_POLL_S,
                "limit": lim.get("serve_limit_default"),
                "one_per": "sample (the serve runner gives flow runs no environment of "
                "their own: the sample's journal must be in the serve process's)",
            }
        if self.profile == POOL_PROFILE:
            out["work_pool"] = {
                "name": POOL,
                "type": "process",
                "concurrency_limit": lim.get("work_pool_concurrency_limit"),
                "deployments": {FLOWS[k]: f"{FLOWS[k]}/{DEPLOYMENT}" for k in FLOWS},
            }
            out["workers"] = {
                **lim.get("workers", {}),
                "query_seconds": lim.get("worker_query_seconds"),
                "prefetch_seconds": lim.get("worker_prefetch_seconds"),
            }
        if kind == "deployment":
            out["harness_poll_s"] = POLL_S
        return out

    # --- samples ------------------------------------------------------------------------

    def run(self, shape: Shape, point: PointContext) -> Timing:
        self._api()  # started
        self._drivers.kill()
        self._runs = []
        if self.profile == SCRIPT:
            return self._script_sample(shape, point)
        return self._deployment_sample(shape, point)

    def _script_sample(self, shape: Shape, point: PointContext) -> Timing:
        env = {**self.clean_env(), "PYTHONUNBUFFERED": "1", **point.task_env()}
        tails = script_args(shape)
        start = time.time_ns()
        procs = [
            self._drivers.start(
                [str(self.python()), "-m", MODULE, *tail],
                env,
                point.logs / f"prefect-submission-{i:03d}.log",
            )
            for i, tail in enumerate(tails, 1)
        ]
        self._drivers.wait(point, procs)
        end = time.time_ns()
        self._drivers.kill()  # nothing a run started may outlive it
        return Timing(start, end)

    def _deployment_sample(self, shape: Shape, point: PointContext) -> Timing:
        """The sample's flow runs of the deployment, created over the API and awaited;
        the serve process (default, tuned) started before and stopped after the
        interval."""
        key = flow_key(shape)
        env = {**PROFILES[self.profile]["client"], **point.task_env()}
        extra: dict[str, Any] = {}
        if self.profile in SERVED:
            deployment = self._start_serve(key, env, point)
        else:
            self._ensure_workers()
            deployment = self._deployments[key]
            extra = {"job_variables": {"env": env}}  # as the runner passes a run's env
        runs: list[dict[str, Any]] = []
        start = time.time_ns()
        if shape.kind == "backfill":
            for params in parameters(shape):
                runs += self._await(shape, point, [self._create(deployment, params, extra)])
        else:
            ids = [self._create(deployment, p, extra) for p in parameters(shape)]
            runs = self._await(shape, point, ids)
        seen = time.time_ns()
        self._runs = []  # all final: nothing to cancel
        if self._serve is not None:  # nothing a run started may outlive the sample
            self._serve.stop()
            self._serve = None
        ends = [ts_ns(r.get("end_time")) for r in runs]
        if all(e is not None for e in ends):
            return Timing(start, min(seen, max(e for e in ends if e is not None)))
        return Timing(start, seen, ["a flow run without end_time: its end when seen final"])

    def _start_serve(self, key: str, env: dict[str, str], point: PointContext) -> str:
        """A serve process of the shape's flow with the sample's environment, as a new
        deployment; returns once the server shows it polled (its deployment ``READY``)."""
        r = self._runner
        assert r is not None
        name = f"{DEPLOYMENT}-{uuid.uuid4().hex[:8]}"
        self._serve = ScaleServe(
            r.python(),
            name,
            key,
            {**self.clean_env(), **env, "PYTHONUNBUFFERED": "1"},
            point.logs / f"prefect-serve-{name}.log",
            self.repo_root,
        )
        deployment = self._serve.start(self._api())
        self._served_id = deployment
        end = time.monotonic() + min(READY_TIMEOUT_S, max(point.remaining(), 1.0))
        while self._api().get(f"deployments/{deployment}").get("status") != "READY":
            if not self._serve.alive():
                raise RuntimeError(f"the serve process exited: {self._serve.tail()}")
            if time.monotonic() > end:
                raise RuntimeError(f"serve process of {name} never polled the server")
            time.sleep(POLL_S)
        return deployment

    def _ensure_workers(self) -> None:
        """The pool's workers, started again after an ``abort`` killed them."""
        mode = self._pool()
        if mode.workers is None or not mode.workers.alive():
            mode._start_workers({})  # as installed (PoolStack._ready's, without a context)

    def _create(self, deployment: str, params: dict[str, Any], extra: dict[str, Any]) -> str:
        run = self._api().post(
            f"deployments/{deployment}/create_flow_run",
            {"parameters": params, "state": {"type": "SCHEDULED"}, "tags": [TAG], **extra},
        )
        self._runs.append(str(run["id"]))
        return str(run["id"])

    def _await(self, shape: Shape, point: PointContext, ids: list[str]) -> list[dict[str, Any]]:
        """Poll until every flow run in ``ids`` is final; their API records. ScaleTimeout
        past the deadline, RuntimeError if one did not complete."""
        while True:
            runs = [
                run
                for i in range(0, len(ids), API_LIMIT)
                for run in self._api().post(
                    "flow_runs/filter",
                    {"flow_runs": {"id": {"any_": ids[i : i + API_LIMIT]}}, "limit": API_LIMIT},
                )
                or []
            ]
            kinds = [str((r.get("state") or {}).get("type")) for r in runs]
            if len(runs) == len(ids) and all(k in TERMINAL for k in kinds):
                bad = sorted({k for k in kinds if k != "COMPLETED"})
                if bad:
                    raise RuntimeError(
                        f"prefect {shape.name}: flow run(s) ended {', '.join(bad)}; see "
                        f"{point.logs} and the server's records"
                    )
                return runs
            if point.remaining() <= 0:
                done = sum(1 for k in kinds if k in TERMINAL)
                self.abort()
                raise ScaleTimeout(
                    f"{self.label} {shape.name}: {done} of {len(ids)} flow runs final "
                    "at the deadline"
                )
            time.sleep(POLL_S)
