"""The ``metaflow`` runner: ``daily_retraining_flow.py`` run by Metaflow's local runtime.

- One flow run per logical date, ``python daily_retraining_flow.py run --logical_date D
  ...`` in its own process group, cwd and datastore in the run's work directory
  (``METAFLOW_DEFAULT_DATASTORE=local``, ``METAFLOW_DEFAULT_METADATA=local``,
  ``METAFLOW_DATASTORE_SYSROOT_LOCAL=<work>/metaflow``), ``HOME`` and ``USER`` set to the
  run's own (Metaflow refuses an unknown user), so nothing lands in HOME or the repo.
- The policy: ``@retry`` and ``@timeout`` in the flow, from ``ORCHBENCH_MF_*`` (see the
  flow's docstring): Metaflow kills a hung step itself, the adapter never does.
- System-scheduled runs (``fired_by``: "cron"): Metaflow has no local scheduler
  (``@schedule`` acts only once deployed to Argo, Step Functions or Airflow), so cron fires
  the same command from a one-entry crontab, one ``orchbench.crond`` daemon per simulated
  day, as the kfp runner does.
- ``scheduler_crash`` (always cron-fired): the "scheduler" is the Metaflow runtime process
  (``run``), which orchestrates the task processes. The crash SIGKILLs it alone; the task
  it was running goes on as an orphan; the run stays unfinished in Metaflow's records.
  cron never fires a passed minute again, so nothing restarts it (no harness help): the
  operator resumes it.
- ``recover``: the operator ``resume``s the date's last run from the plan's step (Metaflow
  clones the finished steps before it and re-runs from there), or ``run``s a date that
  never ran (a missed date). Each command through ``ctx.operator``.
- ``abort``: kill the whole process group of the running command (or the cron day's
  namespace): a task outlives a killed runtime otherwise.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, ClassVar

from orchbench.card import short_class, source_literal
from orchbench.contracts import RecoveryPlan
from orchbench.cron_fired import (
    CRON_AT,
    CRON_ENTRY,
    CRON_LEAD_IN,
    CRON_LEAD_IN_S,
    CRON_SPEED,
    CronFiredHost,
)
from orchbench.crond.daemon import CronDay, DeadlineReached, mail_stub, render_crontab
from orchbench.procs import kill_group, venv_versions
from orchbench.runner import HARNESS, SYSTEM, EnvironmentMissing, RunContext, Runner, RunTimeout

from .plugin import PLUGINS

FLOW_FILE = Path(__file__).with_name("daily_retraining_flow.py")
FLOW_NAME = "DailyRetrainingFlow"
MODULE = "runners.metaflow"
USER = "orchbench"
POLL_S = 0.1
CRONTAB_COPY = "metaflow-crontab.txt"
CRON = "cron"  # fired_by: cron fires the dates
CRON_LOG = "metaflow-cron-daemon.log"
RESTARTS_LOG = "metaflow-runtime-restarts.log"


def _clean_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("METAFLOW_", "ORCHBENCH_", "VIRTUAL_ENV"))
    }


def local_env(home: Path) -> dict[str, str]:
    """What every Metaflow command gets, here and in the scale and overhead probes: a user
    (Metaflow refuses an unknown one), ``HOME`` and ``METAFLOW_HOME`` under ``home``, the
    local datastore (under ``home/datastore``) and the local metadata."""
    return {
        "HOME": str(home / "home"),
        "USER": USER,
        "USERNAME": USER,
        "METAFLOW_USER": USER,
        "METAFLOW_HOME": str(home / "home" / ".metaflowconfig"),
        "METAFLOW_DEFAULT_DATASTORE": "local",
        "METAFLOW_DEFAULT_METADATA": "local",
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(home / "datastore"),
        "PYTHONUNBUFFERED": "1",
    }


def retry_minutes(delay_s: float) -> int:
    """``@retry(minutes_between_retries=...)`` takes whole minutes: the policy's seconds,
    rounded to the nearest minute (1-2 s give 0)."""
    return int(delay_s / 60 + 0.5)


class MetaflowRunner(CronFiredHost, Runner):
    """Metaflow: the flow run by its local runtime, one run per logical date."""

    cron_log: ClassVar[str] = CRON_LOG

    name = PLUGINS[0].name
    system = PLUGINS[0].system
    description = PLUGINS[0].description
    profiles: ClassVar[tuple[str, ...]] = PLUGINS[0].profiles
    runner_faults = frozenset({"scheduler_crash"})

    def __init__(self, profile: str = "default", repo_root: Path | None = None) -> None:
        super().__init__(profile, repo_root)
        self._proc: subprocess.Popen[bytes] | None = None
        self._cron: CronDay | None = None
        self._logs: list[Path] = []
        self._runs: dict[str, list[str]] = {}  # logical date -> Metaflow run ids, in order
        self._versions: dict[str, str] | None = None
        self._policy: dict[str, Any] = {}

    # --- environment --------------------------------------------------------------------

    def python(self) -> Path:
        return self.repo_root / ".venvs" / "metaflow" / "bin" / "python"

    def check_environment(self) -> None:
        py = self.python()
        if not os.access(py, os.X_OK):
            raise EnvironmentMissing(f"{py} not found: run `make setup` (builds .venvs/metaflow)")

    def versions(self) -> dict[str, str]:
        if self._versions is None:
            wanted = ("metaflow", "numpy", "pandas", "pandera", "scikit-learn")
            self._versions = venv_versions(self.python(), wanted)
        return self._versions

    def settings(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "runtime": "Metaflow local runtime: one process per task",
            "datastore": "local (METAFLOW_DATASTORE_SYSROOT_LOCAL in the run's work dir)",
            "metadata": "local",
            "retries": "@retry(times=policy.retries, minutes_between_retries=round(s/60))",
            "timeout": "@timeout(seconds=policy.timeout_s), enforced by Metaflow",
            "deploy_gate": "switch: self.next({deploy: register, hold: hold}, condition=route)",
            "alert": "@exit_hook(on_error=[alert_on_failure]) into world/alerts",
            **self._policy,
        }

    def card(self) -> dict[str, str]:
        """The profile's card, from the flow file's own constants (the exit hook) and the
        cron entry that fires scheduled dates."""
        hook = source_literal(FLOW_FILE, "ALERT_HOOK")
        at = CRON_ENTRY
        return {
            "scheduler": f"none in Metaflow's local runtime: harness runs; cron '{at}' "
            "when scheduler-fired",
            "executor": "Metaflow local runtime: a process per task",
            "database": "local metadata and datastore files in the run's work dir",
            "retries": "@retry(times) from the policy; minutes_between_retries unused locally",
            "timeouts": "@timeout(seconds=policy.timeout_s), enforced by Metaflow",
            "fail_fast": "none: @retry has no condition (bad data is retried)",
            "alerting": f"@exit_hook(on_error=[{short_class(hook)}]) to the alert sink",
            "caching": "none; resume clones the steps that finished",
            "parallelism": "one run (date) at a time; steps in sequence, a switch as the gate",
        }

    def stop(self) -> None:
        self.abort()

    def abort(self) -> None:
        if self._proc is not None:
            kill_group(self._proc)
            self._proc = None
        if self._cron is not None:
            self._cron.stop()  # the daemon's namespace: the runtime and its tasks with it
            self._cron = None

    # --- commands -----------------------------------------------------------------------

    def home(self, ctx: RunContext) -> Path:
        return ctx.work / "metaflow"

    def env(self, ctx: RunContext) -> dict[str, str]:
        """What every Metaflow command of the run gets: the step environment, the policy,
        the local datastore and metadata in the run's work dir, a user and a HOME."""
        home = self.home(ctx)
        policy = ctx.scenario.policy
        return {
            **ctx.step_env(),
            **local_env(home),
            "ORCHBENCH_MF_RETRIES": str(policy.retries),
            "ORCHBENCH_MF_RETRY_MINUTES": str(retry_minutes(policy.retry_delay_s)),
            "ORCHBENCH_MF_TIMEOUT_S": f"{policy.timeout_s:g}",
        }

    def run_id_file(self, ctx: RunContext, n: int) -> Path:
        folder = self.home(ctx) / "run-ids"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{n:02d}"

    def command(
        self, ctx: RunContext, logical_date: str, n: int, resume: str | None = None
    ) -> list[str]:
        """``run`` the date, or ``resume`` its last run from step ``resume``."""
        floor = ctx.scenario.gate.min_accuracy or 0.0
        base = [str(self.python()), str(FLOW_FILE)]
        ids = ["--run-id-file", str(self.run_id_file(ctx, n))]
        if resume is not None:
            origin = self._runs[logical_date][-1]
            return [*base, "resume", resume, "--origin-run-id", origin, *ids]
        artifacts = ctx.work / "artifacts" / self.name
        params = ["--logical_date", logical_date, "--artifacts", str(artifacts)]
        return [*base, "run", *params, "--min_accuracy", f"{floor:g}", *ids]

    def _new_log(self, ctx: RunContext, logical_date: str) -> Path:
        ctx.logs.mkdir(parents=True, exist_ok=True)
        log = ctx.logs / f"metaflow-{len(self._logs) + 1:02d}-{logical_date}.log"
        self._logs.append(log)
        log.write_bytes(b"")
        return log

    def _note_run(self, ctx: RunContext, logical_date: str, n: int) -> None:
        """Remember the Metaflow run id the command wrote (written before the run starts)."""
        path = self.run_id_file(ctx, n)
        if path.exists() and path.read_text().strip():
            self._runs.setdefault(logical_date, []).append(path.read_text().strip())

    def _execute(self, ctx: RunContext, logical_date: str, resume: str | None = None) -> int:
        """One Metaflow command in its own process group; returns its exit code."""
        if ctx.remaining() <= 0:
            raise RunTimeout(f"deadline reached before the run of {logical_date}")
        log = self._new_log(ctx, logical_date)
        n = len(self._logs)
        cmd = self.command(ctx, logical_date, n, resume)
        if resume is not None:
            ctx.operator(shlex.join(["python", FLOW_FILE.name, *cmd[2:]]))
        self.home(ctx).mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            self._proc = subprocess.Popen(
                cmd,
                env={**_clean_env(), **self.env(ctx)},
                cwd=self.home(ctx),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                while (rc := self._proc.poll()) is None:
                    self.watch(ctx, f"the Metaflow run of {logical_date}")
                    time.sleep(POLL_S)
            finally:
                kill_group(self._proc)  # nothing a command started may outlive it
                self._proc = None
                self._note_run(ctx, logical_date, n)
        return rc

    # --- hooks of the base runner's day loop --------------------------------------------

    def prepare_days(self, ctx: RunContext) -> None:
        """A new scenario run (one runner serves a whole bench lane): forget the last."""
        self._logs = []
        self._runs = {}
        policy = ctx.scenario.policy
        self._policy = {
            "retry_times": policy.retries,
            "retry_delay_s_policy": policy.retry_delay_s,
            "minutes_between_retries": retry_minutes(policy.retry_delay_s),
            "retry_delay_rounding": "nearest whole minute; the local runtime waits none",
            "timeout_s": policy.timeout_s,
        }
        self.compressed = (CRON_LEAD_IN,) if self.fired_by(ctx) != HARNESS else ()

    def fired_by(self, ctx: RunContext) -> str:
        """Metaflow has no local scheduler: on a system-scheduled run cron fires each
        date's run (``_cron_date``); otherwise the harness starts it."""
        return CRON if ctx.scheduling == SYSTEM else HARNESS

    def run_date(self, ctx: RunContext, date: dt.date) -> None:
        if self.fired_by(ctx) == HARNESS:
            self._execute(ctx, date.isoformat())
            self.watch(ctx, None)
        else:
            self._cron_date(ctx, date)

    # --- fired by cron (system-scheduled runs) ------------------------------------------

    def crontab(self, ctx: RunContext, logical_date: str, log: Path, n: int) -> str:
        """One entry at CRON_AT running the command the harness would run, output
        appended to the run's log. No MAILTO: the flow's exit hook alerts."""
        cmd = self.command(ctx, logical_date, n)
        line = (
            f"cd {shlex.quote(str(self.home(ctx)))} && {shlex.join(cmd)} "
            f">> {shlex.quote(str(log))} 2>&1"
        )
        return render_crontab(self.env(ctx), {CRON_ENTRY: line})

    def _cron_date(self, ctx: RunContext, date: dt.date) -> None:
        """A fresh cron daemon on the date's clock fires the crontab's one entry; the day
        ends when the run and everything it started has ended."""
        logical_date = date.isoformat()
        fire = dt.datetime.combine(date, CRON_AT)
        mailbox = self.home(ctx) / "cron-mail" / "root"  # root's local mail: nobody reads
        self.home(ctx).mkdir(parents=True, exist_ok=True)
        log = self._new_log(ctx, logical_date)
        n = len(self._logs)
        tab = self.crontab(ctx, logical_date, log, n)
        (ctx.logs / CRONTAB_COPY).write_text(tab)
        day = CronDay(
            root=self.home(ctx) / "cron" / f"day-{date}",
            crontab=tab,
            stub=mail_stub("root", mailbox, mailbox),
            fake_start=fire - dt.timedelta(seconds=CRON_LEAD_IN_S),
            speed=CRON_SPEED,
            log=ctx.logs / CRON_LOG,
            job_logs=[log],
        )

        def poll() -> bool:
            self.watch(ctx, None)  # scheduler faults act; wait_finished checks the deadline
            return False

        self._cron = day
        try:
            day.start()
            ended = day.wait_finished(fire, ctx.deadline, ctx.deadline, stop_if=poll)
            assert day.sandbox is not None
            start_ns, fired_ns = day.sandbox.started_at, day.real_time_of(fire)
            self.compressed_wait(ctx, int(start_ns * 1e9), int(fired_ns * 1e9), CRON_LEAD_IN_S)
        except DeadlineReached as e:
            raise RunTimeout(f"{self.name}: {e}") from e
        finally:
            day.stop()
            self._cron = None
            self._note_run(ctx, logical_date, n)
            self.watch(ctx, None)  # a crash seen as the day ended belongs to it
        with (ctx.logs / CRON_LOG).open("a") as f:
            f.write(f"# orchbench: day {date} {ended}; daemon killed\n")

    def _cron_runtime(self) -> int | None:
        """Host pid of the Metaflow runtime cron started (``flow.py run``), if alive."""
        if self._cron is None or self._cron.sandbox is None:
            return None
        for pid in self._cron.sandbox.members():
            if _is_runtime(pid):
                return pid
        return None

    def scheduler_processes(self, ctx: RunContext) -> dict[str, list[int]]:
        """Harness-started, the runtime process orchestrates the tasks. Fired by cron it
        lives in the daemon's PID namespace: nothing is registered and
        ``scheduler_killed`` kills it."""
        return {"metaflow-runtime": [self._proc.pid]} if self._proc is not None else {}

    def scheduler_killed(self, ctx: RunContext, crash: dict[str, Any]) -> None:
        """SIGKILL the Metaflow runtime alone; the task it ran is left to itself, as on a
        host after ``kill -9`` of the runtime."""
        pid = self._cron_runtime()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with (ctx.logs / RESTARTS_LOG).open("a") as f:
                f.write(f"SIGKILLed the Metaflow runtime (host pid {pid}) cron had started\n")

    def restart_scheduler(self, ctx: RunContext, crash: dict[str, Any]) -> bool | None:
        """The runtime was a cron job, and cron never runs a job again whose minute
        passed; harness-started, nothing re-runs the command either: the operator resumes
        the run (False: no restart, no harness help)."""
        with (ctx.logs / RESTARTS_LOG).open("a") as f:
            f.write("nothing restarts the killed Metaflow runtime: the operator resumes\n")
        return False

    # --- recovery and the native trace --------------------------------------------------

    def recover(self, ctx: RunContext, plan: RecoveryPlan) -> None:
        """``resume <step> --origin-run-id <the date's last run>``: Metaflow clones what
        finished before ``step`` and runs from it; a date with no run is ``run``."""
        for logical_date, step in sorted(plan.restart_from.items()):
            if self._runs.get(logical_date):
                self._execute(ctx, logical_date, resume=step)
            else:
                cmd = self.command(ctx, logical_date, len(self._logs) + 1)
                ctx.operator(shlex.join(["python", FLOW_FILE.name, *cmd[2:]]))
                self._execute(ctx, logical_date)

    def collect(self, ctx: RunContext) -> list[dict[str, Any]]:
        """Metaflow's records of every run in the run's datastore, read through the Client
        API in the metaflow venv (``python -m runners.metaflow collect``), and the exit
        hook's messages in the alert sink."""
        out = ctx.logs / "metaflow-client.jsonl"
        ctx.logs.mkdir(parents=True, exist_ok=True)
        cmd = [str(self.python()), "-m", MODULE, "collect", "--out", str(out)]
        done = subprocess.run(
            cmd,
            env={**_clean_env(), **self.env(ctx)},
            cwd=self.home(ctx) if self.home(ctx).exists() else ctx.work,
            capture_output=True,
            text=True,
            timeout=max(60.0, min(600.0, ctx.remaining())),
            start_new_session=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"reading Metaflow's records failed: {done.stderr[-2000:]}")
        from . import records

        client = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
        return records.convert(client, ctx.world.alerts)


def _is_runtime(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    flow = any(a.endswith(FLOW_FILE.name.encode()) for a in argv)
    return flow and (b"run" in argv or b"resume" in argv) and b"step" not in argv
