"""The ``dagster`` scale engine: the scale jobs (``scale_job.py``) on one ``dagster dev``
(webserver, daemon, code server; ``services.DagsterDev``) with the instance of the
runner's profile (``services.instance_yaml``: telemetry off, run monitoring on, the
queued run coordinator with ``run_queue: max_concurrent_runs: 1``). Only orchestration;
shapes, task and metrics are ``orchbench.scale``'s.

**Profiles** (``DagsterScale.profiles``: all three of the runner's, none unmeasured). Each
is set up by the runner's own code for that profile: its ``DagsterRunner`` (environment,
versions, ``start``/``stop``, ``postgres_db``), ``DagsterDev`` with ``profile`` (its
``dagster.yaml``), and ``ORCHBENCH_DAGSTER_PROFILE`` in ``dagster dev``'s environment, as
the adapter's ``run_env`` sets it, from which ``scale_job.py`` picks the job's executor
by the pipeline's rule (``definitions.EXECUTOR``):

- ``default``: SQLite under ``DAGSTER_HOME``; the multiprocess executor (a process per
  step); Dagster's daemon intervals (run queue read every 5 s, run monitoring every
  120 s).
- ``tuned``: SQLite; the in-process executor (every step in the run worker, one after
  another); the run queue read every 1 s and run monitoring every 10 s. Its other
  setting, the 5-s run failure sensor, is the pipeline's alerting (``definitions.py``):
  the scale code location has no sensor on any profile.
- ``production``: default's executor and intervals, the instance in PostgreSQL
  (dagster-postgres): ``start`` starts the runner's cluster (``DagsterRunner.start``,
  ``orchbench.postgres``, fsync off), every ``dagster dev`` start gets a new database in
  it (``DagsterRunner.postgres_db``), ``stop`` stops and removes the cluster.

``dagster dev`` is started once per engine (``start``, outside every measured interval,
on a free loopback port, its ``DAGSTER_HOME`` and ``HOME`` in the engine's services
directory, its ``TMPDIR`` a short one of its own, ``_tmp``); ``start`` then reads the
limits (below) and makes one unmeasured run of each job (``fanout-1``,
``concurrent-1``): a deployment in use has loaded its code and launched runs before.
Every request goes through Dagster's GraphQL API (``graphql.Api``), as the UI sends it:

- ``fanout-N``: one ``launchRun`` of ``orchbench_scale_fanout`` with ``n = N`` in its op
  config: ``items`` yields N ``DynamicOutput``s, ``scale_task`` is mapped over them, ``done``
  collects them. Parallelism: the executor as the run worker builds it from the job and
  its run config (``scale_job.limits``). default and production: the default executor of
  a ``Definitions`` object, ``multi_or_in_process_executor`` (multiprocess: a spawned
  process per step), whose ``max_concurrent`` is unset in the run config, so the executor
  takes ``DAGSTER_MULTIPROCESS_EXECUTOR_MAX_CONCURRENT`` or else
  ``multiprocessing.cpu_count()`` (``MultiprocessExecutor.__init__``,
  dagster/_core/executor/multiprocess.py; the docs' "Run executor limits"). tuned:
  ``InProcessExecutor``, 1 (``inner_plan_execution_iterator``,
  dagster/_core/execution/plan/execute_plan.py, executes one step after another). The
  wall includes the ``items`` step before the fan-out and the ``done`` step after it (not
  journaled: how a dynamic fan-out gets its items and is collected).
- ``backfill-D``: one ``launchPartitionBackfill`` of the daily-partitioned job
  ``orchbench_scale_daily`` over the D partitions (the job's Partitions tab "Launch
  backfill"; the runner's ``missed_days`` recovery launches the same): the daemon's
  backfill loop (every 30 s, ``DEFAULT_DAEMON_INTERVAL_SECONDS``) submits one run per
  partition to the run queue, which the daemon dequeues every ``dequeue_interval_seconds``
  up to the instance's ``max_concurrent_runs``. Parallelism: that limit (one op per run),
  read from the instance as run (``get_concurrency_config``); ``-1`` (no limit) would
  give D.
- ``concurrent-K``: K ``launchRun`` of ``orchbench_scale_daily``, one per partition
  (tag ``dagster/partition``, what the UI's launch of a partition sends), sent back to back
  to the same instance: they queue and are dequeued as above. Parallelism: the
  instance's ``max_concurrent_runs``.

The runner's instance says ``max_concurrent_runs: 1`` on every profile (one pipeline's days
must not overlap; Dagster's own default is 10), so backfills and concurrent runs go one
run at a time; ``settings`` records every limit read (``limits``).

Wall time: ``time.time_ns()`` just before the first mutation to the latest ``endTime`` of
the sample's runs, Dagster's own timestamp (the run worker's ``RUN_SUCCESS``), found by the
sample's tag (``scale_job.TAG_SAMPLE``); so it includes the queue and the daemon's loops,
the run worker's start, the steps (on multiprocess one spawned process per step:
interpreter, Dagster and the code location imported) and the event writes to the
instance's storage. The harness polls the runs every ``POLL_S`` only to know when to
read them. Runs stay in the instance (they are found by tag, and nothing is cached).

``abort`` SIGKILLs the whole ``dagster dev`` group (services, run workers, steps): a run
left queued or running would hold the one run slot. The next sample then starts a fresh
``dagster dev`` on a new ``DAGSTER_HOME`` (production: a new database) with its warm-up
before its measured interval, its deadline moved by the time that took.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar, cast

from orchbench import ownership
from orchbench.card import source_literal
from orchbench.point import DEFAULT_PROFILE
from orchbench.runner import RunContext
from orchbench.scale import (
    FIRST_DATE,
    PointContext,
    ScaleEngine,
    ScaleTimeout,
    Shape,
    Timing,
    last_json,
)
from runners.dagster.adapter import (
    BACKFILL_ENDED,
    DEFINITIONS_FILE,
    PARTITION_TAG,
    DagsterRunner,
)
from runners.dagster.graphql import TERMINAL, Api
from runners.dagster.services import START_TIMEOUT_S, DagsterDev, clean_env

CODE_MODULE = "runners.dagster.scale_job"
JOB_FILE = Path(__file__).resolve().with_name("scale_job.py")
# the job file's own constants (read, not imported: it imports Dagster)
FANOUT_JOB: str = source_literal(JOB_FILE, "FANOUT_JOB")
DAILY_JOB: str = source_literal(JOB_FILE, "DAILY_JOB")
TAG_JOURNAL: str = source_literal(JOB_FILE, "TAG_JOURNAL")
TAG_ENGINE: str = source_literal(JOB_FILE, "TAG_ENGINE")
TAG_POINT: str = source_literal(JOB_FILE, "TAG_POINT")
TAG_SAMPLE: str = source_literal(JOB_FILE, "TAG_SAMPLE")
# the pipeline's profile rule, which scale_job.py follows: the variable naming the profile
# and each profile's executor (definitions.py's own constants)
ENV_PROFILE: str = source_literal(DEFINITIONS_FILE, "ENV_PROFILE")
EXECUTOR: dict[str, str] = source_literal(DEFINITIONS_FILE, "EXECUTOR")
# the executor class the run worker builds for each of definitions.EXECUTOR's executors
EXECUTOR_CLASS = {"multiprocess": "MultiprocessExecutor", "in_process": "InProcessExecutor"}
VERSION_KEYS = ("dagster", "dagster-webserver", "dagster-graphql")
PRODUCTION_VERSION_KEYS = ("dagster-postgres", "postgresql")
POLL_S = 0.5
WARM_UP_TIMEOUT_S = 300.0
LOG_TAIL = 20_000  # characters of dagster dev's log kept with a failed sample


def parallelism_of(shape: Shape, limits: dict[str, Any]) -> tuple[int, str]:
    """The parallelism of ``shape`` under the limits ``scale_job.limits`` read, and where
    it comes from."""
    if shape.kind == "fanout" and limits.get("executor") == "InProcessExecutor":
        return 1, (
            f"the in-process executor ({limits.get('executor.definition')}, profile "
            f"{limits.get('profile')}'s in definitions.EXECUTOR): every step in the run "
            "worker, one after another (inner_plan_execution_iterator)"
        )
    if shape.kind == "fanout":
        if limits.get("executor") != "MultiprocessExecutor":
            raise ValueError(f"no parallelism known for executor {limits.get('executor')!r}")
        n = int(limits["executor.max_concurrent"])
        env = limits.get("env.DAGSTER_MULTIPROCESS_EXECUTOR_MAX_CONCURRENT")
        configured = (limits.get("executor.config") or {}).get("multiprocess") or {}
        if configured.get("max_concurrent"):
            why = "set in the job's run config"
        elif env:
            why = f"unset in the run config: DAGSTER_MULTIPROCESS_EXECUTOR_MAX_CONCURRENT={env}"
        else:
            why = f"unset in the run config: multiprocessing.cpu_count() = {limits['cpu_count']}"
        source = f"the multiprocess executor's max_concurrent {n} ({why}; step processes at once)"
        if limits.get("executor.tag_concurrency_limits"):
            source += f", tag_concurrency_limits {limits['executor.tag_concurrency_limits']}"
        return n, source
    runs = limits.get("run_queue.max_concurrent_runs")
    coordinator = limits.get("run_coordinator")
    if runs is None:
        return shape.n, f"{coordinator}: no run queue, every run launched at once"
    runs = int(runs)
    if runs == 0:
        raise ValueError("the instance's max_concurrent_runs is 0: no run would launch")
    how = "the backfill's runs" if shape.kind == "backfill" else "K runs launched at once"
    where = (
        f"{coordinator}, dequeued every {limits.get('run_queue.dequeue_interval_s')} s; {how}, "
        "one op each"
    )
    if limits.get("run_queue.tag_concurrency_limits"):
        where += f"; tag_concurrency_limits {limits['run_queue.tag_concurrency_limits']}"
    if runs == -1:
        return shape.n, f"the instance's run queue: max_concurrent_runs -1 (no limit), {where}"
    return runs, f"the instance's run queue: max_concurrent_runs {runs} (dagster.yaml), {where}"


def end_ns(runs: list[dict[str, Any]]) -> int:
    """The latest ``endTime`` (epoch seconds, Dagster's) of ``runs``, in ns."""
    ends = [r.get("endTime") for r in runs]
    if not ends or any(e is None for e in ends):
        raise RuntimeError("a finished Dagster run has no endTime")
    return round(max(float(e) for e in ends) * 1e9)


def sample_state(runs: list[dict[str, Any]], expected: int) -> str:
    """``running`` until ``expected`` runs exist and every one ended; then ``success`` or
    ``failed`` (a run not SUCCESS, or more runs than expected)."""
    if len(runs) < expected or any(r["status"] not in TERMINAL for r in runs):
        return "running"
    if len(runs) != expected or any(r["status"] != "SUCCESS" for r in runs):
        return "failed"
    return "success"


class DagsterScale(ScaleEngine):
    """Scale shapes on one ``dagster dev`` through Dagster's GraphQL API, as the runner's
    profile deploys it."""

    name: ClassVar[str] = "dagster"
    system: ClassVar[str] = "Dagster"
    profiles: ClassVar[tuple[str, ...]] = DagsterRunner.profiles

    def __init__(self, repo_root: Path, profile: str = DEFAULT_PROFILE) -> None:
        super().__init__(repo_root, profile)
        self.runner = DagsterRunner(self.profile, repo_root)
        self.dev: DagsterDev | None = None
        self.location: str | None = None
        self.limits: dict[str, Any] = {}
        self.warm_up_s: dict[str, float] = {}
        self.database: str | None = None  # production: the current dagster dev's
        self._work: Path | None = None
        self._tmpdir: Path | None = None
        self._starts = 0
        self._backfill: str | None = None
        self._restarted = False

    def check_environment(self) -> None:
        self.runner.check_environment()  # production: PostgreSQL too

    def versions(self) -> dict[str, str]:
        v = self.runner.versions()
        keys = VERSION_KEYS + (PRODUCTION_VERSION_KEYS if self.profile == "production" else ())
        return {k: v[k] for k in keys if k in v}

    # --- services -------------------------------------------------------------------

    def start(self, work: Path) -> None:
        """The runner's ``start`` (production: its PostgreSQL cluster), then ``dagster
        dev``; a failed start leaves nothing running."""
        self._work = Path(work).resolve()
        try:
            self.runner.start(self._work)
            self._up()
        except BaseException:
            self.stop()
            raise

    def _tmp(self) -> Path:
        """``dagster dev``'s ``TMPDIR``, a short directory of the engine's own in the
        system's temp dir (``stop`` removes it). Its workspace file and its code server's
        gRPC socket go there (on Linux a Unix socket, ``safe_tempfile_path_unmanaged``),
        and a socket's path has at most 107 bytes: in the services directory under a
        pytest-xdist worker's temp dir it had 112, and ``dagster dev`` exited at start
        (the code server could not listen)."""
        if self._tmpdir is None:
            self._tmpdir = ownership.temp_dir("dagster-scale")
        return self._tmpdir

    def _env(self, home: Path) -> dict[str, str]:
        """``dagster dev``'s environment: the runner's clean one with the profile's
        variable (as ``DagsterRunner.run_env``), its home here, its temp dir ``_tmp``."""
        return {
            **clean_env(),
            "HOME": str(home / "home"),
            "TMPDIR": str(self._tmp()),
            "PYTHONUNBUFFERED": "1",
            ENV_PROFILE: self.profile,  # scale_job picks the profile's executor from it
        }

    def _postgres_db(self) -> dict[str, Any] | None:
        """production: a new database in the runner's cluster for this ``dagster dev``
        start, as the runner's ``postgres_db`` names a scenario run's (it reads the run id
        alone); None on the other profiles."""
        ctx = cast(RunContext, SimpleNamespace(run_id=f"scale-{self._starts}"))
        db = self.runner.postgres_db(ctx)
        if db is not None:
            assert self.runner.pg is not None
            self.runner.pg.create_database(db["db_name"])
            self.database = db["db_name"]
        return db

    def _up(self) -> None:
        """Start ``dagster dev`` on a fresh home (production: a fresh database), read the
        limits, warm up."""
        assert self._work is not None
        self._starts += 1
        home = self._work / f"dagster_home-{self._starts}"
        (home / "home").mkdir(parents=True, exist_ok=True)
        env = self._env(home)
        try:
            self.dev = DagsterDev(
                self.runner.python(),
                home,
                env,
                self.repo_root,
                self._work / f"dagster-dev-{self._starts}.log",
                profile=self.profile,
                postgres_db=self._postgres_db(),
                module=CODE_MODULE,
            )
            self.location = self.dev.start(time.monotonic() + START_TIMEOUT_S)
            self.limits = self._read_limits(env, home)
            self._check_executor()
            self._warm_up(self._work / f"warm-up-{self._starts}")
        except BaseException:
            self.abort()
            raise

    def _read_limits(self, env: dict[str, str], home: Path) -> dict[str, Any]:
        config = json.dumps(fanout_run_config(1, FIRST_DATE.isoformat()))
        limits: dict[str, Any] = last_json(
            [str(self.runner.python()), "-m", CODE_MODULE, "limits", config],
            {**env, "DAGSTER_HOME": str(home)},
            self.repo_root,
            timeout=180,
        )
        return limits

    def _check_executor(self) -> None:
        """The job's executor as built is the profile's (``definitions.EXECUTOR``)."""
        wanted = EXECUTOR_CLASS[EXECUTOR[self.profile]]
        if self.limits.get("profile") != self.profile or self.limits.get("executor") != wanted:
            raise RuntimeError(
                f"profile {self.profile}: the scale job runs on {self.limits.get('executor')} "
                f"(profile {self.limits.get('profile')!r}), not {wanted}"
            )

    def _warm_up(self, work: Path) -> None:
        """One run of each job, not measured (its records go to a journal no point reads)."""
        work.mkdir(parents=True, exist_ok=True)
        for shape in (Shape("fanout", 1), Shape("concurrent", 1)):
            ctx = PointContext(
                engine=self.label,
                shape=shape,
                dir=work,
                journal=work / f"{shape.name}.jsonl",
                logs=work,
                work=work,
                deadline=time.monotonic() + WARM_UP_TIMEOUT_S,
            )
            timing = self._sample(shape, ctx)
            self.warm_up_s[shape.name] = round((timing.end_ns - timing.start_ns) / 1e9, 3)

    def stop(self) -> None:
        """Stop ``dagster dev``, then the runner (production: its cluster and files)."""
        if self.dev is not None:
            self.dev.stop()
            self.dev = None
        self._backfill = None
        self.runner.stop()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def abort(self) -> None:
        """SIGKILL the whole ``dagster dev`` group; the next sample starts a fresh one."""
        if self.dev is not None:
            self.dev.kill()
            self.dev = None
            self._restarted = True
        self._backfill = None

    def _api(self) -> Api:
        if self.dev is None:
            raise RuntimeError("the dagster scale engine is not started")
        return self.dev.api

    # --- configuration ---------------------------------------------------------------

    def parallelism(self, shape: Shape) -> tuple[int, str]:
        if not self.limits:
            raise RuntimeError("the dagster scale engine is not started")
        return parallelism_of(shape, self.limits)

    def settings(self, shape: Shape) -> dict[str, Any]:
        """The profile and its settings as read from the instance and the job
        (``limits``), and how the shape was submitted."""
        how = {
            "fanout": f"one launchRun of {FANOUT_JOB}: items (DynamicOut) -> "
            "scale_task.map -> done(collect)",
            "backfill": f"one launchPartitionBackfill of {DAILY_JOB} over the D daily partitions",
            "concurrent": f"{shape.n} launchRun of {DAILY_JOB}, one per partition, back to back",
        }[shape.kind]
        lim = self.limits
        if EXECUTOR[self.profile] == "in_process":
            executor = "in_process_executor (every step in the run worker, one at a time)"
        else:
            executor = "multi_or_in_process_executor (the Definitions default: multiprocess)"
        out: dict[str, Any] = {
            "profile": self.profile,
            "deployment": "dagster dev (webserver, daemon, code server), started once",
            "instance": f"the runner's dagster.yaml for profile {self.profile} "
            f"(services.instance_yaml): {lim.get('storage.runs')}, "
            f"{lim.get('run_coordinator')} with run_queue max_concurrent_runs "
            f"{lim.get('run_queue.max_concurrent_runs')} dequeued every "
            f"{lim.get('run_queue.dequeue_interval_s')} s, run monitoring every "
            f"{lim.get('run_monitoring.poll_interval_s')} s",
            "job": FANOUT_JOB if shape.kind == "fanout" else DAILY_JOB,
            "executor": f"{executor}, by {ENV_PROFILE}={self.profile} (definitions.EXECUTOR)",
            "sensors": "none (the runner's run failure sensor alerts for the pipeline)",
            "submission": how,
            "limits": lim,
            "warm_up_wall_s": self.warm_up_s,  # in start(), not measured
            "poll_s": POLL_S,
        }
        if self.profile == "production":
            out["postgresql"] = {
                **self.runner.settings()["postgresql"],
                "database": self.database,
                "driver": "dagster-postgres",
            }
        return out

    # --- one sample -------------------------------------------------------------------

    def run(self, shape: Shape, point: PointContext) -> Timing:
        if self._work is None:
            raise RuntimeError("the dagster scale engine was not started")
        notes: list[str] = []
        if self.dev is None or not self.dev.alive():
            self.abort()
            began = time.monotonic()
            self._up()  # before the measured interval, and not on the sample's deadline
            point.deadline += time.monotonic() - began
        if self._restarted:
            notes.append(f"dagster dev restarted after an abort (start {self._starts})")
            self._restarted = False
        timing = self._sample(shape, point)
        timing.notes[:0] = notes
        return timing

    def _sample(self, shape: Shape, point: PointContext) -> Timing:
        api = self._api()
        assert self.location is not None
        dates = shape.dates()
        if dt.date.fromisoformat(dates[-1]) >= dt.datetime.now(dt.UTC).date():
            raise ValueError(f"{shape.name}: {dates[-1]} is no daily partition yet")
        sample = uuid.uuid4().hex[:12]
        tags = {
            TAG_JOURNAL: str(point.journal),
            TAG_ENGINE: point.engine,  # the label, as orchbench.scale.task_env
            TAG_POINT: shape.name,
            TAG_SAMPLE: sample,
        }
        self._backfill = None
        if shape.kind == "fanout":
            config = fanout_run_config(shape.n, dates[0])
            start = time.time_ns()
            api.launch(self.location, FANOUT_JOB, tags, run_config=config)
        elif shape.kind == "backfill":
            start = time.time_ns()
            self._backfill = api.backfill(self.location, DAILY_JOB, dates, tags)
        else:
            start = time.time_ns()
            for date in dates:
                api.launch(self.location, DAILY_JOB, {**tags, PARTITION_TAG: date})
        runs = self._wait(shape, point, sample)
        self._backfill = None
        return Timing(start, end_ns(runs))

    def _wait(self, shape: Shape, point: PointContext, sample: str) -> list[dict[str, Any]]:
        """Poll until every run of the sample ended; their records."""
        api = self._api()
        while True:
            ended = None  # the backfill's status once it ended (every run submitted)
            if self._backfill is not None:
                status = api.backfill_status(self._backfill)
                ended = status if status in BACKFILL_ENDED else None
            runs = api.runs({TAG_SAMPLE: sample})  # after the status: its runs exist by then
            state = sample_state(runs, shape.runs)
            if state == "success":
                return runs
            if state == "failed" or (ended and len(runs) < shape.runs):
                bad = [f"{r['runId']} {r['status']}" for r in runs if r["status"] != "SUCCESS"]
                self._keep_log(point)
                raise RuntimeError(
                    f"dagster {shape.name}: {len(runs)} of {shape.runs} runs"
                    + (f", backfill {ended}" if ended else "")
                    + (f"; not successful: {', '.join(bad[:5])}" if bad else "")
                )
            if point.remaining() <= 0:
                done = sum(1 for r in runs if r["status"] in TERMINAL)
                self._keep_log(point)
                self.abort()
                raise ScaleTimeout(
                    f"dagster {shape.name}: {done} of {shape.runs} runs ended at the deadline"
                )
            time.sleep(POLL_S)

    def _keep_log(self, point: PointContext) -> None:
        """The end of ``dagster dev``'s log with the failed sample's logs."""
        if self.dev is None or not self.dev.log.is_file():
            return
        point.logs.mkdir(parents=True, exist_ok=True)
        text = self.dev.log.read_text(errors="replace")[-LOG_TAIL:]
        (point.logs / "dagster-dev.log").write_text(text)


def fanout_run_config(n: int, logical_date: str) -> dict[str, Any]:
    """The fan-out run's config: both ops take ``scale_job.FanoutConfig`` (``n`` and the
    logical date)."""
    cfg = {"config": {"n": n, "logical_date": logical_date}}
    return {"ops": {"items": cfg, "scale_task": cfg}}
