"""The Airflow runner: drives the real Airflow 3 stack the way its users do.

- ``start``: one deployment per matrix, reached through a mode (``modes.py``: our own
  LocalExecutor or CeleryExecutor stack under the matrix directory, or the user's).
- ``run_days``: deploys this scenario run's DAG (``dags/orchbench_retrain.py`` + one
  deployment file), then, one simulated day after another, triggers the run for that
  logical date through the REST API and waits for Airflow to finish it. When a scenario's
  claim is about the scheduler (``RunContext.scheduling`` SYSTEM), Airflow's scheduler
  fires the dates instead: the deployment gets a ``ScenarioTimetable`` (the scenario's
  dates on a real-clock ``DayClock``), ``catchup=True`` and a sensor before ingest
  (``schedule_days``), and each date's run is awaited, never triggered.
- ``recover``: Airflow's own mechanism: for each date of the plan, one ``clearTaskInstances``
  (the restart task and everything downstream of it) -- one operator action each -- then
  waits for the runs.
- ``collect``: the REST API and the OpenLineage event file (``native.Collector``).
- ``--airflow-url`` (env ``ORCHBENCH_AIRFLOW_URL``): the same against a deployment the user
  runs (``modes.RemoteDeployment``), with the bundle ``export`` writes; nothing is started.

Only orchestration lives here: no metric is computed.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any, ClassVar

from orchbench.card import short_class, source_keyword, source_strings
from orchbench.contracts import RecoveryPlan
from orchbench.overhead import probe_entry
from orchbench.procs import venv_versions
from orchbench.runner import (
    HARNESS,
    SYSTEM,
    WORLD_LEAD_S,
    DayClock,
    NotApplicable,
    RunContext,
    Runner,
    RunTimeout,
)
from orchbench.workflow.spec import STEP_NAMES
from runners.airflow.api import APIError, q
from runners.airflow.modes import ENV_URL, CeleryStack, Deployment, LocalStack, mode_for
from runners.airflow.native import SENSOR, Collector
from runners.airflow.stack import CELERY_CONCURRENCY, CELERY_WORKERS, DAGS_SRC, PROFILES

log = logging.getLogger("orchbench")

POLL_S = 0.2
MARK_FAILED_CHECKS = 10  # read-backs after "mark failed" (POLL_S apart)
# Reading smaps_rollup of the stack's ~40 processes costs ~0.2 s CPU: every 2 s that was
# ~7 s of harness CPU per run (py-spy, `orchbench run scenarios/clean.yaml --runner
# airflow`), competing with Airflow for the cores. Every 10 s still sees the steady stack
# plus whatever task processes are alive at the moment.
PSS_EVERY_S = 10.0
FINISHED = ("success", "failed")
# After the last date, how long ``settle`` waits for a run Airflow has not created yet,
# in days (``day_s``): the scheduler creates a due run within a loop or two (~1 s).
SETTLE_DAYS = 2.0
RUNNER_ARTIFACTS = "airflow"
DAG_FILE = DAGS_SRC / "orchbench_retrain.py"  # the pipeline (read, never imported, here)
IDLE_SLEEP = "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"
DB_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL (fsync off)"}
KEY_PACKAGES = (
    "apache-airflow",
    "apache-airflow-core",
    "apache-airflow-task-sdk",
    "apache-airflow-providers-standard",
    "apache-airflow-providers-openlineage",
    "openlineage-python",
    "sqlalchemy",
    "fastapi",
    "numpy",
    "pandas",
    "pandera",
    "pydantic",
    "scikit-learn",
)


class AirflowRunner(Runner):
    name: ClassVar[str] = "airflow"
    system: ClassVar[str] = "Apache Airflow"
    description: ClassVar[str] = (
        "Airflow 3: api-server + scheduler + dag-processor, LocalExecutor, SQLite; "
        "TaskFlow DAG, clear-and-rerun recovery; --profile celery: CeleryExecutor, "
        "2 workers, Redis, PostgreSQL"
    )
    profiles: ClassVar[tuple[str, ...]] = ("default", "tuned", "celery")
    # System-scheduled runs (README "Who fires the dates"): real seconds per simulated
    # day. Measured on default, 2 cores shared with 3 other benchmark runs (load average
    # 7-9, as the conformance bench's 3 lanes): a warm day's dag run (sensor, 8 tasks,
    # the gate) 20-25 s, 38 s with backfill_transient's retry; the stack's first dag
    # run ~60 s (its first task processes start cold). A day that overruns delays the
    # next date's run (max_active_runs=1), it is not lost.
    day_s: ClassVar[float | None] = 30.0
    # schedule_days deploys the DAG with its timetable and returns once the dag
    # processor has parsed it and Airflow shows the first date's run_after (2.6 s
    # measured under that load); the lead covers it with room.
    schedule_lead_s: ClassVar[float] = 8.0

    def __init__(self, profile: str = "default", repo_root: Path | None = None) -> None:
        super().__init__(profile, repo_root)
        self.venv = self.repo_root / ".venvs" / "airflow"
        # --airflow-url: drive that deployment; start, stop and kill nothing of it
        self.mode = mode_for(profile, self.venv, os.environ.get(ENV_URL) or None)
        self.runner_faults = self.mode.runner_faults
        self.dag_id: str | None = None
        self.runs: dict[str, str] = {}  # logical date -> dag_run_id (this scenario run)
        self.pss_peak_mb: float | None = None
        self._pss_at = 0.0

    @property
    def stack(self) -> Deployment | None:
        """The deployment in use (None when stopped)."""
        return self.mode.stack

    # --- environment and services ------------------------------------------------------

    def check_environment(self) -> None:
        self.mode.check_environment()

    def start(self, matrix_dir: Path) -> None:
        """This matrix's deployment: a fresh stack (new metadata DB) under
        ``matrix_dir/airflow``, or a check that the user's has the bundle."""
        self.mode.start(Path(matrix_dir) / "airflow")

    def stop(self) -> None:
        self.mode.stop()

    def abort(self) -> None:
        """Stop this run's dag runs (Airflow's "mark failed") and kill their task processes;
        pause the DAG first, so its timetable creates no more runs (system-scheduled).

        The deployment itself stays up for the next run of the matrix; if our stack does not
        answer, it is killed whole (and restarted by the next run).
        """
        if self.stack is None:
            return
        try:
            if self.dag_id is not None:
                self._pause()
                self._fail_active_runs()
            time.sleep(0.5)
            self.stack.kill_tasks()
        except (APIError, OSError) as e:
            self.mode.unreachable(e)

    # --- one scenario run --------------------------------------------------------------

    def fired_by(self, ctx: RunContext) -> str:
        """Airflow's scheduler fires a system-scheduled run's dates (its own timetable);
        the harness triggers the others."""
        return self.system if ctx.scheduling == SYSTEM else HARNESS

    def deployment(self, ctx: RunContext, clock: DayClock | None = None) -> dict[str, Any]:
        """The deployment file of this scenario run (read by the DAG file); with a
        ``clock``, Airflow's scheduler fires the dates (timetable, catchup, sensor)."""
        dates = ctx.dates
        policy = ctx.scenario.policy
        scheduled: dict[str, Any] = {}
        if clock is not None:
            scheduled = {
                "catchup": True,
                "schedule": {"fires": {d.isoformat(): clock.fires_at(d) for d in dates}},
                # the sensor waits as long as the policy lets ingest's tries take
                "wait_for_landing": {
                    "poke_interval_s": policy.retry_delay_s,
                    "timeout_s": policy.timeout_s * (policy.retries + 1),
                },
            }
        return {
            "dag_id": f"retrain__{ctx.scenario.name}__{ctx.run_id}",
            "scenario": ctx.scenario.name,
            "run_id": ctx.run_id,
            "runner": ctx.runner,
            "world": str(ctx.world.root),
            "journal": str(ctx.journal),
            "artifacts": str(ctx.world.artifacts_dir(RUNNER_ARTIFACTS)),
            "start_date": dates[0].isoformat(),
            "end_date": dates[-1].isoformat(),
            "catchup": False,
            "policy": policy.model_dump(),
            **scheduled,
        }

    # --- hooks of the base runner's day loop --------------------------------------------

    def prepare_days(self, ctx: RunContext) -> None:
        """Deploy the scenario run's DAG and wait until the dag processor has parsed it
        (a system-scheduled run is deployed by ``schedule_days``, once its clock is set)."""
        stack = self.mode.ensure(ctx.work / "airflow")
        dep = self.deployment(ctx)
        self.dag_id, self.runs, self.pss_peak_mb = dep["dag_id"], {}, stack.pss_idle_mb
        if self.fired_by(ctx) == HARNESS:
            self._deploy(ctx, dep)

    def _deploy(self, ctx: RunContext, dep: dict[str, Any]) -> dict[str, Any]:
        assert self.stack is not None
        self.stack.deploy(dep)
        try:
            return self.stack.wait_dag(dep["dag_id"], min(ctx.deadline, time.monotonic() + 120))
        except TimeoutError as e:
            raise RunTimeout(str(e)) from None

    def schedule_days(self, ctx: RunContext, clock: DayClock) -> None:
        """Deploy the DAG with the scenario's dates as its timetable and catchup on, and
        return once Airflow shows the first date's run as next (parsed, unpaused, the
        timetable's ``run_after`` in the DAG's ``next_dagrun_run_after``)."""
        assert self.stack is not None
        dep = self.deployment(ctx, clock)
        self._deploy(ctx, dep)
        first = dt.datetime.fromtimestamp(clock.fires_at(clock.dates[0]), dt.UTC)
        api = self.stack.api()
        while True:
            dag = api.get(f"/dags/{q(dep['dag_id'])}")
            after = dag.get("next_dagrun_run_after")
            if after and abs(dt.datetime.fromisoformat(after) - first) < dt.timedelta(seconds=1):
                break
            self.watch(ctx, "the DAG's first scheduled run to show")
            time.sleep(POLL_S)
        log.info(
            "airflow: %s scheduled; first run after %s (in %.1f s)",
            dep["dag_id"], first, clock.fires_at(clock.dates[0]) - time.time(),
        )  # fmt: skip

    def deploy_code(self, ctx: RunContext, step: str, revision: int) -> None:
        """What an Airflow team does once new code is in place: re-parse the DAG bundle
        (``airflow dags reserialize``), so the scheduler runs what the files now say.
        Airflow makes a new DAG version only when the serialized DAG changes
        (``SerializedDagModel.write_dag``); a change inside the code a task imports does
        not change it, and the task processes import the new module anyway."""
        cmd = self.mode.reparse()
        log.info("airflow: deployed %s revision %s; re-parsed: %s", step, revision, cmd)

    def run_date(self, ctx: RunContext, date: dt.date) -> None:
        """Trigger the date's dag run over the REST API and wait for it; when Airflow's
        scheduler fires the dates, await the run it creates for ``date`` instead."""
        assert self.stack is not None and self.dag_id is not None
        if ctx.clock is not None:
            self._await_scheduled(ctx, date, ctx.clock)
            return
        run = self.stack.api().post(
            f"/dags/{q(self.dag_id)}/dagRuns",
            {"logical_date": f"{date.isoformat()}T00:00:00Z", "note": f"orchbench {ctx.run_id}"},
        )
        self.runs[date.isoformat()] = run["dag_run_id"]
        log.info("airflow: triggered %s for %s", run["dag_run_id"], date)
        self._wait(ctx, [run["dag_run_id"]])

    def _await_scheduled(self, ctx: RunContext, date: dt.date, clock: DayClock) -> None:
        """Poll for the dag run Airflow's scheduler created for ``date`` until it finished,
        or until the next date is due: the world moves on time whatever Airflow is doing
        (a run still running or queued is awaited by a later date or ``settle``)."""
        later = clock.dates[clock.dates.index(date) + 1 :]
        next_due = clock.fires_at(later[0]) - WORLD_LEAD_S if later else None
        key = date.isoformat()
        while True:
            self._sample_pss()
            runs = self._scheduled_runs()
            run = runs.get(key)
            if run is not None:
                self.runs[key] = run["dag_run_id"]
                if run["state"] in FINISHED:
                    self.watch(ctx, None)
                    return
            if next_due is not None and time.time() >= next_due:
                state = "not created" if run is None else run["state"]
                log.info("airflow: %s %s when the next date is due", date, state)
                return
            self.watch(ctx, f"the scheduled dag run of {date}")
            time.sleep(POLL_S)

    def _scheduled_runs(self) -> dict[str, dict[str, Any]]:
        """logical date -> this DAG's dag run for it (Airflow allows one per logical date)."""
        assert self.stack is not None and self.dag_id is not None
        out: dict[str, dict[str, Any]] = {}
        for r in self.stack.api().paged(f"/dags/{q(self.dag_id)}/dagRuns", "dag_runs"):
            out[(r.get("logical_date") or "")[:10]] = r
        return out

    def settle(self, ctx: RunContext) -> None:
        """After the last date: wait until no dag run of this DAG is queued or running and
        Airflow creates no more (every date has a run, or the DAG shows no next run, or
        none came for ``SETTLE_DAYS`` days)."""
        assert self.stack is not None and self.dag_id is not None and ctx.clock is not None
        api = self.stack.api()
        wanted = {d.isoformat() for d in ctx.dates}
        quiet_since, seen = time.monotonic(), -1
        while True:
            self._sample_pss()
            runs = self._scheduled_runs()
            for date, r in runs.items():
                if date in wanted:
                    self.runs[date] = r["dag_run_id"]
            if len(runs) != seen:
                quiet_since, seen = time.monotonic(), len(runs)
            active = [r["dag_run_id"] for r in runs.values() if r["state"] not in FINISHED]
            if not active:
                nxt = api.get(f"/dags/{q(self.dag_id)}").get("next_dagrun_run_after")
                if wanted <= set(runs) or nxt is None:
                    return
                if time.monotonic() - quiet_since > SETTLE_DAYS * ctx.clock.day_s:
                    log.info("airflow: no run for %s came", sorted(wanted - set(runs)))
                    return
            self.watch(ctx, f"dag runs {active or 'to be created'}")
            time.sleep(POLL_S)

    def scheduler_down(self, ctx: RunContext, date: dt.date) -> None:
        log.info("airflow: scheduler down on %s: no run", date)

    def stop_scheduler(self, ctx: RunContext) -> None:
        """The scheduler host goes down: SIGKILL the ``airflow scheduler`` process and
        everything in its session (its LocalExecutor workers). The api-server,
        dag-processor (and the celery workers) stay up: they create no dag run."""
        if not self.mode.owns_scheduler:
            raise NotApplicable("the scheduler of a remote Airflow deployment is not ours to stop")
        killed = self.mode.stop_scheduler()
        log.info("airflow: scheduler stopped (SIGKILL to %s)", killed)

    def start_scheduler(self, ctx: RunContext) -> None:
        """The host is back: start ``airflow scheduler`` again, as its service would."""
        if not self.mode.owns_scheduler:
            raise NotApplicable("the scheduler of a remote Airflow deployment is not ours to start")
        pid = self.mode.restart_scheduler()
        log.info("airflow: scheduler started again as pid %s", pid)

    def scheduler_processes(self, ctx: RunContext) -> dict[str, list[int]]:
        """The scheduler process of our stack (a remote deployment's is not ours)."""
        return self.mode.scheduler_processes()

    def restart_scheduler(self, ctx: RunContext, crash: dict[str, Any]) -> None:
        """Start the killed scheduler again, as a supervisor would."""
        pid = self.mode.restart_scheduler()
        log.info("airflow: scheduler killed (%s); restarted as pid %s", crash, pid)

    def recover(self, ctx: RunContext, plan: RecoveryPlan) -> None:
        """Clear the restart task and everything downstream of it, date by date.

        When the restart task itself failed, only failed (and upstream-failed) task
        instances are cleared, as in the UI's default. When it succeeded but produced bad
        data (a fault entered there), the operator clears it too (``only_failed`` off):
        a good Airflow user re-runs the task that let the bad data in. A run restarting at
        ingest whose sensor did not succeed is cleared from the sensor (``_waited_from``). Runs
        are found by logical date, whoever created them (scheduled, manual, backfill).
        """
        assert self.stack is not None and self.dag_id is not None
        api = self.stack.api()
        dag = q(self.dag_id)
        missing = sorted(d for d in plan.restart_from if d not in self.runs)
        cleared = self._backfill(ctx, missing) if missing else []
        for date, step in sorted(plan.restart_from.items()):
            rid = self.runs.get(date)
            if rid is None or date in missing:
                continue
            ti = api.get(f"/dags/{dag}/dagRuns/{q(rid)}/taskInstances/{q(step)}")
            only_failed = ti["state"] in ("failed", "upstream_failed")
            step = self._waited_from(rid, step)
            ctx.operator(
                f"airflow tasks clear {self.dag_id} --task-regex '^{step}$' --downstream "
                f"--start-date {date} --end-date {date}"
                + (" --only-failed" if only_failed else "")
                + " --yes"
            )
            api.post(
                f"/dags/{dag}/clearTaskInstances",
                {
                    "dry_run": False,
                    "dag_run_id": rid,
                    "task_ids": [step],
                    "include_downstream": True,
                    "include_upstream": False,
                    "only_failed": only_failed,
                    "reset_dag_runs": True,
                },
            )
            cleared.append(rid)
            log.info("airflow: cleared %s from %s (only_failed=%s)", rid, step, only_failed)
        time.sleep(POLL_S)  # the cleared runs are queued; let the scheduler pick them up
        self._wait(ctx, cleared)

    def _waited_from(self, rid: str, step: str) -> str:
        """Where the operator clears from: ``step``, or the sensor before it when the
        sensor did not succeed (timed out, or failed by Airflow: clearing ingest alone
        would leave ingest upstream_failed again)."""
        assert self.stack is not None and self.dag_id is not None
        if step != STEP_NAMES[0]:
            return step
        try:
            sensor = self.stack.api().get(
                f"/dags/{q(self.dag_id)}/dagRuns/{q(rid)}/taskInstances/{SENSOR}"
            )
        except APIError as e:
            if e.status == 404:  # a triggered deployment: no sensor
                return step
            raise
        return step if sensor["state"] == "success" else SENSOR

    def _backfill(self, ctx: RunContext, dates: list[str]) -> list[str]:
        """Dates that never got a run (the scheduler was down): one Airflow 3 backfill.

        ``reprocess_behavior: none`` creates runs only for the dates in the range that have
        none; one backfill run at a time (days share the registry). Returns their run ids.
        """
        assert self.stack is not None and self.dag_id is not None
        api = self.stack.api()
        first, last = dates[0], dates[-1]
        ctx.operator(
            f"airflow backfill create --dag-id {self.dag_id} --from-date {first} "
            f"--to-date {last} --reprocess-behavior none --max-active-runs 1"
        )
        bf = api.post(
            "/backfills",
            {
                "dag_id": self.dag_id,
                "from_date": f"{first}T00:00:00Z",
                "to_date": f"{last}T00:00:00Z",
                "reprocess_behavior": "none",
                "max_active_runs": 1,
            },
        )
        log.info("airflow: backfill %s for %s..%s", bf.get("id"), first, last)
        wanted = set(dates)
        end = time.monotonic() + 60
        while True:
            got = {
                (r.get("logical_date") or "")[:10]: r["dag_run_id"]
                for r in api.paged(f"/dags/{q(self.dag_id)}/dagRuns", "dag_runs")
                if r.get("run_type") == "backfill"
            }
            if wanted <= set(got) or time.monotonic() > min(end, ctx.deadline):
                break
            time.sleep(POLL_S)
        for d in wanted & set(got):
            self.runs[d] = got[d]
        if not wanted <= set(got):
            log.warning("airflow: backfill created no run for %s", sorted(wanted - set(got)))
        return [got[d] for d in sorted(wanted & set(got))]

    def _wait(self, ctx: RunContext, run_ids: list[str]) -> None:
        """Poll the dag runs until Airflow says they are finished; honour the deadline."""
        assert self.stack is not None and self.dag_id is not None
        api = self.stack.api()
        pending = list(run_ids)
        while pending:
            self._sample_pss()
            states = {
                rid: api.get(f"/dags/{q(self.dag_id)}/dagRuns/{q(rid)}")["state"] for rid in pending
            }
            pending = [rid for rid, s in states.items() if s not in FINISHED]
            if not pending:
                self.watch(ctx, None)  # e.g. a crashed scheduler is restarted
                return
            self.watch(ctx, f"dag runs {pending}")  # past the deadline: abort() stops them
            if not self.stack.alive():
                raise RuntimeError("an airflow component died; see its log in AIRFLOW_HOME/logs")
            time.sleep(POLL_S)

    def _pause(self) -> None:
        assert self.stack is not None and self.dag_id is not None
        try:
            self.stack.api().patch(f"/dags/{q(self.dag_id)}", {"is_paused": True})
        except APIError as e:
            if e.status != 404:  # not deployed yet
                raise

    def _sample_pss(self) -> None:
        if time.monotonic() - self._pss_at >= PSS_EVERY_S:
            self._pss_at = time.monotonic()
            pss = self.mode.pss_mb()
            if pss is not None:
                self.pss_peak_mb = max(self.pss_peak_mb or 0.0, pss)

    def _fail_active_runs(self) -> None:
        """Mark this deployment's unfinished dag runs failed (Airflow stops their tasks).

        "Mark failed" turns a task waiting for its retry into ``skipped``; a scheduler loop
        already evaluating that run can then write ``success`` over the ``failed`` (SQLite
        has no row locks; seen on 3.3.2). So the marked runs are read back for a moment and
        marked again if that happened, as an operator would.
        """
        assert self.stack is not None and self.dag_id is not None
        api = self.stack.api()
        dag = q(self.dag_id)
        marked = [
            run["dag_run_id"]
            for run in api.paged(f"/dags/{dag}/dagRuns", "dag_runs")
            if run["state"] not in FINISHED
        ]
        if not marked:
            return
        for rid in marked:
            api.patch(f"/dags/{dag}/dagRuns/{q(rid)}", {"state": "failed"})
        for _ in range(MARK_FAILED_CHECKS):
            time.sleep(POLL_S)
            states = {rid: api.get(f"/dags/{dag}/dagRuns/{q(rid)}")["state"] for rid in marked}
            flipped = [rid for rid, state in states.items() if state != "failed"]
            for rid in flipped:
                log.warning("airflow: %s left 'failed' after being marked; marking it again", rid)
                api.patch(f"/dags/{dag}/dagRuns/{q(rid)}", {"state": "failed"})

    def collect(self, ctx: RunContext) -> list[dict[str, Any]]:
        if self.stack is None or self.dag_id is None:
            return []
        records = Collector(
            self.stack.api(), self.dag_id, ctx.world.alerts, self.mode.lineage()
        ).collect()
        # this run's task logs and OpenLineage events, for people reading the run dir
        self.mode.copy_logs(self.dag_id, ctx.logs / "airflow")
        return records

    # --- remote deployments ------------------------------------------------------------

    def export(self, out_dir: Path) -> list[Path]:
        """The DAG bundle for a remote deployment's dags folder: the DAG files and the
        (empty) ``orchbench_deployments/`` folder the harness writes one file per run into."""
        out_dir = Path(out_dir)
        (out_dir / "orchbench_deployments").mkdir(parents=True, exist_ok=True)
        written = []
        for src in sorted(DAGS_SRC.glob("*.py")):
            dst = out_dir / src.name
            shutil.copy2(src, dst)
            written.append(dst)
        return written

    # --- env.json --------------------------------------------------------------------

    def versions(self) -> dict[str, str]:
        out = venv_versions(self.venv / "bin" / "python", KEY_PACKAGES + self.mode.packages)
        out.update(self.mode.versions())
        cfg = self.venv / "pyvenv.cfg"
        if cfg.is_file():
            for line in cfg.read_text().splitlines():
                if line.startswith("version_info"):
                    out["python"] = line.split("=", 1)[1].strip()
        return dict(sorted(out.items()))

    def card(self) -> dict[str, str]:
        """The profile's card, from the mode this adapter starts (executor, metadata DB,
        celery workers), the profile's Airflow settings (``stack.PROFILES``) and the DAG
        file's own configuration (its ``FailFastOn`` classes, ``max_active_runs``)."""
        mode = self.mode
        idle = PROFILES.get(self.profile, {}).get(IDLE_SLEEP)
        scheduler = "Airflow scheduler" + (f" (idle sleep {idle} s)" if idle else "")
        if isinstance(mode, CeleryStack):
            executor = (
                f"{mode.executor}: {CELERY_WORKERS} workers x concurrency "
                f"{CELERY_CONCURRENCY}, Redis broker"
            )
            slots = f"{CELERY_WORKERS * CELERY_CONCURRENCY} celery slots"
        elif isinstance(mode, LocalStack):
            executor = f"{mode.executor}: a process per task try"
            slots = "[core] parallelism as installed"
        else:
            executor, slots = "as the remote deployment is configured", "executor slots as deployed"
        database = DB_NAMES.get(getattr(mode, "metadata_db", ""), "the remote deployment's")
        not_retried = "/".join(short_class(c) for c in source_strings(DAG_FILE, "NOT_TRANSIENT"))
        runs = source_keyword(DAG_FILE, "max_active_runs")
        return {
            "scheduler": f"{scheduler}; harness-triggered, own timetable when scheduler-fired",
            "executor": executor,
            "database": f"{database} metadata DB",
            "retries": "task retries/retry_delay from the scenario policy",
            "timeouts": "execution_timeout from the policy (SIGALRM in the task)",
            "fail_fast": f"retry_policy: no retry on {not_retried}",
            "alerting": "on_failure_callback message to the alert sink, after the last try",
            "caching": "none (clear-and-rerun re-runs the cleared task and downstream)",
            "parallelism": f"max_active_runs={runs}; one task at a time (a chain); {slots}",
        }

    def settings(self) -> dict[str, Any]:
        out = self.mode.settings()
        stack = self.stack or self.mode.last
        if stack is not None:
            out["airflow_config"] = stack.settings()
            out["stack"] = {
                "startup_s": stack.startup,
                "pss_mb_idle": stack.pss_idle_mb,
                "pss_mb_peak_this_run": self.pss_peak_mb,
                "processes_idle": stack.processes_idle,
            }
        # python -m runners.airflow.overhead: the short shape's entry for this profile
        probe = probe_entry(self.repo_root / "results" / "overhead" / "airflow.json", self.profile)
        if probe is not None:
            out["probe_s_per_task"] = probe
        return out
