"""The ``cron`` and ``cron-hardened`` runners: Debian's cron daemon driving shell scripts.

``cron`` is the pipeline as teams really write it: one crontab line per step at fixed
minutes, scripts reading and writing fixed ``current/`` files, output appended to log
files (so nothing is ever mailed). ``cron-hardened`` is the steelman: the same daemon with
``set -euo pipefail``, flock, per-date paths, success markers, retries and ``timeout``
from the scenario's policy, MAILTO delivered to the run's alert sink, and a manifest line
per attempt (arguments, sha256 of inputs and outputs, revision of the step code). Its
``pipeline`` profile has one crontab entry running the whole chain from one script.

Each simulated day gets a fresh daemon in fresh namespaces (``orchbench/crond/daemon.py``); the day
ends once every job fired and no process but cron is left, then the namespace is killed.
Cron fires every date itself (``fired_by``), in every scenario. cron-hardened's crontab
also has the catch-up entry (``catchup.sh``), in every scenario.
Recovery is what an operator types, each command journaled with ``ctx.operator``.

Step processes run with ``<repo>/.venvs/cron/bin/python`` (built by ``make setup``);
the environment variable ``ORCHBENCH_CRON_PYTHON`` overrides it (an absolute path to an
interpreter that has this project installed), e.g. for development.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from orchbench import journal as jr
from orchbench.contracts import RecoveryPlan
from orchbench.crond import cpu_group
from orchbench.crond.daemon import (
    CRON,
    LIBFAKETIME,
    SENDMAIL,
    STALL_S,
    CronDay,
    DeadlineReached,
    mail_stub,
    render_crontab,
)
from orchbench.crond.sandbox import SETPRIV, UNSHARE, Sandbox
from orchbench.journal import Journal
from orchbench.runner import (
    EnvironmentMissing,
    RunContext,
    Runner,
    RunTimeout,
)
from orchbench.step import EX_DATAERR
from orchbench.workflow.spec import STEP_NAMES, downstream_from
from runners.cron import declared, native
from runners.cron.schedule import CATCHUP, PIPELINE, SCHEDULES, Schedule
from runners.cron.waits import Segment, compressed_waits

ENV_PYTHON = "ORCHBENCH_CRON_PYTHON"
SCRIPTS = Path(__file__).resolve().parent / "scripts"
ALERT_TO = "oncall@pipeline.invalid"
JOB_PATH = "/usr/bin:/bin"  # cron's default PATH: no pyenv, no venv
POLL_S = 0.05
CRONTAB_COPY = "crontab.txt"  # the last installed crontab, kept in logs/
# cron-hardened's catch-up window: the dates of the last week lacking their marker, the
# team's choice (a week covers a long weekend's outage)
CATCHUP_DAYS = 7
# Imported once per interpreter before the first day, so a fresh venv's first run does not
# pay bytecode compilation inside a job's slot (a daily cron job runs warm).
WARM_IMPORTS = "import orchbench.step, orchbench.wrapper, pandera.pandas, sklearn.linear_model"
_warmed: set[str] = set()


class CronRunner(Runner):
    """Naive cron: fixed-minute crontab lines, fixed ``current`` paths, logs nobody reads."""

    name = "cron"
    system = "cron"
    # x300 compressed clock: under CPU contention the fixed-minute jobs overlap (measured:
    # with 3 runners benched at once, naive cron deployed a bad model on `clean`). Where a
    # raised-weight CPU cgroup can be made (root), each day's namespace runs in one and the
    # runner can share the machine; elsewhere it is benched alone.
    cpu_priority: ClassVar[str | None] = cpu_group.available()
    exclusive = cpu_priority is None
    description = "Debian cron, one crontab line per step, scripts as teams write them"
    # x30: the default crontab on a clock ten times slower than default's x300
    profiles: ClassVar[tuple[str, ...]] = ("default", "tuned", "x30")
    variant: ClassVar[str] = "naive"
    runner_faults = frozenset({"scheduler_crash"})
    mailto: ClassVar[str | None] = None  # no MAILTO: mail would go to root's local box
    # naive scripts never wait, sleep or time out: a job left without CPU is hung for good
    stall_s: ClassVar[float | None] = STALL_S
    # the daemon's idle time runs on its x<speed> libfaketime clock (waits.py derives and
    # journals each wait once the date finished); jobs, retry delays and flock waits do not
    compressed: ClassVar[tuple[str, ...]] = (
        "the cron daemon's lead-in before a date's first job (libfaketime clock)",
        "the gaps between one step's job ending and the next step's crontab minute "
        "(libfaketime clock)",
    )

    def __init__(self, profile: str = "default", repo_root: Path | None = None) -> None:
        super().__init__(profile, repo_root)
        self._use(SCHEDULES[profile])
        self._live: list[Sandbox | CronDay] = []
        self._day: tuple[dt.date, CronDay] | None = None  # the running day's daemon
        self._restart: dict[str, Any] | None = None  # a crash its supervisor restarted

    def _use(self, schedule: Schedule) -> None:
        self.schedule: Schedule = schedule
        self.clock_speed = schedule.speed  # the daemons' libfaketime clock
        one_minute = len(schedule.jobs) == 1  # one crontab minute: no gaps between jobs
        self.compressed = type(self).compressed[:1] if one_minute else type(self).compressed

    def crontab_schedule(self) -> Schedule:
        """The crontab's schedule: the profile's (naive cron adds nothing)."""
        return SCHEDULES[self.profile]

    def schedule_of(self, ctx: RunContext) -> Schedule:
        """The crontab's schedule for this run: the same in every scenario."""
        return self.crontab_schedule()

    def fired_by(self, ctx: RunContext) -> str:
        """Cron's daemon fires every date, whatever the scenario: ``run_date`` starts it on
        the date's clock and it runs the crontab's jobs at their minutes."""
        return self.system

    # --- environment --------------------------------------------------------------------

    def python(self) -> Path:
        override = os.environ.get(ENV_PYTHON)
        if override:
            return Path(override)
        return self.repo_root / ".venvs" / "cron" / "bin" / "python"

    def check_environment(self) -> None:
        if os.geteuid() != 0:
            raise EnvironmentMissing(
                f"{self.name}: needs root (mount and PID namespaces isolate the cron daemon "
                "from the host's crontab); run as root"
            )
        needs = {
            CRON: "the cron daemon: apt-get install cron",
            LIBFAKETIME: "libfaketime: apt-get install libfaketime",
            UNSHARE: "unshare (util-linux): apt-get install util-linux",
            SETPRIV: "setpriv (util-linux): apt-get install util-linux",
            "/usr/bin/flock": "flock (util-linux): apt-get install util-linux",
            "/usr/bin/timeout": "timeout (coreutils)",
            SENDMAIL: "a sendmail to stand in for (replaced by a sink inside the namespace): "
            "apt-get install exim4-daemon-light",
        }
        for path, what in needs.items():
            if not os.path.exists(path):
                raise EnvironmentMissing(f"{self.name}: {path} is missing; needs {what}")
        py = self.python()
        if not py.is_absolute():
            raise EnvironmentMissing(
                f"{self.name}: {ENV_PYTHON}={py} must be an absolute path (cron has no PATH)"
            )
        if not (py.is_file() and os.access(py, os.X_OK)):
            hint = (
                f"{ENV_PYTHON}={py} is not an executable file"
                if os.environ.get(ENV_PYTHON)
                else f"runner venv {py} is missing; run `make setup`"
            )
            raise EnvironmentMissing(f"{self.name}: {hint}")
        probe = subprocess.run(
            [UNSHARE, "--mount", "--pid", "--fork", "--mount-proc", "true"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode != 0:
            raise EnvironmentMissing(
                f"{self.name}: cannot create mount/PID namespaces here "
                f"({probe.stderr.strip() or probe.returncode}); needs CAP_SYS_ADMIN"
            )

    def versions(self) -> dict[str, str]:
        out = {
            "cron": _dpkg_version("cron"),
            "libfaketime": _dpkg_version("libfaketime"),
            "util-linux": _dpkg_version("util-linux"),
            "bash": _dpkg_version("bash"),
        }
        try:
            res = subprocess.run(
                [str(self.python()), "-c", "import sys; print(sys.version.split()[0])"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            out["runner_python"] = res.stdout.strip() or "unknown"
        except OSError:
            out["runner_python"] = "missing"
        return out

    def card(self) -> dict[str, str]:
        """The profile's card, from its crontab schedule (``schedule.SCHEDULES``), the
        variant's scripts and what the class sets (``mailto``, ``stall_s``); the naive
        scripts retry, time out, skip and lock nothing."""
        sched = self.crontab_schedule()
        steps = [j for j in sched.jobs if sched.steps_of(j)]
        last = sched.offsets_min[steps[-1]] - sched.offsets_min[steps[0]]
        if steps == [PIPELINE]:
            lines = f"one crontab entry ({PIPELINE}.sh)"
        else:
            lines = f"{len(steps)} crontab lines at fixed minutes (+0..+{last})"
        catchup = f" + {CATCHUP}.sh" if CATCHUP in sched.jobs else ""
        stall = f" (the harness ends a day stalled {self.stall_s:g} s)" if self.stall_s else ""
        return {
            "scheduler": f"cron daemon per day: {lines}{catchup}, clock x{sched.speed:g}",
            "executor": f"{self.variant} bash job -> python -m orchbench.step, own namespace",
            "database": "none: fixed current/ files, logs appended",
            "retries": "none: each job runs once at its minute",
            "timeouts": f"none: a hung job stays{stall}",
            "fail_fast": "none: nothing retried, and the later jobs run on anyway",
            "alerting": "none: no MAILTO, job output appended to log files"
            if self.mailto is None
            else f"MAILTO={self.mailto}",
            "caching": "none: every job runs every day",
            "parallelism": "one date at a time; a slow job can overlap the next slot",
        }

    def settings(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "schedule": self.schedule.describe(),
            "daemon": f"{CRON} -f -L 15, one per simulated day, PID+mount namespace",
            "clock": "daemon on libfaketime (FAKETIME=@<day> x<speed>); jobs on the real clock",
            "mailto": self.mailto,
            "cpu_priority": self.cpu_priority or "none (not root: benched alone)",
            "python": str(self.python()),
            "python_override": os.environ.get(ENV_PYTHON),
            "scripts": str(SCRIPTS / self.variant),
        }

    def start(self, matrix_dir: Path) -> None:
        """Warm the runner interpreter once per process (compile and cache its imports)."""
        py = str(self.python())
        if py in _warmed:
            return
        subprocess.run(
            [py, "-c", WARM_IMPORTS],
            env={"PATH": JOB_PATH, "HOME": "/root"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=300,
            check=False,
        )
        _warmed.add(py)

    # --- what the jobs see --------------------------------------------------------------

    def data_dir(self, ctx: RunContext) -> Path:
        return ctx.world.artifacts_dir(ctx.runner)

    def job_env(self, ctx: RunContext) -> dict[str, str]:
        """Variables the crontab sets for every job (and the operator's shell has)."""
        return {
            "PIPELINE_PYTHON": str(self.python()),
            "PIPELINE_DATA": str(self.data_dir(ctx)),
            "PIPELINE_LOGS": str(ctx.logs),
            **ctx.step_env(),
        }

    def script(self, step: str) -> Path:
        return SCRIPTS / self.variant / f"{step}.sh"

    def job_command(self, ctx: RunContext, step: str) -> str:
        log = shlex.quote(str(ctx.logs / f"{step}.log"))
        return f"{shlex.quote(str(self.script(step)))} >> {log} 2>&1"

    def crontab(self, ctx: RunContext, logical_date: str) -> str:
        env: dict[str, str] = {}
        if self.mailto:
            env["MAILTO"] = self.mailto
        env["LOGICAL_DATE"] = logical_date  # jobs see the real clock: the day is given
        env.update(self.job_env(ctx))
        jobs = self.schedule.jobs
        lines = {self.schedule.cron_fields(j): self.job_command(ctx, j) for j in jobs}
        return render_crontab(env, lines)

    # --- running days -------------------------------------------------------------------

    def prepare_days(self, ctx: RunContext) -> None:
        self._use(self.schedule_of(ctx))
        ctx.logs.mkdir(parents=True, exist_ok=True)
        self.data_dir(ctx).mkdir(parents=True, exist_ok=True)

    def scheduler_down(self, ctx: RunContext, date: dt.date) -> None:
        """``missed_days``: the host is down; no daemon runs that day (cron itself has no
        catch-up: those runs are lost unless a job of the crontab re-runs them)."""
        self._daemon_note(ctx, f"day {date}: the host is down, no cron daemon runs")

    def stop_scheduler(self, ctx: RunContext) -> None:
        """Nothing runs between two dates (each date's daemon lives only while its jobs
        do), so there is nothing to kill: ``scheduler_down`` notes each down date."""

    def start_scheduler(self, ctx: RunContext) -> None:
        """The host is back: the next ``run_date`` starts that date's daemon, as the
        host's boot starts cron."""

    def _daemon_note(self, ctx: RunContext, text: str) -> None:
        with (ctx.logs / "cron-daemon.log").open("a") as f:
            f.write(f"# orchbench: {text}\n")

    def run_date(self, ctx: RunContext, date: dt.date) -> None:
        """Cron's own scheduler fires the date: a fresh daemon, its clock set to the
        date's morning, runs until the day's jobs are done.

        ``scheduler_crash``: the fault's hook cannot SIGKILL the daemon (it is PID 1 of its
        namespace: ``scheduler_processes`` is empty), so ``scheduler_killed`` does, with
        every running job. After ``restart_after_s`` *simulated* seconds (``clock_speed``),
        the supervisor starts a new daemon on the same day's clock, as it now reads: cron
        never runs a job whose minute passed while it was down.
        """
        mailbox = ctx.work / "cron" / "mail" / "root"  # root's local mail: nobody reads it
        stub = mail_stub(ALERT_TO, ctx.world.alerts, mailbox)
        job_logs = [ctx.logs / f"{j}.log" for j in self.schedule.jobs]
        tab = self.crontab(ctx, date.isoformat())
        (ctx.logs / CRONTAB_COPY).write_text(tab)  # what `crontab -l` shows that day
        fake_start = self.schedule.daemon_start(date)
        # the day's jobs must be done before the next day's first job would fire
        cap = time.monotonic() + 86400 / self.schedule.speed
        segments: list[Segment] = []  # each daemon's life on this date (restarts too)
        for n in itertools.count():
            cron_day = CronDay(
                root=ctx.work / "cron" / (f"day-{date}" if n == 0 else f"day-{date}-restart{n}"),
                crontab=tab,
                stub=stub,
                fake_start=fake_start,
                speed=self.schedule.speed,
                log=ctx.logs / "cron-daemon.log",
                job_logs=job_logs,
                prioritized=self.cpu_priority is not None,
            )

            def restarted() -> dict[str, Any] | None:
                self.watch(ctx, None)  # the deadline: wait_finished's own check
                return self._restart

            self._live.append(cron_day)
            self._day, self._restart = (date, cron_day), None
            try:
                cron_day.start()
                ended = cron_day.wait_finished(
                    self.schedule.fire_time(date, self.schedule.jobs[-1]),
                    ctx.deadline,
                    cap,
                    stop_if=restarted,
                    stall_s=self.stall_s,
                )
            except DeadlineReached as e:
                raise RunTimeout(f"{self.name}: {e}") from e
            finally:
                cron_day.stop()
                if cron_day.sandbox is not None and cron_day.sandbox.started_at:
                    started = int(cron_day.sandbox.started_at * 1e9)
                    segments.append(Segment(started, time.time_ns(), cron_day.fake_start))
                self._forget(cron_day)
                self._day = None
                # a crash recorded as the day ended belongs to it, not to the next day
                self.watch(ctx, None)
            if self._restart is None or ended != "stopped":
                if ended.startswith("cut"):  # jobs were still running: we ended them
                    jr.harness_assist(
                        ctx.journal,
                        "timeout_kill",
                        f"the day loop killed {date}'s daemon with jobs still running ({ended})",
                        logical_date=date.isoformat(),
                    )
                # (unshare reports the SIGKILL as "sigprocmask unblock failed": expected)
                self._daemon_note(ctx, f"day {date} {ended}; daemon killed")
                self._journal_waits(ctx, date, segments)
                return
            fake_start = cron_day.fake_now()

    def _journal_waits(self, ctx: RunContext, date: dt.date, segments: list[Segment]) -> None:
        """Journal the date's waits on the daemon's clock (``waits.py``), from the daemons'
        lives and the date's journaled attempts, now that the date is done."""
        attempts = Journal.load(ctx.journal).attempts
        mailed = []  # cron mails a job's output once it ended: the job's real end
        for box in (ctx.world.alerts, ctx.work / "cron" / "mail" / "root"):
            for f in sorted(box.glob("*.eml")) if box.is_dir() else ():
                rec = native.parse_mail(f)
                if rec is not None:
                    mailed.append(int(rec["t_ns"]))
        for w in compressed_waits(self.schedule, date, segments, attempts, mailed):
            self.compressed_wait(ctx, w.start_ns, w.end_ns, w.production_s)

    def scheduler_killed(self, ctx: RunContext, crash: dict[str, Any]) -> None:
        """SIGKILL the day's daemon (PID 1: its whole namespace, running jobs included)."""
        if self._day is None:
            return
        date, cron_day = self._day
        cron_day.stop()
        delay = float(crash.get("restart_after_s") or 0.0)
        self._daemon_note(
            ctx,
            f"day {date}: scheduler_crash {crash.get('fault_id')}: cron (PID 1) SIGKILLed "
            f"at {cron_day.fake_now():%H:%M:%S} with its running jobs; "
            f"restarted {delay:g} simulated s later",
        )

    def restart_scheduler(self, ctx: RunContext, crash: dict[str, Any]) -> bool:
        """A new daemon on the same day's clock: ``run_date`` starts it. False between two
        dates: no daemon was running."""
        if self._day is None:
            return False
        self._restart = crash
        return True

    # --- recovery -----------------------------------------------------------------------

    def operator_plan(self, ctx: RunContext, plan: RecoveryPlan) -> RecoveryPlan:
        """The scripts share fixed ``current/`` files, which hold the last thing any script
        wrote. A date can restart from its broken step only if those files are still its
        own: it is the last date of the run and no other date is re-run before it. Every
        other date restarts from the first script (the only one that reads a per-date
        file), paying for the whole chain."""
        last = ctx.dates[-1].isoformat()
        out: dict[str, str] = {}
        for k, (date, step) in enumerate(sorted(plan.restart_from.items())):
            out[date] = step if k == 0 and date == last else STEP_NAMES[0]
        return RecoveryPlan(out)

    def operator_commands(self, ctx: RunContext, date: str, restart: str) -> list[str]:
        """Re-run each script by hand, from the restart step on, as in the crontab."""
        return [f"LOGICAL_DATE={date} {self.job_command(ctx, s)}" for s in downstream_from(restart)]

    def recovery_commands(self, ctx: RunContext, plan: RecoveryPlan) -> Iterator[str]:
        """The commands carrying out the plan, in the order the operator types them."""
        for date in sorted(plan.restart_from):
            yield from self.operator_commands(ctx, date, plan.restart_from[date])

    def recover(self, ctx: RunContext, plan: RecoveryPlan) -> None:
        for command in self.recovery_commands(ctx, plan):
            ctx.operator(command)
            self._run_by_hand(ctx, command)

    def _run_by_hand(self, ctx: RunContext, command: str) -> int:
        """Run one operator command in a shell with the pipeline's variables."""
        env = {"PATH": JOB_PATH, "HOME": "/root", "SHELL": "/bin/bash", **self.job_env(ctx)}
        sb = Sandbox(
            ["/bin/bash", "-c", command],
            env=env,
            log=ctx.logs / "operator.log",
            cwd=ctx.work,
            prioritized=self.cpu_priority is not None,
        )
        with sb.log.open("a") as f:
            f.write(f"$ {command}\n")
        self._live.append(sb)
        try:
            sb.start()
            while True:
                rc = sb.wait(POLL_S)
                if rc is not None:
                    return rc
                if ctx.remaining() <= 0:
                    raise RunTimeout(f"{self.name}: deadline reached during `{command}`")
        finally:
            sb.kill()
            self._forget(sb)

    # --- trace, abort -------------------------------------------------------------------

    def collect(self, ctx: RunContext) -> list[dict[str, Any]]:
        records = native.collect(ctx.logs, ctx.world.alerts)
        decl = declared.declared(ctx.logs / CRONTAB_COPY)
        return records if decl is None else [decl, *records]

    def _forget(self, thing: Sandbox | CronDay) -> None:
        self._live = [t for t in self._live if t is not thing]

    def abort(self) -> None:
        while self._live:
            thing = self._live.pop()
            if isinstance(thing, CronDay):
                thing.stop()
            else:
                thing.kill()


class HardenedCronRunner(CronRunner):
    """The steelman: careful scripts (markers, flock, retries, timeout, manifest) and MAILTO
    alerts; profile ``pipeline``: one crontab entry runs the chain (``pipeline.sh``)."""

    name = "cron-hardened"
    system = "cron"
    description = "Debian cron with set -euo pipefail, flock, markers, retries, timeout, MAILTO"
    profiles: ClassVar[tuple[str, ...]] = (*CronRunner.profiles, PIPELINE)
    variant = "hardened"
    mailto = ALERT_TO
    stall_s = None  # its jobs sleep between retries and wait on flock: timeout decides

    def crontab_schedule(self) -> Schedule:
        """The profile's schedule with the catch-up entry, in every scenario: the team's
        crontab does not change with what goes wrong. A date that failed is re-run the
        next morning too (it lacks its success marker), as the job is written."""
        return SCHEDULES[self.profile].with_catchup()

    def job_env(self, ctx: RunContext) -> dict[str, str]:
        p = ctx.scenario.policy
        # what one step can legitimately take: every attempt to its timeout (and the
        # 5 s timeout's --kill-after), the delays between them
        step_s = (p.retries + 1) * (p.timeout_s + 5) + p.retries * p.retry_delay_s
        env = {
            **super().job_env(ctx),
            "RETRIES": str(p.retries),
            "RETRY_DELAY_S": f"{p.retry_delay_s:g}",
            "STEP_TIMEOUT_S": f"{p.timeout_s:g}",
            # a downstream job waits at most as long as its upstream can legitimately take
            "UPSTREAM_WAIT_S": f"{step_s + 5:g}",
            # ingest waits for a late partition as long as its attempts would have lasted
            # (every attempt to its timeout, the retry delays between): the policy's
            # budget for the step, polling at its retry delay
            "LANDING_WAIT_S": str(
                math.ceil((p.retries + 1) * p.timeout_s + p.retries * p.retry_delay_s)
            ),
            "LANDING_POLL_S": f"{max(p.retry_delay_s, 0.5):g}",
        }
        if CATCHUP in self.schedule.jobs:
            # the team's look-back window, from the pipeline's first date; a day's job waits
            # for the catch-up as long as every step of every date of the window may take
            env["PIPELINE_START"] = ctx.dates[0].isoformat()
            env["CATCHUP_DAYS"] = str(CATCHUP_DAYS)
            env["CATCHUP_WAIT_S"] = str(math.ceil(CATCHUP_DAYS * len(STEP_NAMES) * step_s))
        return env

    def job_command(self, ctx: RunContext, step: str) -> str:
        return shlex.quote(str(self.script(step)))  # the script logs; cron mails failures

    def card(self) -> dict[str, str]:
        """The naive card with what ``lib.sh`` adds: markers, flock, the policy's retries
        and timeout, exit ``EX_DATAERR`` not retried, MAILTO; the catch-up entry."""
        one_script = PIPELINE in self.crontab_schedule().jobs
        return {
            **super().card(),
            "database": "none: success marker files per date and step",
            "retries": "lib.sh: RETRIES, RETRY_DELAY_S from the scenario policy",
            "timeouts": "timeout --kill-after=5 STEP_TIMEOUT_S (the policy's timeout_s)",
            "fail_fast": f"exit {EX_DATAERR} (ValidationFailed/CanaryCheckFailed) not retried",
            "alerting": f"MAILTO={self.mailto}: cron mails a failed job's report",
            "caching": "success markers: a done step is skipped (rerun.sh --from clears)",
            "parallelism": "one date at a time; "
            + (
                f"{PIPELINE}.sh runs the steps in sequence"
                if one_script
                else "flock: a job waits while its upstream runs"
            ),
        }

    def settings(self) -> dict[str, Any]:
        return {
            **super().settings(),
            "policy": "the scenario's policy: RETRIES, RETRY_DELAY_S, STEP_TIMEOUT_S crontab "
            "variables; a downstream job waits (flock -w) while its upstream still runs",
            "manifest": f"logs/{native.MANIFEST}: one line per attempt (lib.sh)",
        }

    def operator_plan(self, ctx: RunContext, plan: RecoveryPlan) -> RecoveryPlan:
        """Each date has its own data directory: re-running one breaks no other."""
        return plan

    def rerun_command(self, dates: list[str], restart: str) -> str:
        """``rerun.sh DATE... --from STEP``: removes the markers of STEP and later steps of
        each date, then runs the chain for each date in order (a date that never ran has
        no markers to remove)."""
        rerun = shlex.quote(str(SCRIPTS / self.variant / "rerun.sh"))
        return f"{rerun} {' '.join(dates)} --from {restart}"

    def operator_commands(self, ctx: RunContext, date: str, restart: str) -> list[str]:
        return [self.rerun_command([date], restart)]

    def recovery_commands(self, ctx: RunContext, plan: RecoveryPlan) -> Iterator[str]:
        """One ``rerun.sh`` per run of consecutive dates (in date order) restarting from the
        same step: dates keep their order, as the shared champion and serving slots need."""
        dates = sorted(plan.restart_from.items())
        for restart, group in itertools.groupby(dates, key=lambda d: d[1]):
            yield self.rerun_command([d for d, _ in group], restart)


def _dpkg_version(package: str) -> str:
    exe = shutil.which("dpkg-query")
    if exe is None:
        return "unknown"
    res = subprocess.run(
        [exe, "-W", "-f=${Version}", package], capture_output=True, text=True, check=False
    )
    out = res.stdout.strip()
    return out if res.returncode == 0 and re.match(r"\S+", out) else "not installed"
