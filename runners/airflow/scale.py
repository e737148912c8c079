"""The ``airflow`` scale engine: the scale DAGs (``scale_dags/orchbench_scale.py``) on one real
Airflow 3 stack per engine, built for the engine's runner profile as the runner builds it
(``stack.new_stack``, the class ``modes.mode_for`` starts for that profile). Only
orchestration; shapes, task and metrics are ``orchbench.scale``'s.

Profiles (all three of the runner's are measured; none is left out):

- ``default``: ``AirflowStack``, Airflow's defaults as installed: api-server, scheduler,
  dag-processor, LocalExecutor (``[core] parallelism`` pre-forked worker processes),
  SQLite.
- ``tuned``: the same stack with ``stack.PROFILES["tuned"]`` (scheduler idle sleep 0.1 s,
  one DAG parsing process, a 300 s re-parse interval): the scheduler loop these shapes
  wait on changes.
- ``celery``: ``CeleryAirflowStack``: CeleryExecutor, PostgreSQL metadata DB, a Redis
  broker and ``stack.CELERY_WORKERS`` ``airflow celery worker`` processes. A task runs
  in a worker's pool process, so the executor's slots are ``min([core] parallelism`` (the
  CeleryExecutor's open slots, per scheduler "regardless of the worker count"), the
  workers' summed concurrency``)``.

The stack is started once per engine (``start``, outside every measured interval; it ends
with one unmeasured run of each DAG, so no point pays the fresh stack's first-task costs)
and every request goes through the public REST API (``/api/v2``), as a user's script would:

- ``fanout-N``: one ``POST /dags/orchbench_scale_fanout/dagRuns`` (logical date
  ``FIRST_DATE``, ``conf.n = N``); its ``items`` task returns ``range(N)`` and
  ``scale_task`` is mapped over it (``.expand``, dynamic task mapping). Parallelism:
  ``min(`` the executor's slots, the DAG's ``max_active_tasks``
  (``core.max_active_tasks_per_dag``, a limit per dag run), the ``default_pool``'s
  slots``)``. The run's wall time includes the ``items`` task before the fan-out (one task
  process, not journaled: it is how a mapped fan-out gets its items).
- ``backfill-D``: one ``POST /backfills`` over the D days of the ``@daily`` DAG
  ``orchbench_scale_daily`` (``airflow backfill create``), with the API's own default
  ``max_active_runs`` (``BackfillPostBody``); the backfill creates the D runs at once,
  queued, and the scheduler starts at most ``max_active_runs`` of them at a time.
  Parallelism: ``min(`` that, the executor's slots, pool slots``)`` (one task per run).
- ``concurrent-K``: K ``POST /dags/orchbench_scale_daily/dagRuns``, one per logical
  date, sent back to back. Parallelism: ``min(`` the DAG's ``max_active_runs``
  (``core.max_active_runs_per_dag``), the executor's slots, pool slots``)``.

Every limit is read from the stack as run: ``[core]`` options through
``airflow.configuration.conf`` in the stack's environment, the DAGs' ``max_active_*`` and
the pool's slots from the REST API, the backfill default from Airflow's own request model,
and (celery) each running worker's pool ``max-concurrency`` from Celery's ``inspect
stats`` (the stack starts its workers with ``--concurrency``, which overrides ``[celery]
worker_concurrency``; that option is recorded beside it).

Wall time: ``time.time_ns()`` just before the first POST to the latest ``end_date`` of the
point's dag runs, Airflow's own timestamp (the scheduler sets it when it sees the run's
last task done), so it includes queueing, the scheduler's loop, one task process per task
(fork, supervisor, parse of the DAG file) and the run's state change. The harness polls
the run states every ``POLL_S`` only to know when to read them. After each sample the
point's runs are deleted (``DELETE /dags/{id}/dagRuns/{run_id}``) and the backfill is
cancelled if the scheduler has not marked it complete yet (it does so every 30 s, and a
DAG has at most one active backfill), so the next sample can reuse the logical dates.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, ClassVar

from orchbench.point import DEFAULT_PROFILE
from orchbench.scale import PointContext, ScaleEngine, ScaleTimeout, Shape, Timing, last_json
from runners.airflow.adapter import AirflowRunner
from runners.airflow.api import AirflowAPI, APIError, q
from runners.airflow.modes import LocalStack, mode_for
from runners.airflow.native import to_ns
from runners.airflow.stack import COMPONENTS, AirflowStack, new_stack

SCALE_DAGS = Path(__file__).resolve().parent / "scale_dags"  # deployed by this engine only
FANOUT_DAG = "orchbench_scale_fanout"
DAILY_DAG = "orchbench_scale_daily"
POLL_S = 0.5
PARSE_TIMEOUT_S = 180.0
TERMINAL = ("success", "failed")
VERSION_KEYS = ("apache-airflow", "apache-airflow-core", "apache-airflow-task-sdk", "python")
# The configuration as the stack's processes read it (run in the stack's environment).
CONFIG_PROBE = """
import json
from airflow.configuration import conf
from airflow.api_fastapi.core_api.datamodels.backfills import BackfillPostBody
print(json.dumps({
    "core.executor": conf.get("core", "executor"),
    "core.parallelism": conf.getint("core", "parallelism"),
    "core.max_active_tasks_per_dag": conf.getint("core", "max_active_tasks_per_dag"),
    "core.max_active_runs_per_dag": conf.getint("core", "max_active_runs_per_dag"),
    "backfill.max_active_runs": BackfillPostBody.model_fields["max_active_runs"].default,
}))
"""
# CeleryExecutor: the running workers' pool sizes, as the workers themselves report them
# (Celery's remote control, the broker of the stack's environment), and the options.
CELERY_PROBE = """
import json
from airflow.configuration import conf
from airflow.providers.celery.executors.celery_executor_utils import app
stats = app.control.inspect(timeout=%r).stats() or {}
print(json.dumps({
    "celery.worker_concurrency": conf.getint("celery", "worker_concurrency"),
    "celery.worker_autoscale": conf.get("celery", "worker_autoscale", fallback=None),
    "workers": {w: s["pool"]["max-concurrency"] for w, s in sorted(stats.items())},
}))
"""
INSPECT_TIMEOUT_S = 5.0
INSPECT_TRIES = 3


def at_midnight(date: str) -> str:
    """``YYYY-MM-DD`` -> the UTC midnight the API takes as a logical date."""
    return f"{date}T00:00:00Z"


def executor_slots(limits: dict[str, Any]) -> tuple[int, str]:
    """Tasks the stack's executor runs at once (``limits`` as ``_read_limits`` reads them),
    and where that number comes from."""
    par, executor = limits["core.parallelism"], limits["core.executor"]
    if executor != "CeleryExecutor":
        return par, f"core.parallelism {par} ({executor} worker processes)"
    pools = limits["celery.pool_max_concurrency"]
    slots = limits["celery.slots"]
    sizes = sorted(set(pools.values()))
    each = f"x {sizes[0]}" if len(sizes) == 1 else "of " + "+".join(map(str, pools.values()))
    conf = f"[celery] worker_concurrency {limits['celery.worker_concurrency']}"
    if limits.get("celery.worker_autoscale"):
        conf += f", worker_autoscale {limits['celery.worker_autoscale']}"
    return min(par, slots), (
        f"CeleryExecutor slots {min(par, slots)}: min of core.parallelism {par} (the "
        f"executor's open slots) and the "
        f"{len(pools)} celery workers' {slots} slots ({len(pools)} {each}: each worker's "
        f"pool max-concurrency from celery inspect stats; {conf})"
    )


class AirflowScale(ScaleEngine):
    """Scale shapes on one Airflow 3 stack of the engine's profile through its REST API."""

    name: ClassVar[str] = "airflow"
    system: ClassVar[str] = "Airflow"
    profiles: ClassVar[tuple[str, ...]] = ("default", "tuned", "celery")

    def __init__(self, repo_root: Path, profile: str = DEFAULT_PROFILE) -> None:
        super().__init__(repo_root, profile)
        self.venv = repo_root / ".venvs" / "airflow"
        # the runner's deployment mode of this profile, never a remote one (no URL): its
        # executor, metadata DB, environment check, settings and service versions
        mode = mode_for(profile, self.venv, None)
        assert isinstance(mode, LocalStack)
        self.mode = mode
        self.stack: AirflowStack | None = None
        self.limits: dict[str, Any] = {}
        self._dag: str | None = None  # the DAG of the current sample
        self._runs: list[str] = []  # its dag_run_ids
        self._backfill: int | None = None
        self.warm_up_s: dict[str, float] = {}

    def check_environment(self) -> None:
        """The runner's own check of this profile (venv; celery: provider, PostgreSQL,
        Redis)."""
        self.mode.check_environment()

    def versions(self) -> dict[str, str]:
        """Airflow's and Python's versions as the runner records them; celery adds its
        packages and the services' versions (``modes.CeleryStack``)."""
        v = AirflowRunner(self.profile, self.repo_root).versions()
        out = {k: v[k] for k in (*VERSION_KEYS, *self.mode.packages) if k in v}
        out.update(self.mode.versions())
        return dict(sorted(out.items()))

    # --- services -------------------------------------------------------------------

    def new_stack(self, home: Path) -> AirflowStack:
        """This profile's stack, as the runner's mode builds it, plus the scale DAGs."""
        return new_stack(
            home, self.profile, self.venv, extra_dags=tuple(sorted(SCALE_DAGS.glob("*.py")))
        )

    def start(self, work: Path) -> None:
        self.stack = self.new_stack(Path(work) / "airflow")
        try:
            self.stack.start()
            deadline = time.monotonic() + PARSE_TIMEOUT_S
            dags = {d: self.stack.wait_dag(d, deadline) for d in (FANOUT_DAG, DAILY_DAG)}
            self.limits = self._read_limits(dags)
            for dag in dags:
                if next(self._api().paged(f"/dags/{dag}/dagRuns", "dag_runs"), None):
                    raise RuntimeError(f"{dag} has runs nobody asked for")
            self._warm_up(Path(work) / "warm-up")
        except BaseException:
            self.abort()
            self.stop()
            raise

    def _warm_up(self, work: Path) -> None:
        """One run of each DAG, not measured: the first task of a fresh stack pays
        one-off costs (cold imports and caches) that a deployed Airflow has paid long ago."""
        work.mkdir(parents=True, exist_ok=True)
        for shape in (Shape("fanout", 1), Shape("concurrent", 1)):
            ctx = PointContext(
                engine=self.label,
                shape=shape,
                dir=work,
                journal=work / f"{shape.name}.jsonl",
                logs=work,
                work=work,
                deadline=time.monotonic() + PARSE_TIMEOUT_S,
            )
            timing = self.run(shape, ctx)
            self.warm_up_s[shape.name] = round((timing.end_ns - timing.start_ns) / 1e9, 3)

    def _probe(self, code: str) -> dict[str, Any]:
        """The JSON object ``code`` prints last, run by the venv's python in the stack's
        environment (what its processes see)."""
        assert self.stack is not None
        got: dict[str, Any] = last_json(
            [str(self.venv / "bin" / "python"), "-c", code], self.stack.env()
        )
        return got

    def _read_limits(self, dags: dict[str, dict[str, Any]]) -> dict[str, Any]:
        limits = self._probe(CONFIG_PROBE)
        if limits["core.executor"] != self.mode.executor:
            raise RuntimeError(
                f"the {self.profile} stack runs {limits['core.executor']}, not {self.mode.executor}"
            )
        if self.mode.executor == "CeleryExecutor":
            limits.update(self._read_celery())
        limits["default_pool.slots"] = int(self._api().get("/pools/default_pool")["slots"])
        for dag, rec in dags.items():
            limits[f"{dag}.max_active_tasks"] = int(rec["max_active_tasks"])
            limits[f"{dag}.max_active_runs"] = int(rec["max_active_runs"])
        return limits

    def _read_celery(self) -> dict[str, Any]:
        """The celery workers' slots: each running worker's pool size, as it reports it."""
        assert self.stack is not None
        expected = len([c for c in self.stack.components if c not in COMPONENTS])
        probe = CELERY_PROBE % INSPECT_TIMEOUT_S
        got: dict[str, Any] = {}
        for _ in range(INSPECT_TRIES):  # a busy worker may miss one broadcast's timeout
            got = self._probe(probe)
            if len(got["workers"]) == expected:
                break
        else:
            raise RuntimeError(
                f"{len(got['workers'])} of the stack's {expected} celery workers answered "
                "celery inspect stats"
            )
        workers: dict[str, int] = got.pop("workers")
        return {
            **got,
            "celery.workers": len(workers),
            "celery.pool_max_concurrency": workers,
            "celery.slots": sum(workers.values()),
        }

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.kill()
            self.stack = None

    def _api(self) -> AirflowAPI:
        if self.stack is None:
            raise RuntimeError("the airflow scale engine is not started")
        return self.stack.api()

    # --- configuration ---------------------------------------------------------------

    def parallelism(self, shape: Shape) -> tuple[int, str]:
        if not self.limits:
            raise RuntimeError("the airflow scale engine is not started")
        lim = self.limits
        slots, executor = executor_slots(lim)
        pool = lim["default_pool.slots"]
        common = f"{executor}, default_pool {pool} slots"
        if shape.kind == "fanout":
            per_run = lim[f"{FANOUT_DAG}.max_active_tasks"]
            return min(slots, per_run, pool), (
                f"min of the DAG's max_active_tasks {per_run} (per dag run; "
                f"core.max_active_tasks_per_dag {lim['core.max_active_tasks_per_dag']}), " + common
            )
        if shape.kind == "backfill":
            runs = lim["backfill.max_active_runs"]
            return min(runs, slots, pool), (
                f"min of the backfill's max_active_runs {runs} (the API's default), "
                + common
                + "; one task per run"
            )
        runs = lim[f"{DAILY_DAG}.max_active_runs"]
        return min(runs, slots, pool), (
            f"min of the DAG's max_active_runs {runs} "
            f"(core.max_active_runs_per_dag {lim['core.max_active_runs_per_dag']}), "
            + common
            + "; one task per run"
        )

    def settings(self, shape: Shape) -> dict[str, Any]:
        how = {
            "fanout": f"one POST /dags/{FANOUT_DAG}/dagRuns, scale_task.expand(item=items)",
            "backfill": f"one POST /backfills of {DAILY_DAG} (default max_active_runs)",
            "concurrent": f"{shape.n} POST /dags/{DAILY_DAG}/dagRuns back to back",
        }[shape.kind]
        return {
            "profile": self.profile,
            # the runner's record of this profile: profile_settings, executor, metadata_db
            # (celery: PostgreSQL, broker, workers and their concurrency)
            **self.mode.settings(),
            "dag": FANOUT_DAG if shape.kind == "fanout" else DAILY_DAG,
            "submission": how,
            "limits": self.limits,
            "warm_up_wall_s": self.warm_up_s,  # in start(), not measured
            "poll_s": POLL_S,
        }

    # --- one sample -------------------------------------------------------------------

    def run(self, shape: Shape, point: PointContext) -> Timing:
        api = self._api()
        conf = {"journal": str(point.journal), "engine": point.engine, "point": shape.name}
        dates = shape.dates()
        notes: list[str] = []
        self._runs, self._backfill = [], None
        if shape.kind == "fanout":
            self._dag = FANOUT_DAG
            body = {"logical_date": at_midnight(dates[0]), "conf": {**conf, "n": shape.n}}
            start = time.time_ns()
            self._runs.append(api.post(f"/dags/{FANOUT_DAG}/dagRuns", body)["dag_run_id"])
        elif shape.kind == "backfill":
            self._dag = DAILY_DAG
            body = {
                "dag_id": DAILY_DAG,
                "from_date": at_midnight(dates[0]),
                "to_date": at_midnight(dates[-1]),
                "dag_run_conf": conf,
            }
            start = time.time_ns()
            backfill = api.post("/backfills", body)
            self._backfill = int(backfill["id"])
            if backfill["max_active_runs"] != self.limits["backfill.max_active_runs"]:
                notes.append(f"backfill max_active_runs was {backfill['max_active_runs']}")
            self._runs = [
                r["dag_run_id"]
                for r in api.paged(f"/dags/{DAILY_DAG}/dagRuns", "dag_runs")
                if r["run_type"] == "backfill"
            ]
            if len(self._runs) != shape.runs:
                raise RuntimeError(f"the backfill created {len(self._runs)} runs, not {shape.runs}")
        else:
            self._dag = DAILY_DAG
            start = time.time_ns()
            for date in dates:
                body = {"logical_date": at_midnight(date), "conf": conf}
                self._runs.append(api.post(f"/dags/{DAILY_DAG}/dagRuns", body)["dag_run_id"])
        runs = self._wait(shape, point)
        end = max(to_ns(r["end_date"]) or 0 for r in runs)
        self._clean()
        return Timing(start, end, notes)

    def _wait(self, shape: Shape, point: PointContext) -> list[dict[str, Any]]:
        """Poll until every run of the sample is finished; their REST records."""
        assert self._dag is not None
        api = self._api()
        wanted = set(self._runs)
        while True:
            runs = [
                r
                for r in api.paged(f"/dags/{self._dag}/dagRuns", "dag_runs")
                if r["dag_run_id"] in wanted
            ]
            if len(runs) == len(wanted) and all(r["state"] in TERMINAL for r in runs):
                failed = [r["dag_run_id"] for r in runs if r["state"] == "failed"]
                if failed:
                    raise RuntimeError(
                        f"airflow {shape.name}: dag run(s) failed: {', '.join(failed[:5])}; "
                        f"see the task logs under {self._logs()}"
                    )
                return runs
            if point.remaining() <= 0:
                self.abort()
                done = sum(1 for r in runs if r["state"] in TERMINAL)
                raise ScaleTimeout(
                    f"airflow {shape.name}: {done} of {len(wanted)} runs finished at the deadline"
                )
            time.sleep(POLL_S)

    def _logs(self) -> Path | None:
        return None if self.stack is None else self.stack.home / "logs"

    def _clean(self) -> None:
        """Forget the sample: end its backfill, delete its dag runs (all must be finished)."""
        if self.stack is None or not self.stack.alive():
            self._runs, self._backfill, self._dag = [], None, None
            return
        api = self._api()
        if self._backfill is not None:
            with contextlib.suppress(APIError):  # 409: the scheduler marked it complete
                api.put(f"/backfills/{self._backfill}/cancel")
        if self._dag is not None:
            for rid in self._runs:
                with contextlib.suppress(APIError):  # 404: already gone
                    api.delete(f"/dags/{self._dag}/dagRuns/{q(rid)}")
        self._runs, self._backfill, self._dag = [], None, None

    def abort(self) -> None:
        """Stop the current sample's runs (cancel the backfill, mark runs failed, kill the
        task processes), then delete them."""
        if self.stack is None or self._dag is None:
            return
        if self.stack.alive():
            api = self._api()
            if self._backfill is not None:
                with contextlib.suppress(APIError):  # fails its queued runs
                    api.put(f"/backfills/{self._backfill}/cancel")
            for rid in self._runs:
                with contextlib.suppress(APIError):
                    path = f"/dags/{self._dag}/dagRuns/{q(rid)}"
                    if api.get(path)["state"] not in TERMINAL:
                        api.patch(path, {"state": "failed"})
        self.stack.kill_tasks()
        self._clean()
