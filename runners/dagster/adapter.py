"""The ``dagster`` runner: the daily-partitioned assets (``definitions.py``) under
``dagster dev`` (webserver, daemon, code server), one deployment per scenario run.

- ``prepare_days``: write the run's instance (``DAGSTER_HOME`` under the matrix's
  services directory: SQLite, telemetry off, run monitoring, one run at a time;
  ``services.py``) and start ``dagster dev`` on a free loopback port with the run's
  environment (world, journal, policy, partition range); wait for the code location.
- Harness-fired scenarios: ``run_date`` launches one run of job ``daily_retraining`` for
  the date's partition over GraphQL (``launchRun``, tag ``dagster/partition``) and
  awaits it; the daemon's run queue dequeues and launches it.
- System-scheduled scenarios (``fired_by``: "Dagster"): the sensor ``day_clock`` (run by
  the daemon) requests each date's run when its fire time passes; ``run_date`` and
  ``settle`` only await them. ``stop_scheduler`` SIGKILLs the ``dagster dev`` group (the
  host goes down, with whatever ran); ``start_scheduler`` starts it again on the same
  home and port. ``scheduler_crash``: the daemon is the scheduler; ``dagster dev`` shuts
  the webserver down when it dies, while the code server finishes the run in flight;
  ``restart_scheduler`` starts ``dagster dev`` again.
- Timeout: Dagster has no per-op timeout; the job's tag ``dagster/max_runtime`` = the
  policy's ``timeout_s`` x (retries + 1) x 7 steps (the longest a run may take if every
  attempt used its timeout; ``definitions.py``), enforced by the daemon's run monitoring,
  which fails the run ("Exceeded maximum runtime"); it is not retried. The adapter kills
  nothing.
- ``recover``: the operator re-executes each date's latest run from the plan's step
  (``launchRunReexecution`` with the step keys from there on, what the UI's "Re-execute
  from selected" sends; the new run records parent and root run ids), or launches the
  partition when it never ran. One command per date, journaled.
- ``collect``: ``python -m runners.dagster collect`` reads the instance (``native.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any, ClassVar

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
from runners.dagster.graphql import TERMINAL, Api
from runners.dagster.plugin import PLUGINS
from runners.dagster.services import DagsterDev, clean_env

ENV_PYTHON = "ORCHBENCH_DAGSTER_PYTHON"
JOB = "daily_retraining"
RUN_TAG = "orchbench/run"
DEFINITIONS_FILE = Path(__file__).with_name("definitions.py")
PARTITION_TAG = "dagster/partition"
DAEMON = "dagster-daemon"  # what a scheduler_crash kills
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
# System-scheduled mode: one simulated day lasts DAY_S real seconds (a run of the 7
# steps, each its own process, took 40 to 55 s here alone,
# 80 to 90 s beside the other lanes at load 8); the first date fires SCHEDULE_LEAD_S
# after the clock file is written (the sensor is already evaluated by then).
DAY_S = 90.0
SCHEDULE_LEAD_S = 5.0
SETTLE_GRACE_S = 20.0  # after the last date: how long the scheduler may take to request


class DagsterRunner(Runner):
    """Dagster: daily-partitioned assets under ``dagster dev``."""

    name = "dagster"
    system = "Dagster"
    description = PLUGINS[0].description
    profiles: ClassVar[tuple[str, ...]] = ("default",)
    runner_faults = frozenset({"scheduler_crash"})
    day_s: ClassVar[float | None] = DAY_S
    schedule_lead_s: ClassVar[float] = SCHEDULE_LEAD_S

    def __init__(self, profile: str = "default", repo_root: Path | None = None) -> None:
        super().__init__(profile, repo_root)
        self.services: Path | None = None
        self.dev: DagsterDev | None = None
        self.location: str | None = None
        self._versions: dict[str, str] | None = None

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

    def versions(self) -> dict[str, str]:
        if self._versions is None:
            wanted = (
                "dagster",
                "dagster-webserver",
                "dagster-graphql",
                "numpy",
                "pandas",
                "pandera",
                "scikit-learn",
            )
            self._versions = venv_versions(self.python(), wanted)
        return self._versions

    def settings(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "deployment": "dagster dev (webserver, daemon, code server) per scenario run",
            "storage": "SQLite under DAGSTER_HOME (the matrix's services directory)",
            "executor": "multiprocess (Dagster's default: one process per step)",
            "run_coordinator": "queued (Dagster's default), max_concurrent_runs 1",
            "retries": "RetryPolicy(max_retries=policy.retries, delay=policy.retry_delay_s)",
            "timeout": "dagster/max_runtime = timeout_s x (retries + 1) x 7, run monitoring "
            "polled every 5 s",
            "alert": "@run_failure_sensor, minimum interval 5 s",
            "schedule": f"sensor day_clock, {DAY_S:.0f}-s days (system-scheduled runs)",
        }

    def card(self) -> dict[str, str]:
        """The profile's card, from the definitions file's own constants (the sensors'
        intervals, the gate's output) and the day length of scheduler-fired runs."""
        sensor = source_literal(DEFINITIONS_FILE, "SENSOR_INTERVAL_S")
        alert = source_literal(DEFINITIONS_FILE, "ALERT_INTERVAL_S")
        gate = source_literal(DEFINITIONS_FILE, "GATE")
        return {
            "scheduler": f"dagster-daemon: our day_clock sensor (every {sensor} s, run keys) "
            f"when scheduler-fired, {DAY_S:.0f}-s days; harness launches otherwise",
            "executor": "multiprocess executor (default): a process per step",
            "database": "SQLite instance storage under DAGSTER_HOME",
            "retries": "RetryPolicy(max_retries, delay) from the scenario policy",
            "timeouts": "run-level dagster/max_runtime (run monitoring); no per-op timeout",
            "fail_fast": "Failure(allow_retries=False) on ValidationFailed/CanaryCheckFailed",
            "alerting": f"@run_failure_sensor (daemon, every {alert} s) to the alert sink",
            "caching": "none; a re-execution of the failed step on reuses the upstream outputs",
            "parallelism": f"queued runs, max_concurrent_runs 1; optional {gate} output gates",
        }

    # --- services -----------------------------------------------------------------------

    def start(self, matrix_dir: Path) -> None:
        self.services = Path(matrix_dir).resolve()

    def stop(self) -> None:
        self.abort()

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
        }
        if self._system(ctx):
            env["ORCHBENCH_DAGSTER_CLOCK"] = str(self.clock_path(ctx))
        return env

    def _home(self, ctx: RunContext) -> Path:
        base = self.services or (ctx.work / "dagster")
        return base / "dagster_home" / ctx.run_id

    # --- hooks of the base runner's day loop --------------------------------------------

    def fired_by(self, ctx: RunContext) -> str:
        """Dagster's daemon (the ``day_clock`` sensor) fires a system-scheduled run's
        dates; the harness otherwise."""
        return self.system if ctx.scheduling == SYSTEM else HARNESS

    def _system(self, ctx: RunContext) -> bool:
        return self.fired_by(ctx) != HARNESS

    def prepare_days(self, ctx: RunContext) -> None:
        home = self._home(ctx)
        (home / "home").mkdir(parents=True, exist_ok=True)
        ctx.logs.mkdir(parents=True, exist_ok=True)
        self.dev = DagsterDev(
            self.python(), home, self.run_env(ctx), self.repo_root, ctx.logs / "dagster-dev.log"
        )
        self.location = self.dev.start(ctx.deadline)

    def schedule_days(self, ctx: RunContext, clock: DayClock) -> None:
        """The sensor reads the day clock from this file at every tick."""
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

    def deploy_code(self, ctx: RunContext, step: str, revision: int) -> None:
        """New code in the team's repository: reload the code location (the UI's "Reload"
        button), so the assets' code versions are read again."""
        status = self.api.reload(self._location())
        with (ctx.logs / "dagster-deploys.log").open("a") as f:
            f.write(f"{step} revision {revision}: reloadRepositoryLocation -> {status}\n")

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

    def _await_fired(self, ctx: RunContext, date: dt.date) -> None:
        """Await the run the sensor requested for ``date``: until it finished, or until
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
        a run and none is queued or running (giving the sensor ``SETTLE_GRACE_S`` to
        request a date after the last one was due)."""
        assert ctx.clock is not None
        dates = {d.isoformat() for d in ctx.clock.dates}
        grace_end = max(time.time(), ctx.clock.end) + SETTLE_GRACE_S
        while True:
            self.watch(ctx, "the scheduler's runs")
            runs = self._runs()
            fired = {r["tags"].get(PARTITION_TAG) for r in runs}
            busy = [r for r in runs if r["status"] not in TERMINAL]
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
        """The host is back: ``dagster dev`` starts again on the same home and port; the
        daemon's sensor requests what it has not requested yet."""
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
        """Start ``dagster dev`` again (a supervisor's restart of the service) once the
        old one has shut down. What is left of it is not killed: its code server keeps
        running the run in flight (a ``dagster code-server`` whose parent is gone waits
        for its runs, then exits after its 45-s heartbeat timeout); ``stop`` kills what is
        still left at the end."""
        if self.dev is None:
            return False
        end = time.monotonic() + 30
        while self.dev.alive() and time.monotonic() < end:
            time.sleep(0.2)  # dagster dev shuts its services down once the daemon died
        if self.dev.proc is not None and self.dev.alive():
            self.dev.proc.kill()  # the supervisor's stop: the dev process alone
            self.dev.proc.wait()
        self.location = self.dev.start(ctx.deadline)
        self._note(ctx, f"{crash}: dagster dev restarted; left running: {self.dev.left()}")
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
        for logical_date, step in sorted(plan.restart_from.items()):
            runs = [r for r in self._runs() if r["tags"].get(PARTITION_TAG) == logical_date]
            tags = self._tags(ctx, logical_date)
            keys = [OP_OF[s] for s in downstream_from(step)]
            if runs:
                parent = runs[0]  # newest first
                ctx.operator(
                    f"dagster UI: re-execute run {parent['runId']} from {OP_OF[step]} "
                    f"(launchRunReexecution, stepKeys {','.join(keys)})"
                )
                run_id = self.api.reexecute(self._location(), JOB, tags, parent, keys)
            else:
                ctx.operator(f"dagster UI: materialize all, partition {logical_date} (launchRun)")
                run_id = self.api.launch(self._location(), JOB, tags)
            self._await_recovery(ctx, run_id)

    def _await_recovery(self, ctx: RunContext, run_id: str) -> None:
        while True:
            if ctx.remaining() <= 0:
                raise RunTimeout(f"{self.name}: recovery run {run_id} still running")
            run = next((r for r in self._runs() if r["runId"] == run_id), None)
            if run is not None and run["status"] in TERMINAL:
                return
            time.sleep(POLL_S)

    def collect(self, ctx: RunContext) -> list[dict[str, Any]]:
        """The instance's records, read by Dagster's own Python API, once every run is
        over (``native.py``); then the deployment stops."""
        try:
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
