"""The cron scale engines: Debian's cron daemon (``CronDay``) running the synthetic task of
``orchbench.scale``, as each cron runner's profile writes its crontab. Only orchestration;
shapes, task and metrics are there.

One fresh daemon per sample, sandboxed as for the workflow runs (PID + mount namespace),
on the profile's libfaketime clock and crontab minutes (``schedule.SCHEDULES``, through the
runner's own ``crontab_schedule``), started the schedule's lead-in before its first line.
The shape's jobs fire at the schedule's first step minute (02:00); the measured interval
starts at that minute.

``cron`` (``CronScale``; naive scripts: a job is its command, output appended to a log):

- ``fanout-N``: N crontab lines at 02:00, one task each;
- ``concurrent-K``: K lines at 02:00, each the daily job of another logical date (cron has
  no run object: the fan-out with K dates);
- ``backfill-D``: one line running ``catchup.sh``, the loop a cron user writes after the
  host was down: the day's job for each missed date, one after another.

``cron-hardened`` (``HardenedCronScale``): the runner's crontab (MAILTO, its variables and
the scenario-default policy from ``HardenedCronRunner.job_env``, the catch-up entry at
01:59). Each task is a step: a script sourcing the runner's ``lib.sh`` and calling
``run_step`` (step lock, markers, the retry loop under ``timeout``, the manifest line, the
code revision), whose step program is ``scale_task`` (``STEP_MODULE``):

- ``fanout-N``: N steps ``task_000``.. with no upstream; ``default``/``x30``: one line per
  step at 02:00; ``pipeline``: one entry at 02:00 running the runner's ``pipeline.sh``
  with its step list replaced by the N steps (they run one after another);
- ``concurrent-K``: K lines at 02:00 running step ``task`` (``pipeline``: ``pipeline.sh``
  of that one step) for K dates. ``lib.sh``'s step lock is per step, not per date
  (``flock -n locks/task.lock``): one job runs, the others fail at once and are mailed,
  so the sample fails;
- ``backfill-D``: the crontab's catch-up entry alone, at 01:59: the runner's
  ``catchup.sh`` (its ``rerun.sh`` and ``pipeline.sh``, step list ``task``) re-runs the D
  dates lacking their marker before ``LOGICAL_DATE``, oldest first. Its window is the
  runner's ``CATCHUP_DAYS`` (7), widened to D when D is larger.

Profiles: ``default`` (x300), ``x30`` (default's crontab on a clock ten times slower: it
checks that the compression changes no figure) and, hardened only, ``pipeline``. Not
measured: ``tuned`` (``unmeasured``: it moves only the minutes of the steps after the
first, and these shapes' lines are at the first step's and the catch-up's minutes).

Parallelism is read from the sample's crontab (``Plan.parallelism``): the lines at the
shape's minute, a line running a chain counting once and lines taking the same ``lib.sh``
step lock counting once. Wall time: from the real moment the daemon's clock reaches the
shape's minute (``real_time_of``) to the moment the harness sees every job's log written
and no process but cron left in the namespace (polled every ``daemon.POLL_S`` = 50 ms: that
is the resolution). The jobs run in no raised-weight CPU cgroup (unlike the workflow
bench): they compete for the CPU like any other process.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from orchbench.crond.daemon import CronDay, DeadlineReached, mail_stub, render_crontab
from orchbench.point import DEFAULT_PROFILE
from orchbench.runner import RunContext
from orchbench.scale import (
    FIRST_DATE,
    PointContext,
    ScaleEngine,
    ScaleTimeout,
    Shape,
    Timing,
    task_command,
    task_env,
)
from orchbench.scenario import Scenario
from orchbench.workflow.spec import STEP_NAMES
from orchbench.world import World
from runners.cron import scale_task
from runners.cron.adapter import ALERT_TO, SCRIPTS, CronRunner, HardenedCronRunner
from runners.cron.schedule import CATCHUP, PIPELINE, Schedule

NAIVE_CATCHUP = """#!/bin/bash
# catchup.sh FIRST LAST: the daily job for every missed day, oldest first, one at a time.
d=$1
while true; do
    {task} "$d"
    [ "$d" = "$2" ] && break
    d=$(date -I -d "$d + 1 day")
done
"""
TASK_SCRIPT = """#!/bin/bash
# {step}.sh: the synthetic task as one step, written as scripts/hardened/*.sh are
source {lib}

run_step {step} ""
"""
STEP_MODULE = "runners.cron.scale_task"
TUNED_NAIVE = (
    "tuned moves only the minutes of the steps after the first (schedule.SCHEDULES "
    "offsets_min); every line of these shapes is at the first step's minute on default's "
    "clock (x300, same first minute and lead-in), so its crontab and daemon are default's"
)
TUNED_HARDENED = (
    "tuned moves only the minutes of the steps after the first (schedule.SCHEDULES "
    "offsets_min); these shapes' lines are at the catch-up's and the first step's minutes "
    "on default's clock (x300, same first minute and lead-in), so its crontab, scripts and "
    "daemon are default's"
)
_PLACEHOLDER = Path("/sample")  # where parallelism and settings plan a sample


def runner_for(cls: type[CronRunner], profile: str, repo_root: Path) -> CronRunner:
    """The runner as its day loop configures it (``prepare_days``: the crontab's schedule,
    with cron-hardened's catch-up entry)."""
    runner = cls(profile, repo_root)
    runner._use(runner.crontab_schedule())
    return runner


@dataclass(frozen=True)
class Job:
    """One crontab line of a sample."""

    fields: str  # the five time fields
    command: str
    log: Path  # grows when the job fires
    lock: str | None = None  # the lib.sh step lock it takes first (None: none)
    tasks: int = 1  # tasks it runs, one after another

    def line(self) -> str:
        if "%" in self.command:  # cron would read it as a newline
            raise ValueError(f"'%' in a crontab command: {self.command}")
        return f"{self.fields} {self.command}"


@dataclass
class Plan:
    """A sample's crontab, scripts and clock."""

    env: dict[str, str]  # the crontab's variables
    jobs: list[Job]
    minute: str  # the fields of the shape's jobs (the measured interval starts there)
    fire: dt.datetime  # the daemon's clock at that minute
    fake_start: dt.datetime  # the daemon's clock at its start
    why: str  # how the crontab runs the shape's tasks (the parallelism's source)
    scripts: dict[Path, str] = field(default_factory=dict)

    def crontab(self) -> str:
        return render_crontab(self.env, {}) + "\n".join(j.line() for j in self.jobs) + "\n"

    def parallelism(self) -> int:
        """Tasks the crontab lets run at once: the lines at the shape's minute, those
        taking the same step lock once (one runs, the others fail)."""
        at = [j for j in self.jobs if j.fields == self.minute]
        return len({j.lock or f"line {i}" for i, j in enumerate(at)})


class CronScale(ScaleEngine):
    """Scale shapes on Debian's cron daemon, as the naive cron runner's profile writes its
    crontab."""

    name: ClassVar[str] = "cron"
    system: ClassVar[str] = "cron"
    profiles: ClassVar[tuple[str, ...]] = (DEFAULT_PROFILE, "x30")
    unmeasured: ClassVar[dict[str, str]] = {"tuned": TUNED_NAIVE}
    runner_class: ClassVar[type[CronRunner]] = CronRunner

    def __init__(self, repo_root: Path, profile: str = DEFAULT_PROFILE) -> None:
        super().__init__(repo_root, profile)
        self._cron = runner_for(self.runner_class, profile, repo_root)
        self._day: CronDay | None = None

    @property
    def schedule(self) -> Schedule:
        """The runner's crontab schedule for this profile (``schedule.SCHEDULES``)."""
        return self._cron.schedule

    def check_environment(self) -> None:
        self._cron.check_environment()

    def versions(self) -> dict[str, str]:
        v = self._cron.versions()
        return {k: v[k] for k in ("cron", "libfaketime", "bash", "runner_python") if k in v}

    def parallelism(self, shape: Shape) -> tuple[int, str]:
        plan = self.plan(shape, _PLACEHOLDER, _PLACEHOLDER / "logs", _PLACEHOLDER / "j")
        return plan.parallelism(), f"the sample's crontab (logs-N/crontab.txt): {plan.why}"

    def settings(self, shape: Shape) -> dict[str, Any]:
        plan = self.plan(shape, _PLACEHOLDER, _PLACEHOLDER / "logs", _PLACEHOLDER / "j")
        s = self.schedule
        return {
            "profile": self.profile,
            "variant": self._cron.variant,
            "daemon": "cron -f -L 15 in a PID+mount namespace, one per sample",
            "clock": f"libfaketime x{s.speed:g} (schedule.SCHEDULES[{self.profile!r}]), "
            f"started {s.lead_in_s:g} fake s before the crontab's first minute",
            "schedule": s.describe(),
            "crontab_lines": len(plan.jobs),
            "crontab_minutes": sorted({_hhmm(j.fields) for j in plan.jobs}),
            "shape_minute": _hhmm(plan.minute),
            "mailto": self._cron.mailto,
            "cpu_priority": "none: the jobs compete for the CPU like any process",
            "python": str(self._cron.python()),
        }

    def plan(self, shape: Shape, sample: Path, logs: Path, journal: Path) -> Plan:
        """The naive crontab: every job at the first step's minute, its output appended to
        its log (``CronRunner.job_command``), no MAILTO (``mailto``)."""
        s = self.schedule
        first = s.jobs[0]
        fields = s.cron_fields(first)
        env = {"MAILTO": self._cron.mailto} if self._cron.mailto else {}
        env.update(task_env(journal, self.label, shape))
        py = self._cron.python()
        q = shlex.quote
        at = _hhmm(fields)
        scripts: dict[Path, str] = {}
        jobs: list[Job] = []
        if shape.kind == "backfill":
            script = sample / "scripts" / "catchup.sh"
            task = " ".join(q(a) for a in task_command(py, 0, "X")[:-1])
            scripts[script] = NAIVE_CATCHUP.format(task=task)
            dates = shape.dates()
            log = logs / "catchup.log"
            cmd = f"{q(str(script))} {dates[0]} {dates[-1]} >> {q(str(log))} 2>&1"
            jobs.append(Job(fields, cmd, log, tasks=shape.n))
            why = f"one line at {at} runs catchup.sh, whose loop runs the days one at a time"
        else:
            dates = shape.dates() if shape.kind == "concurrent" else [shape.dates()[0]] * shape.n
            for i, date in enumerate(dates):
                log = logs / f"job-{i:03d}.log"
                cmd = " ".join(q(a) for a in task_command(py, i, date))
                jobs.append(Job(fields, f"{cmd} >> {q(str(log))} 2>&1", log))
            why = (
                f"{shape.n} line(s) at {at}, one task each; cron forks every job of a "
                "minute at once (no limit in cron)"
            )
        return Plan(
            env=env,
            jobs=jobs,
            minute=fields,
            fire=s.fire_time(FIRST_DATE, first),
            fake_start=s.daemon_start(FIRST_DATE),
            why=why,
            scripts=scripts,
        )

    def run(self, shape: Shape, point: PointContext) -> Timing:
        sample = point.work / point.logs.name  # a sample's own files (repeat: markers)
        plan = self.plan(shape, sample, point.logs, point.journal)
        for path, text in plan.scripts.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            path.chmod(0o755)
        tab = plan.crontab()
        (point.logs / "crontab.txt").write_text(tab)
        day = CronDay(
            root=sample / "cron",
            crontab=tab,
            stub=mail_stub(ALERT_TO, sample / "alerts", sample / "mail"),
            fake_start=plan.fake_start,
            speed=self.schedule.speed,
            log=point.logs / "cron-daemon.log",
            job_logs=list(dict.fromkeys(j.log for j in plan.jobs)),
        )
        self._day = day
        try:
            day.start()
            try:
                ended = day.wait_finished(plan.fire, point.deadline, point.deadline)
            except DeadlineReached as e:
                raise ScaleTimeout(f"{self.label} {shape.name}: {e}") from e
            end = time.time_ns()
            start = int(day.real_time_of(plan.fire) * 1e9)
        finally:
            day.stop()
            self._day = None
        if ended != "finished":
            raise RuntimeError(f"{self.label} {shape.name}: day ended {ended!r}")
        self.check_jobs(shape, sample)
        return Timing(start, end)

    def check_jobs(self, shape: Shape, sample: Path) -> None:
        """Raise if the jobs show a failure (naive cron shows none: the records count)."""

    def abort(self) -> None:
        if self._day is not None:
            self._day.stop()
            self._day = None


class HardenedCronScale(CronScale):
    """Scale shapes on cron-hardened's crontab: each task a ``lib.sh`` step, ``pipeline``
    one entry running the chain, the backfill the catch-up job."""

    name: ClassVar[str] = "cron-hardened"
    profiles: ClassVar[tuple[str, ...]] = (DEFAULT_PROFILE, "x30", PIPELINE)
    unmeasured: ClassVar[dict[str, str]] = {"tuned": TUNED_HARDENED}
    runner_class: ClassVar[type[CronRunner]] = HardenedCronRunner

    def settings(self, shape: Shape) -> dict[str, Any]:
        env = self.plan(shape, _PLACEHOLDER, _PLACEHOLDER / "logs", _PLACEHOLDER / "j").env
        keys = ("RETRIES", "RETRY_DELAY_S", "STEP_TIMEOUT_S", "UPSTREAM_WAIT_S")
        return {
            **super().settings(shape),
            "policy": {k: env[k] for k in keys},
            "catch_up": {k: env[k] for k in ("PIPELINE_START", "CATCHUP_DAYS", "CATCHUP_WAIT_S")},
            "step": f"scripts sourcing {SCRIPTS / 'hardened' / 'lib.sh'}: run_step "
            f"(step lock, markers, retries under timeout, manifest), STEP_MODULE={STEP_MODULE}",
            "one_entry": PIPELINE in self.schedule.jobs,
        }

    def crontab_env(self, shape: Shape, sample: Path, logs: Path, journal: Path) -> dict[str, str]:
        """The runner's crontab variables (``HardenedCronRunner.crontab``: MAILTO,
        LOGICAL_DATE, ``job_env`` with the default scenario's policy), the sample's logs,
        the step program and the task's variables."""
        today = FIRST_DATE + dt.timedelta(days=shape.n if shape.kind == "backfill" else 0)
        ctx = RunContext(
            scenario=Scenario.model_validate(
                {
                    "schema": "orchbench.scenario/1",
                    "name": "scale",
                    "claim": "the cost of cron-hardened's jobs as N grows",
                    "days": 1,
                    "start_date": FIRST_DATE,
                }
            ),
            runner=self.name,
            profile=self.profile,
            run_id=f"scale-{shape.name}",
            run_dir=sample / "run",
            world=World(sample / "world"),
            deadline=0.0,
            repo_root=self.repo_root,
        )
        env = {"MAILTO": self._cron.mailto} if self._cron.mailto else {}
        env["LOGICAL_DATE"] = today.isoformat()
        env.update(self._cron.job_env(ctx))
        env["PIPELINE_LOGS"] = str(logs)  # kept with the point
        if shape.kind == "backfill":  # the window covers the missed dates
            env["CATCHUP_DAYS"] = str(max(int(env["CATCHUP_DAYS"]), shape.n))
        env["STEP_MODULE"] = STEP_MODULE
        env.update(task_env(journal, self.label, shape))
        return env

    def plan(self, shape: Shape, sample: Path, logs: Path, journal: Path) -> Plan:
        s = self.schedule
        one_entry = PIPELINE in s.jobs
        first = next(j for j in s.jobs if j != CATCHUP)
        env = self.crontab_env(shape, sample, logs, journal)
        today = dt.date.fromisoformat(env["LOGICAL_DATE"])
        q = shlex.quote
        here = sample / "scripts"
        steps = (
            [f"{scale_task.STEP}_{i:03d}" for i in range(shape.n)]
            if shape.kind == "fanout"
            else [scale_task.STEP]
        )
        lib = q(str(SCRIPTS / "hardened" / "lib.sh"))
        scripts = {here / f"{st}.sh": TASK_SCRIPT.format(step=st, lib=lib) for st in steps}
        chain = " ".join(steps)
        scripts[here / "pipeline.sh"] = _adapted(
            "pipeline.sh", f"for step in {' '.join(STEP_NAMES)}; do", f"for step in {chain}; do"
        )
        scripts[here / "rerun.sh"] = _adapted(
            "rerun.sh", f"steps=({' '.join(STEP_NAMES)})", f"steps=({chain})"
        )
        scripts[here / "catchup.sh"] = _adapted(
            "catchup.sh", f"LAST_STEP={STEP_NAMES[-1]}", f"LAST_STEP={steps[-1]}"
        )
        catchup = Job(
            s.cron_fields(CATCHUP),
            q(str(here / "catchup.sh")),
            logs / "catchup.log",
            lock="catchup",
            tasks=shape.n if shape.kind == "backfill" else 0,
        )
        fields = s.cron_fields(first)
        at, catch_at = _hhmm(fields), _hhmm(catchup.fields)
        if shape.kind == "backfill":
            jobs = [catchup]
            minute, fire = catchup.fields, s.fire_time(today, CATCHUP)
            why = (
                f"the catch-up entry alone, at {catch_at}: catchup.sh's rerun.sh runs "
                f"pipeline.sh for the {shape.n} missed date(s) one after another"
            )
        else:
            minute, fire = fields, s.fire_time(today, first)
            jobs = [catchup]
            if shape.kind == "fanout" and one_entry:
                log = logs / "pipeline.log"
                jobs.append(Job(fields, q(str(here / "pipeline.sh")), log, steps[0], shape.n))
                why = f"one entry at {at} runs pipeline.sh: its {shape.n} step(s) one at a time"
            elif shape.kind == "fanout":
                for st in steps:
                    jobs.append(Job(fields, q(str(here / f"{st}.sh")), logs / f"{st}.log", st))
                why = (
                    f"{shape.n} line(s) at {at}, each a step with its own lib.sh lock "
                    "(locks/task_NNN.lock): cron forks every job of a minute at once"
                )
            else:
                script = "pipeline.sh" if one_entry else f"{steps[0]}.sh"
                log = logs / ("pipeline.log" if one_entry else f"{steps[0]}.log")
                for date in shape.dates():
                    cmd = f"LOGICAL_DATE={date} {q(str(here / script))}"
                    jobs.append(Job(fields, cmd, log, steps[0]))
                why = (
                    f"{shape.n} line(s) at {at} run {script} (step {steps[0]}) for "
                    f"{shape.n} date(s); lib.sh's step lock is per step, not per date "
                    f"(flock -n locks/{steps[0]}.lock): one runs, the others fail at once"
                )
            why += f" (the catch-up entry at {catch_at} finds no date to re-run)"
        return Plan(
            env=env,
            jobs=jobs,
            minute=minute,
            fire=fire,
            fake_start=s.daemon_start(today),
            why=why,
            scripts=scripts,
        )

    def check_jobs(self, shape: Shape, sample: Path) -> None:
        """A failed job mails its report (MAILTO): any mail fails the sample."""
        reports = mailed_reports(sample / "alerts")
        if reports:
            raise RuntimeError(
                f"{self.label} {shape.name}: {len(reports)} job(s) failed; cron mailed: "
                + "; ".join(dict.fromkeys(reports))
            )


def mailed_reports(box: Path) -> list[str]:
    """The first line of each mail the stub delivered to ``box`` (lib.sh's report)."""
    out = []
    for f in sorted(box.glob("*.eml")) if box.is_dir() else ():
        msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.compat32)
        body = msg.get_payload(decode=True)
        text = body.decode(errors="replace") if isinstance(body, bytes) else ""
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        out.append(first or str(msg.get("Subject", "")).strip())
    return out


def _adapted(script: str, old: str, new: str) -> str:
    """The runner's hardened ``script`` with ``old`` (its step list) replaced by ``new``."""
    text = (SCRIPTS / "hardened" / script).read_text()
    if text.count(old) != 1:
        raise RuntimeError(f"{script} no longer has {old!r} once")
    return text.replace(old, new)


def _hhmm(fields: str) -> str:
    minute, hour = fields.split()[:2]
    return f"{int(hour):02d}:{int(minute):02d}"
