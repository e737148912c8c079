"""The ``dagster`` runner: the daily-partitioned assets (``definitions.py``) under
``dagster dev`` (webserver, daemon, code server), one deployment per scenario run.

- ``prepare_days``: write the run's instance (``DAGSTER_HOME`` under the matrix's
  services directory: SQLite, or production's database in the runner's PostgreSQL;
  telemetry off, run monitoring, one run at a time; ``services.py``) and start
  ``dagster dev`` on a free loopback port with the run's environment (world, journal,
  policy, partition range); wait for the code location.
- Harness-fired scenarios: ``run_date`` launches one run of job ``daily_retraining`` for
  the date's partition over GraphQL (``launchRun``, tag ``dagster/partition``) and
  awaits it; the daemon's run queue dequeues and launches it.
- System-scheduled scenarios (``fired_by``: "Dagster"): a real Dagster schedule (cron
  ``*/2 * * * *``: one simulated day per tick, the first date on an even minute), turned
  on over GraphQL once the day clock is written; the daemon's scheduler launches each
  tick's date, and after downtime evaluates the ticks it missed as Dagster decides
  (1.13: a schedule has no partition set, so only the latest tick). ``run_date`` and
  ``settle`` only await its runs. ``stop_scheduler`` SIGKILLs the ``dagster dev`` group
  (the host goes down, with whatever ran); ``start_scheduler`` starts it again on the
  same home and port. ``scheduler_crash``: the daemon is the scheduler; ``dagster dev``
  shuts its services down when it dies; ``restart_scheduler`` is a supervisor's restart
  of the unit: once ``dagster dev`` exited, what is left of its group (the code server,
  the run worker and step processes of the run in flight) is stopped (SIGTERM, a grace,
  SIGKILL), then ``dagster dev`` starts again. A run Dagster still shows in progress
  ``STUCK_S`` after such a restart is left to the operator.
- Timeout: Dagster has no per-op timeout; the job's tag ``dagster/max_runtime`` = the
  policy's ``timeout_s`` x (retries + 1) x 7 steps (the longest a run may take if every
  attempt used its timeout; ``definitions.py``), enforced by the daemon's run monitoring,
  which fails the run ("Exceeded maximum runtime"); it is not retried. The adapter kills
  nothing.
- ``recover``: the operator re-executes each date's latest run from the plan's step
  (``launchRunReexecution`` with the step keys from there on, what the UI's "Re-execute
  from selected" sends; the new run records parent and root run ids); the dates that
  never ran (the scheduler missed them) are one backfill of the job over their partitions
  (``launchPartitionBackfill``, the job's Partitions tab "Launch backfill"; the daemon's
  backfill loop submits one run per partition), consecutive dates together. A run
  Dagster still shows in progress (its worker died with a restart) is first terminated
  (the UI's "Terminate" with "Force termination immediately"). Each command journaled.
- ``collect``: ``python -m runners.dagster collect`` reads the instance (``native.py``).
- Profiles: ``default`` is Dagster as its docs set it up; ``tuned`` (not what the docs'
  quickstart gives you) runs the job on the in-process executor with a 5-s run failure
  sensor (``definitions.py``, told by ``ORCHBENCH_DAGSTER_PROFILE``) and polls run
  monitoring every 10 s and the run queue every second (``services.instance_yaml``);
  ``production`` keeps default's executor (multiprocess) and intervals and stores the
  instance in PostgreSQL (dagster-postgres): ``start`` starts one cluster
  (``orchbench.postgres``, loopback, fsync off) for the runner's life, each scenario run
  gets a database of its own in it, ``stop`` stops and removes the cluster.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from orchbench import postgres
from orchbench.card import source_literal
from orchbench.contracts import RecoveryPlan
from orchbench.procs import venv_versions
from orchbench.runner import (
    HARNESS,
    SYSTEM,
    WORLD_LEAD_S,
    DayClock,
    EnvironmentMissing,
    RunContext,
    Runner,
    RunTimeout,
)
from orchbench.workflow.spec import downstream_from
from runners.dagster.graphql import BACKFILL_TAG, TERMINAL, Api
from runners.dagster.plugin import PLUGINS
from runners.dagster.services import (
    DAGSTER_DEQUEUE_S,
    DAGSTER_POLL_S,
    STOP_GRACE_S,
    TUNED_DEQUEUE_S,
    TUNED_POLL_S,
    DagsterDev,
    clean_env,
)

ENV_PYTHON = "ORCHBENCH_DAGSTER_PYTHON"
JOB = "daily_retraining"
RUN_TAG = "orchbench/run"
DEFINITIONS_FILE = Path(__file__).with_name("definitions.py")
SCHEDULE = "daily_retraining_schedule"  # definitions.SCHEDULE
ALERT_SENSOR = "alert_on_failure"  # definitions.alert_on_failure
# how long past the sensor's interval the harness waits for its tick after the last failed
# run before stopping the deployment (the daemon's loop, a slow evaluation under load)
ALERT_TICK_MARGIN_S = 30.0
PARTITION_TAG = "dagster/partition"
DAEMON = "dagster-daemon"  # what a scheduler_crash kills
# a backfill that ended (every run submitted, or given up): GraphQL BulkActionStatus
BACKFILL_ENDED = frozenset(
    {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
)
POLL_S = 0.5
# op (step key) of each step: single assets are ops named by their asset; evaluate is a
# multi-asset (its op is named evaluate)
OP_OF = {
    "ingest": "raw",
    "validate": "validated",
    "featurize": "features",
    "train": "model",
    "evaluate": "evaluate",
    "register": "registration",
    "canary": "deployment",
}
# System-scheduled mode: one simulated day lasts DAY_S real seconds, one tick of the
# schedule's cron ``*/2 * * * *`` (a run of the 7 steps, each its own process, took 40 to
# 55 s here alone, 80 to 90 s beside the other lanes at load 8); the first date fires on
# an even minute, SCHEDULE_LEAD_S after the schedule is turned on (prepare_days waits for
# that moment).
DAY_S = 120.0
SCHEDULE_LEAD_S = 10.0
SETTLE_GRACE_S = 20.0  # after the last date: how long the scheduler may take to launch
# how long after dagster dev restarted under it a run Dagster still shows in progress is
# left to the operator: one run-monitoring poll (Dagster's default 120 s) and 30 s more
STUCK_S = 150.0
CRASH_EXIT_S = 30.0  # how long a supervisor waits for dagster dev to exit on its own
# production's PostgreSQL: fsync (and synchronous_commit) off, as the Airflow celery and
# Prefect pool profiles run theirs: a throwaway cluster on the machine's shared disk
FSYNC = False


def db_name(run_id: str) -> str:
    """The scenario run's database: ``dagster_`` and the run id in PostgreSQL's plain
    identifier characters (``20261206T110302Z-1a2b3c`` -> ``dagster_20261206t110302z_1a2b3c``)."""
    return "dagster_" + "".join(c if c.isalnum() else "_" for c in run_id.lower())[:50]


def first_tick(now: float) -> float:
    """The first tick of the schedule's cron (every ``DAY_S`` seconds from the epoch: even
    minutes) at least ``SCHEDULE_LEAD_S`` and a second after ``now``."""
    return (int((now + SCHEDULE_LEAD_S + 1) // DAY_S) + 1) * DAY_S


class DagsterRunner(Runner):
    """Dagster: daily-partitioned assets under ``dagster dev``."""

    name = "dagster"
    system = "Dagster"
    description = PLUGINS[0].description
    profiles: ClassVar[tuple[str, ...]] = ("default", "tuned", "production")
    runner_faults = frozenset({"scheduler_crash"})
    day_s: ClassVar[float | None] = DAY_S
    schedule_lead_s: ClassVar[float] = SCHEDULE_LEAD_S

    def __init__(self, profile: str = "default", repo_root: Path | None = None) -> None:
        super().__init__(profile, repo_root)
        self.services: Path | None = None
        self.dev: DagsterDev | None = None
        self.location: str | None = None
        self._first_tick: float | None = None  # the tick _align waited for (this run's)
        self._versions: dict[str, str] | None = None
        self.pg: postgres.PostgresCluster | None = None  # production: the runner's cluster

    # --- environment --------------------------------------------------------------------

    def python(self) -> Path:
        override = os.environ.get(ENV_PYTHON)
        if override:
            return Path(override)
        return self.repo_root / ".venvs" / "dagster" / "bin" / "python"

    def check_environment(self) -> None:
        py = self.python()
        if not os.access(py, os.X_OK):
            raise EnvironmentMissing(f"{py} not found: run `make setup` (builds .venvs/dagster)")
        if self.profile == "production" and (missing := postgres.available()):
            raise EnvironmentMissing(f"profile production needs PostgreSQL: {missing}")

    def versions(self) -> dict[str, str]:
        if self._versions is None:
            wanted = (
                "dagster",
                "dagster-webserver",
                "dagster-graphql",
                "dagster-postgres",
                "numpy",
                "pandas",
                "pandera",
                "scikit-learn",
            )
            self._versions = venv_versions(self.python(), wanted)
            if self.profile == "production":
                self._versions["postgresql"] = postgres.version()
        return self._versions

    def _tuning(self) -> dict[str, Any]:
        """The profile's executor, sensor and daemon intervals, from the definitions file's
        and ``services.py``'s own constants."""
        tuned = self.profile == "tuned"
        executor = source_literal(DEFINITIONS_FILE, "EXECUTOR")[self.profile]
        return {
            "executor": executor,
            "alert_s": source_literal(DEFINITIONS_FILE, "ALERT_INTERVAL_S")[self.profile],
            "poll_s": TUNED_POLL_S if tuned else DAGSTER_POLL_S,
            "dequeue_s": TUNED_DEQUEUE_S if tuned else DAGSTER_DEQUEUE_S,
            "whose": "tuned" if tuned else "Dagster's default",
        }

    def settings(self) -> dict[str, Any]:
        t = self._tuning()
        if t["executor"] == "in_process":
            executor = "in_process (in_process_executor: every step in the run worker)"
        else:
            executor = "multiprocess (Dagster's default: one process per step)"
        out: dict[str, Any] = {
            "profile": self.profile,
            "deployment": "dagster dev (webserver, daemon, code server) per scenario run",
            "storage": "SQLite under DAGSTER_HOME (the matrix's services directory)",
            "executor": executor,
            "run_coordinator": f"queued (Dagster's default), max_concurrent_runs 1, dequeued "
            f"every {t['dequeue_s']} s ({t['whose']})",
            "retries": "RetryPolicy(max_retries=policy.retries, delay=policy.retry_delay_s)",
            "timeout": "dagster/max_runtime = timeout_s x (retries + 1) x 7, run monitoring "
            f"polled every {t['poll_s']} s ({t['whose']})",
            "alert": f"@run_failure_sensor, minimum interval {t['alert_s']} s",
            "schedule": f"ScheduleDefinition {SCHEDULE}, cron */2 * * * *, {DAY_S:.0f}-s days "
            "(system-scheduled runs)",
            "restart": f"scheduler_crash: the dagster dev unit restarted (SIGTERM, "
            f"{STOP_GRACE_S:.0f} s, SIGKILL to its group)",
        }
        if self.profile == "production":
            out["storage"] = (
                "PostgreSQL (dagster-postgres, storage: postgres: postgres_db): the runner's "
                "cluster (orchbench.postgres, loopback, fsync off), one database per "
                "scenario run"
            )
            out["postgresql"] = {
                "version": postgres.version(),
                "fsync": FSYNC,
                "synchronous_commit": FSYNC,
                "port": self.pg.port if self.pg is not None else None,
            }
        return out

    def card(self) -> dict[str, str]:
        """The profile's card, from the definitions file's own constants (the executor, the
        sensors' intervals, the gate's output), ``services.py``'s daemon intervals and the
        day length of scheduler-fired runs."""
        t = self._tuning()
        cron = source_literal(DEFINITIONS_FILE, "CRON")
        gate = source_literal(DEFINITIONS_FILE, "GATE")
        if t["executor"] == "in_process":
            executor = "in-process executor (tuned): every step in the run worker's process"
        else:
            executor = "multiprocess executor (default): a process per step"
        return {
            "scheduler": f"dagster-daemon: a schedule (cron {cron}, {DAY_S:.0f}-s days) when "
            f"scheduler-fired; harness launches otherwise; run queue read every "
            f"{t['dequeue_s']} s",
            "executor": executor,
            "database": "PostgreSQL (fsync off), dagster-postgres instance storage"
            if self.profile == "production"
            else "SQLite instance storage under DAGSTER_HOME",
            "retries": "RetryPolicy(max_retries, delay) from the scenario policy",
            "timeouts": "run-level dagster/max_runtime (run monitoring, polled every "
            f"{t['poll_s']} s); no per-op timeout",
            "fail_fast": "Failure(allow_retries=False) on ValidationFailed/CanaryCheckFailed",
            "alerting": f"@run_failure_sensor (daemon, every {t['alert_s']} s) to the alert sink",
            "caching": "none; a re-execution of the failed step on reuses the upstream outputs",
            "parallelism": f"queued runs, max_concurrent_runs 1; optional {gate} output gates",
        }

    # --- services -----------------------------------------------------------------------

    def start(self, matrix_dir: Path) -> None:
        """The matrix's services directory; on ``production`` the runner's PostgreSQL
        cluster too (in a temp dir of its own, ``orchbench.postgres``), kept until
        ``stop``."""
        self.services = Path(matrix_dir).resolve()
        if self.profile == "production" and self.pg is None:
            pg = postgres.PostgresCluster(fsync=FSYNC)
            try:
                pg.start()
            except BaseException as e:  # a failed or interrupted start leaves nothing
                pg.remove()
                if isinstance(e, postgres.PostgresMissing | RuntimeError):
                    raise EnvironmentMissing(f"PostgreSQL for profile production: {e}") from e
                raise
            self.pg = pg

    def stop(self) -> None:
        """Stop the deployment, then the PostgreSQL cluster (its files removed)."""
        self.abort()
        if self.pg is not None:
            self.pg.remove()
            self.pg = None

    def abort(self) -> None:
        if self.dev is not None:
            self.dev.stop()
            self.dev = None

    @property
    def api(self) -> Api:
        if self.dev is None:
            raise RuntimeError("dagster dev is not running")
        return self.dev.api

    def clock_path(self, ctx: RunContext) -> Path:
        return ctx.work / "dagster" / "clock.json"

    def code_versions_path(self, ctx: RunContext) -> Path:
        """The team's bumps of the assets' ``code_version`` literals (step -> literal)."""
        return ctx.work / "dagster" / "code_versions.json"

    def run_env(self, ctx: RunContext) -> dict[str, str]:
        """What the code server (and so every run worker and step process) runs with."""
        home = self._home(ctx)
        env = {
            **clean_env(),
            **ctx.step_env(),
            "HOME": str(home / "home"),
            "PYTHONUNBUFFERED": "1",
            "ORCHBENCH_POLICY": ctx.scenario.policy.model_dump_json(),
            "ORCHBENCH_DAGSTER_ARTIFACTS": str(ctx.work / "artifacts" / self.name),
            "ORCHBENCH_DAGSTER_FIRST_DATE": ctx.dates[0].isoformat(),
            "ORCHBENCH_DAGSTER_LAST_DATE": ctx.dates[-1].isoformat(),
            "ORCHBENCH_DAGSTER_TAG": ctx.run_id,
            "ORCHBENCH_DAGSTER_CODE_VERSIONS": str(self.code_versions_path(ctx)),
            "ORCHBENCH_DAGSTER_PROFILE": self.profile,
        }
        if self._system(ctx):
            env["ORCHBENCH_DAGSTER_CLOCK"] = str(self.clock_path(ctx))
        return env

    def postgres_db(self, ctx: RunContext) -> dict[str, Any] | None:
        """On ``production``: the scenario run's database in the runner's cluster, as
        ``dagster.yaml``'s ``postgres_db`` names it; None otherwise."""
        if self.profile != "production":
            return None
        if self.pg is None:
            raise RuntimeError("profile production: the PostgreSQL cluster is not running")
        return {
            "username": self.pg.superuser,
            "hostname": "127.0.0.1",
            "port": self.pg.port,
            "db_name": db_name(ctx.run_id),
        }

    def _home(self, ctx: RunContext) -> Path:
        base = self.services or (ctx.work / "dagster")
        return base / "dagster_home" / ctx.run_id

    # --- hooks of the base runner's day loop --------------------------------------------

    def fired_by(self, ctx: RunContext) -> str:
        """Dagster's daemon (the schedule) fires a system-scheduled run's dates; the
        harness otherwise."""
        return self.system if ctx.scheduling == SYSTEM else HARNESS

    def _system(self, ctx: RunContext) -> bool:
        return self.fired_by(ctx) != HARNESS

    def prepare_days(self, ctx: RunContext) -> None:
        self._first_tick = None
        home = self._home(ctx)
        (home / "home").mkdir(parents=True, exist_ok=True)
        ctx.logs.mkdir(parents=True, exist_ok=True)
        db = self.postgres_db(ctx)
        if db is not None:
            assert self.pg is not None
            self.pg.create_database(db["db_name"])
        self.dev = DagsterDev(
            self.python(),
            home,
            self.run_env(ctx),
            self.repo_root,
            ctx.logs / "dagster-dev.log",
            profile=self.profile,
            postgres_db=db,
        )
        self.location = self.dev.start(ctx.deadline)
        if self._system(ctx):
            self._align(ctx)

    def _align(self, ctx: RunContext) -> None:
        """Wait until the first even minute at least ``SCHEDULE_LEAD_S`` (and a second)
        away is exactly ``SCHEDULE_LEAD_S`` away: the day clock then starts on a tick of
        the schedule's cron."""
        first = first_tick(time.time())
        self._first_tick = first
        while (left := first - SCHEDULE_LEAD_S - time.time()) > 0:
            if ctx.remaining() <= 0:
                raise RunTimeout(f"{self.name}: deadline reached before the schedule")
            time.sleep(min(0.2, left))

    def first_fire(self, ctx: RunContext) -> float:
        """The schedule's tick ``_align`` waited for: the day clock starts on it, not
        ``SCHEDULE_LEAD_S`` after whenever ``prepare_days`` returned (3.3 s after the tick
        in a conformance run of 2026-12-06 17:42, so the outage's stop, due a second
        before day 2, came 2.3 s after the daemon had launched day 2's tick)."""
        if self._first_tick is None:
            return super().first_fire(ctx)
        return self._first_tick

    def schedule_days(self, ctx: RunContext, clock: DayClock) -> None:
        """Write the day clock the schedule maps its ticks with, then turn the schedule on
        (the UI's toggle), before its first tick."""
        path = self.clock_path(ctx)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "start": clock.start,
                    "day_s": clock.day_s,
                    "dates": [d.isoformat() for d in clock.dates],
                }
            )
        )
        tmp.replace(path)
        status = self.api.start_schedule(self._location(), SCHEDULE)
        self._note(ctx, f"schedule {SCHEDULE} turned on ({status}); day 1 at {clock.start:.3f}")

    def deploy_code(self, ctx: RunContext, step: str, revision: int) -> None:
        """New code in the team's repository: the team bumps the step's asset
        ``code_version`` literal to the revision (the change's own commit, as Dagster's
        asset versioning asks), then reloads the code location (the UI's "Reload")."""
        path = self.code_versions_path(ctx)
        bumped = json.loads(path.read_text()) if path.exists() else {}
        bumped[step] = str(revision)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(bumped))
        status = self.api.reload(self._location())
        ctx.logs.mkdir(parents=True, exist_ok=True)
        with (ctx.logs / "dagster-deploys.log").open("a") as f:
            f.write(
                f"{step} revision {revision}: code_version {bumped[step]!r}; "
                f"reloadRepositoryLocation -> {status}\n"
            )

    def _location(self) -> str:
        assert self.location is not None
        return self.location

    def _tags(self, ctx: RunContext, logical_date: str) -> dict[str, str]:
        return {PARTITION_TAG: logical_date, RUN_TAG: ctx.run_id}

    def run_date(self, ctx: RunContext, date: dt.date) -> None:
        logical_date = date.isoformat()
        if self._system(ctx):
            self._await_fired(ctx, date)
            return
        run_id = self.api.launch(self._location(), JOB, self._tags(ctx, logical_date))
        self._await_run(ctx, run_id, f"{logical_date}'s run {run_id}")

    def _runs(self) -> list[dict[str, Any]]:
        try:
            return self.api.runs()
        except OSError:
            return []  # dagster dev is down or restarting: nothing to read now

    def _await_run(self, ctx: RunContext, run_id: str, what: str) -> None:
        while True:
            self.watch(ctx, what)
            run = next((r for r in self._runs() if r["runId"] == run_id), None)
            if run is not None and run["status"] in TERMINAL:
                return
            time.sleep(POLL_S)

    def _stuck(self, run: dict[str, Any]) -> bool:
        """A run Dagster shows in progress that began before ``dagster dev`` last
        restarted, ``STUCK_S`` after that restart: its worker died with the old group and
        Dagster has not noticed (the default run launcher has no worker health check).
        What an operator watching the UI gives up on."""
        if self.dev is None or self.dev.starts < 2 or run["status"] in TERMINAL:
            return False
        began = run.get("startTime")
        restarted = self.dev.started_at
        return began is not None and began < restarted and time.time() > restarted + STUCK_S

    def _await_fired(self, ctx: RunContext, date: dt.date) -> None:
        """Await the run the schedule launched for ``date``: until it finished, or until
        the next date is due."""
        assert ctx.clock is not None
        logical_date = date.isoformat()
        k = ctx.clock.dates.index(date)
        until = ctx.clock.start + (k + 1) * ctx.clock.day_s - WORLD_LEAD_S
        while time.time() < until:
            self.watch(ctx, f"{logical_date}'s run")
            runs = [r for r in self._runs() if r["tags"].get(PARTITION_TAG) == logical_date]
            if runs and all(r["status"] in TERMINAL for r in runs):
                return
            time.sleep(POLL_S)

    def settle(self, ctx: RunContext) -> None:
        """Await every run the daemon launches for the run's dates: until each date has
        a run and none is queued or running (giving the scheduler ``SETTLE_GRACE_S`` to
        launch a date after the last one was due); a run left stuck by a restart
        (``_stuck``) is the operator's."""
        assert ctx.clock is not None
        dates = {d.isoformat() for d in ctx.clock.dates}
        grace_end = max(time.time(), ctx.clock.end) + SETTLE_GRACE_S
        while True:
            self.watch(ctx, "the scheduler's runs")
            runs = self._runs()
            fired = {r["tags"].get(PARTITION_TAG) for r in runs}
            busy = [r for r in runs if r["status"] not in TERMINAL and not self._stuck(r)]
            up = self.dev is not None and self.dev.alive()
            if up and not busy and (dates <= fired or time.time() > grace_end):
                return
            time.sleep(POLL_S)

    def stop_scheduler(self, ctx: RunContext) -> None:
        """The host goes down: SIGKILL the whole ``dagster dev`` group (webserver, daemon,
        code server, and any run in flight with it)."""
        if self.dev is not None:
            self.dev.kill()
            self._note(ctx, "the host is down: dagster dev SIGKILLed")

    def start_scheduler(self, ctx: RunContext) -> None:
        """The host is back: ``dagster dev`` starts again on the same home and port; what
        its scheduler does about the ticks it missed is Dagster's."""
        if self.dev is not None:
            self.location = self.dev.start(ctx.deadline)
            self._note(ctx, "the host is back: dagster dev started")

    def scheduler_processes(self, ctx: RunContext) -> dict[str, list[int]]:
        """The daemon ``dagster dev`` started (schedules, sensors, the run queue, run
        monitoring). When it dies ``dagster dev`` shuts down the webserver and the code
        server too."""
        if self.dev is None:
            return {}
        return {DAEMON: self.dev.daemon_pids()}

    def restart_scheduler(self, ctx: RunContext, crash: dict[str, Any]) -> bool:
        """A supervisor's restart of the ``dagster dev`` unit (systemd, k8s): once
        ``dagster dev`` exited (it shuts its services down when the daemon died; up to
        ``CRASH_EXIT_S``), every process left in its group (the code server, the run
        worker and step processes of the run in flight) is stopped as systemd stops a
        unit (SIGTERM, ``STOP_GRACE_S``, SIGKILL), then ``dagster dev`` starts again on
        the same home and port. Whatever Dagster then does about the run in flight is
        its own."""
        if self.dev is None:
            return False
        end = time.monotonic() + CRASH_EXIT_S
        while self.dev.alive() and time.monotonic() < end:
            time.sleep(0.2)
        exited = not self.dev.alive()
        killed = self.dev.stop_unit()
        self.location = self.dev.start(ctx.deadline)
        self._note(
            ctx,
            f"{crash}: dagster dev {'had exited' if exited else 'still running'}; "
            f"its group stopped (SIGTERM, then SIGKILL to {killed or 'nothing'}); restarted",
        )
        return True

    def _note(self, ctx: RunContext, text: str) -> None:
        ctx.logs.mkdir(parents=True, exist_ok=True)
        with (ctx.logs / "dagster-scheduler.log").open("a") as f:
            f.write(f"{time.time():.3f} {text}\n")

    # --- recovery and the trace -----------------------------------------------------------

    def recover(self, ctx: RunContext, plan: RecoveryPlan) -> None:
        if not plan.restart_from:
            return
        if self.dev is None or not self.dev.alive():
            raise RuntimeError("dagster dev is not running for the recovery")
        never: list[str] = []  # consecutive dates with no run yet: one backfill
        for logical_date, step in sorted(plan.restart_from.items()):
            runs = [r for r in self._runs() if r["tags"].get(PARTITION_TAG) == logical_date]
            if not runs:
                never.append(logical_date)
                continue
            self._backfill(ctx, never)
            never = []
            tags = self._tags(ctx, logical_date)
            keys = [OP_OF[s] for s in downstream_from(step)]
            if runs[0]["status"] not in TERMINAL:  # a worker that died with a restart
                ctx.operator(
                    f"dagster UI: terminate run {runs[0]['runId']} "
                    "(force termination immediately: terminateRun MARK_AS_CANCELED_IMMEDIATELY)"
                )
                answer = self.api.terminate(runs[0]["runId"])
                self._note(ctx, f"terminate {runs[0]['runId']}: {answer}")
                runs = [r for r in self._runs() if r["tags"].get(PARTITION_TAG) == logical_date]
            parent = runs[0]  # newest first
            ctx.operator(
                f"dagster UI: re-execute run {parent['runId']} from {OP_OF[step]} "
                f"(launchRunReexecution, stepKeys {','.join(keys)})"
            )
            run_id = self.api.reexecute(self._location(), JOB, tags, parent, keys)
            self._await_recovery(ctx, lambda run_id=run_id: [run_id])
        self._backfill(ctx, never)

    def _backfill(self, ctx: RunContext, dates: list[str]) -> None:
        """The dates no run was launched for (missed by the scheduler): one backfill of the
        job over their partitions, as the job's Partitions tab launches it; awaited until
        each date's run ended."""
        if not dates:
            return
        ctx.operator(
            f"dagster UI: job {JOB}, Partitions, launch backfill of {','.join(dates)} "
            "(launchPartitionBackfill)"
        )
        backfill_id = self.api.backfill(self._location(), JOB, dates, {RUN_TAG: ctx.run_id})
        self._note(ctx, f"backfill {backfill_id} of {dates}")

        def runs() -> list[str] | None:
            status = self.api.backfill_status(backfill_id)  # first: its runs exist by then
            mine = [r for r in self._runs() if r["tags"].get(BACKFILL_TAG) == backfill_id]
            if {r["tags"].get(PARTITION_TAG) for r in mine} >= set(dates):
                return [r["runId"] for r in mine]
            if status in BACKFILL_ENDED:
                raise RuntimeError(f"backfill {backfill_id} {status} before launching {dates}")
            return None

        self._await_recovery(ctx, runs)

    def _await_recovery(self, ctx: RunContext, run_ids: Callable[[], list[str] | None]) -> None:
        """Until every run ``run_ids`` names (None: not all launched yet) has ended."""
        while True:
            if ctx.remaining() <= 0:
                raise RunTimeout(f"{self.name}: recovery runs still running")
            wanted = run_ids()
            status = {r["runId"]: r["status"] for r in self._runs()}
            if wanted is not None and all(status.get(i) in TERMINAL for i in wanted):
                return
            time.sleep(POLL_S)

    def await_alerting(self, ctx: RunContext) -> None:
        """Before the deployment stops: until the run failure sensor has evaluated after
        the last failed run ended (at most its interval and ``ALERT_TICK_MARGIN_S``, within
        the run's deadline). A deployment's daemon keeps running after a failure, so its
        sensor alerts within its interval; stopping it sooner would hide an alert Dagster
        sends (a schema_break day recovered 18 s after its run failed, inside the 30-s
        interval, in the conformance bench of 2026-12-06 17:20). Nothing is done for
        Dagster here: whether the tick alerts is its own, and the alert's time is its own.
        """
        if self.location is None or self.dev is None or not self.dev.alive():
            return
        failed = [r["endTime"] for r in self._runs() if r["status"] == "FAILURE"]
        if not failed or not all(failed):
            return
        last = max(failed)
        interval = self._tuning()["alert_s"]
        until = time.time() + min(interval + ALERT_TICK_MARGIN_S, ctx.remaining())
        while time.time() < until:
            try:
                if self.api.sensor_ticked_after(self._location(), ALERT_SENSOR, last):
                    return
            except OSError:
                return  # dagster dev is down: its sensor will not tick
            time.sleep(POLL_S * 4)
        self._note(ctx, f"no tick of {ALERT_SENSOR} after the last failed run within {interval} s")

    def collect(self, ctx: RunContext) -> list[dict[str, Any]]:
        """The instance's records, read by Dagster's own Python API, once every run is
        over and the failure sensor has had its tick (``await_alerting``; ``native.py``);
        then the deployment stops."""
        try:
            self.await_alerting(ctx)
            res = subprocess.run(
                [
                    str(self.python()),
                    "-m",
                    "runners.dagster",
                    "collect",
                    "--alerts",
                    str(ctx.world.alerts),
                ],
                env={**self.run_env(ctx), "DAGSTER_HOME": str(self._home(ctx))},
                cwd=self.repo_root,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
        finally:
            self.abort()
        if res.returncode != 0:
            (ctx.logs / "dagster-collect.log").write_text(res.stdout + res.stderr)
            raise RuntimeError(f"reading Dagster's records failed: {res.stderr[-300:]}")
        return [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
