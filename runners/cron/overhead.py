"""Cron's orchestration overhead per task, the windmill-benchmarks way (issue 29 point 1).

One module for the folder's two runners: ``--runner cron`` (the default) writes
``results/overhead/cron.json``, ``--runner cron-hardened`` writes
``results/overhead/cron-hardened.json``; the rest of the command line is
``orchbench.overhead.probe_main``'s::

    .venv/bin/python -m runners.cron.overhead [--runner cron-hardened] [--profiles ...]

The tasks are chained the way each profile chains the benchmarked workflow, on the
runner's own deployment (``orchbench.crond.daemon.CronDay``: Debian's ``cron -f -L 15``
as PID 1 of fresh PID and mount namespaces, on the profile's libfaketime clock
``SCHEDULES[profile].speed``, in the runner's CPU group), one fresh daemon per run:

- ``cron`` (``default``, ``tuned``): one crontab line per task at a later minute, each
  script written as ``scripts/naive/*.sh`` are (start and end lines with
  ``date --rfc-3339=ns``, output appended to ``logs/<task>.log``). The slot between two
  lines follows the runner's own rule (``schedule.py``): it must exceed the job's real
  duration x ``speed`` (its occupancy of the compressed clock); ``default`` sizes it
  for a bad day plus a quarter, ``tuned`` for a good day plus a half, rounded up to
  whole minutes (cron's resolution): ``slot_min``.
- ``cron-hardened`` (``default``, ``tuned``): the same minutes, each script
  ``source``-ing the runner's ``scripts/hardened/lib.sh`` and calling ``run_step`` with
  the previous task as upstream (markers, flock, retries and timeout from the default
  policy, the manifest, MAILTO), the step program being ``overhead_task``
  (``STEP_MODULE``). No catch-up entry: it re-runs the benchmarked steps, not the
  probe's tasks.
- ``cron-hardened`` ``pipeline``: one crontab entry runs the runner's ``pipeline.sh``
  with its step list replaced by the 40 (or 10) task scripts.

``x30`` is not probed (``UNMEASURED``): 40 one-minute slots at x30 are 80 s of real time
per run, 10 min for 6 runs of both shapes, to read back a figure the schedule's rule
already fixes.

Times: what cron itself records. Debian's cron logs a job's start and end only through
syslog(3) (``cron -f -L 15``, cron(8): ``(root) CMD ([PID] command)`` as it forks the
job, ``(root) END ([PID] command)`` once the job exited, ``(CRON) error (grandchild #PID
failed with exit status N)``). The runner's namespace has no ``/dev/log`` (none on this
host), so in the scenario runs those lines go nowhere; the probe gives the same daemon a
private ``/dev`` whose ``log`` is a syslog sink (``orchbench.crond.syslog``, standing in
for journald/rsyslog, which stamp a local message on receipt) and reads its lines. Per
task: queued = started (cron records no queue: a job is forked at its minute), started
= its CMD line, completed = its END line. The value, the attempt and the exit status come
from the job's own log (the script's lines, as ``native.py`` reads them): the task's
``returned`` line, lib.sh's ``attempt 1/N`` and ``exit=0``. ``pipeline``: cron runs
one job, so it records nothing per task: the tasks' start and end are lib.sh's
``start``/``end`` lines in each task's log (``date --rfc-3339=ns``, just before and after
the task's process); cron's CMD/END of the one job are kept in ``raw`` (``cron_job_s``).

Clocks. The compressed clock makes the real gap between two crontab minutes
``slot / speed``. The entry's figures are on the production clock, as the runner's
production-clock times are (``waits.py``): a crontab minute's distance stays on cron's
clock, the real time jobs take after their minute stays real; per task ``i`` with
minute ``M_i`` (real start ``S_i``): ``P_i = (M_i - M_0) * (1 - 1 / speed) + S_i - S_0``
(the start of the daemon's clock cancels). So naive cron's per-task figure is its slot;
``compressed_clock`` holds the same figures on the real clock of the run, ``raw`` both.
``pipeline`` has one minute: both clocks agree.

Checked as windmill does: each task has one start and one end line, exit 0 on attempt 1
(no refusal, skip, failure or retry), printed ``fibo(n)``, and started after the previous
task ended (a job that overran its slot on the compressed clock fails the run).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import re
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchbench.crond.daemon import CronDay, DeadlineReached, mail_stub, render_crontab
from orchbench.crond.syslog import SyslogSink
from orchbench.overhead import Measure, Shape, probe_main, probe_summary, shape_entry
from orchbench.policy import DEFAULT_POLICY
from runners.cron import native
from runners.cron.adapter import (
    ALERT_TO,
    SCRIPTS,
    CronRunner,
    HardenedCronRunner,
)
from runners.cron.schedule import PIPELINE, SCHEDULES

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "results" / "overhead"
RUNNERS: dict[str, type[CronRunner]] = {"cron": CronRunner, "cron-hardened": HardenedCronRunner}
PROBED: dict[str, tuple[str, ...]] = {
    "cron": ("default", "tuned"),
    "cron-hardened": ("default", "tuned", PIPELINE),
}
_X30 = (
    "default's crontab on a clock ten times slower: a probe's total is its slots, fixed by "
    "the schedule's rule (default's five totals agree to the second), so x30 gives about one "
    "cron minute per task by construction; probing it takes 10 min of real time"
)
UNMEASURED: dict[str, dict[str, str]] = {"cron": {"x30": _X30}, "cron-hardened": {"x30": _X30}}
TASK_MODULE = "runners.cron.overhead_task"
LOGICAL_DATE = "2026-01-01"
SOURCE = "windmill-labs/windmill-benchmarks competitors (fibonacci 40x10, 10x33)"
# Real seconds one probe job takes, from cron's CMD to its END (bash, the script's own
# lines, the interpreter, the Fibonacci; hardened: lib.sh's code revision, manifest and
# flock too), as schedule.MEASURED_WARM_S / _SLOW_S: warm is what the smoke runs of
# 2026-12-06 measured in the runner's CPU group (load about 14 on 2 cores); slow is a
# job that waited for the CPU there (fibo(10): a naive job overran a 0.2 s slot, x300's
# minute; fibo(33): 2.5 x warm, schedule.py's spread).
JOB_WARM_S: dict[tuple[str, str], float] = {
    ("naive", "40x_fibo10"): 0.04,
    ("naive", "10x_fibo33"): 0.55,
    ("hardened", "40x_fibo10"): 0.1,
    ("hardened", "10x_fibo33"): 0.6,
}
JOB_SLOW_S: dict[tuple[str, str], float] = {
    ("naive", "40x_fibo10"): 0.3,
    ("naive", "10x_fibo33"): 1.4,
    ("hardened", "40x_fibo10"): 0.6,
    ("hardened", "10x_fibo33"): 1.5,
}
# schedule.py's margins: default a bad day plus about a quarter, tuned a good day plus
# about a half
# about a half
MARGIN = {"default": 1.25, "tuned": 1.5}

_LINE = re.compile(
    r"^\[(?P<ts>[^\]]+)\] (?P<task>task_\d+) (?P<date>\d{4}-\d{2}-\d{2}) "
    r"(?P<event>start|end|refused|skipped|FAILED)(?P<rest>.*)$"
)
_VALUE = re.compile(r"^(?P<task>task_\d+) \d{4}-\d{2}-\d{2}: returned (?P<value>-?\d+)$")
# the syslog sink's lines (orchbench.crond.syslog): "<receive ns> <PRI>stamp CRON[pid]: ..."
_CRON = re.compile(
    r"^(?P<ns>\d+) <\d+>.*? CRON\[\d+\]: \((?P<user>[^)]*)\) (?P<event>CMD|END) "
    r"\(\[(?P<pid>\d+)\] (?P<command>.*)\)$"
)
_CRON_ERROR = re.compile(r"\(CRON\) error \(grandchild #(?P<pid>\d+) (?P<what>.*)\)$")
_JOB = re.compile(r"/(?P<job>task_\d+|pipeline)\.sh\b")
_EXIT = re.compile(r"exit=(\d+)")
_ATTEMPT = re.compile(r"attempt (\d+)/\d+")

NAIVE_TASK = """#!/bin/bash
# {task}.sh: one probe task, written as scripts/naive/*.sh are
LOGICAL_DATE=${{LOGICAL_DATE:-$(date -d yesterday +%F)}}

echo "[$(date --rfc-3339=ns)] {task} $LOGICAL_DATE start"
$PIPELINE_PYTHON -m {module} {task} --date $LOGICAL_DATE
rc=$?
echo "[$(date --rfc-3339=ns)] {task} $LOGICAL_DATE end exit=$rc"
"""
HARDENED_TASK = """#!/bin/bash
# {task}.sh: one probe task, written as scripts/hardened/*.sh are
source {lib}

run_step {task} "{upstream}"
"""


def task_names(shape: Shape) -> list[str]:
    return [f"task_{i:02d}" for i in range(shape.tasks)]


def slot_min(profile: str, variant: str, shape: Shape) -> int:
    """Minutes between two tasks' crontab lines: the job's usual real duration x the
    clock's speed x the profile's margin, in whole minutes (schedule.py's rule)."""
    durations = JOB_SLOW_S if profile == "default" else JOB_WARM_S
    fake_s = durations[(variant, shape.name)] * SCHEDULES[profile].speed * MARGIN[profile]
    return max(1, math.ceil(fake_s / 60))


def task_record(text: str, task: str, expected: int) -> dict[str, int]:
    """One task's start and end (ns) from its job log; raises AssertionError unless it
    ran once, on attempt 1, exited 0 and printed ``expected``."""
    starts, ends, values = [], [], []
    for line in text.splitlines():
        m = _LINE.match(line)
        if m is None:
            v = _VALUE.match(line)
            if v is not None and v["task"] == task:
                values.append(int(v["value"]))
            continue
        if m["task"] != task:
            continue
        event, rest = m["event"], m["rest"]
        if event in ("refused", "skipped", "FAILED"):
            raise AssertionError(f"{task}: {event}{rest}")
        attempt = _ATTEMPT.search(rest)
        if attempt is not None and attempt[1] != "1":
            raise AssertionError(f"{task}: attempt {attempt[1]}: not a success on try 1")
        if event == "start":
            starts.append(native.parse_ts(m["ts"]))
        else:
            rc = _EXIT.search(rest)
            if rc is None or rc[1] != "0":
                raise AssertionError(f"{task}: ended {rest.strip()!r}, not exit=0")
            ends.append(native.parse_ts(m["ts"]))
    if len(starts) != 1 or len(ends) != 1:
        raise AssertionError(f"{task}: {len(starts)} start and {len(ends)} end lines, not 1")
    if values != [expected]:
        raise AssertionError(f"{task}: returned {values}, expected [{expected}]")
    return {"start_ns": starts[0], "end_ns": ends[0]}


def cron_jobs(text: str) -> dict[str, dict[str, int]]:
    """Each probe job's start (CMD) and end (END) as cron logged them (receive ns from
    the syslog sink) and its pid; raises AssertionError if cron logged a job twice, left
    one without its END, or logged a job's failure (exit status or signal)."""
    jobs: dict[str, dict[str, int]] = {}
    failed: dict[str, str] = {}
    for line in text.splitlines():
        e = _CRON_ERROR.search(line)
        if e is not None:
            failed[e["pid"]] = e["what"]
            continue
        m = _CRON.match(line)
        j = _JOB.search(m["command"]) if m else None
        if m is None or j is None:
            continue
        rec = jobs.setdefault(j["job"], {"pid": int(m["pid"])})
        key = "start_ns" if m["event"] == "CMD" else "end_ns"
        if key in rec or rec["pid"] != int(m["pid"]):
            raise AssertionError(f"cron ran {j['job']} more than once")
        rec[key] = int(m["ns"])
    for job, rec in jobs.items():
        if str(rec["pid"]) in failed:
            raise AssertionError(f"cron: {job} (pid {rec['pid']}) {failed[str(rec['pid'])]}")
        if "start_ns" not in rec or "end_ns" not in rec:
            raise AssertionError(f"cron logged no CMD or no END for {job}")
    return jobs


def run_times(
    tasks: Sequence[str], records: Sequence[dict[str, int]], minutes: Sequence[int], speed: float
) -> dict[str, Any]:
    """One run's timeline from its tasks' records (``task_record``, in order) and their
    crontab minutes (from the first): the production clock (module docstring) as
    ``queued_s``/``started_s``/``completed_s``, the run's real clock as ``real_*``.
    Raises AssertionError if a task started before the previous one ended."""
    for i in range(1, len(records)):
        if records[i]["start_ns"] < records[i - 1]["end_ns"]:
            ran = (records[i - 1]["end_ns"] - records[i - 1]["start_ns"]) / 1e9
            slot = (minutes[i] - minutes[i - 1]) * 60 / speed
            raise AssertionError(
                f"{tasks[i]} started before {tasks[i - 1]} ended ({tasks[i - 1]} ran "
                f"{ran:.3f} s; its slot is {slot:.3f} s of real time at x{speed:g})"
            )
    s0 = records[0]["start_ns"]
    real_start = [(r["start_ns"] - s0) / 1e9 for r in records]
    real_end = [(r["end_ns"] - s0) / 1e9 for r in records]
    shift = [(m - minutes[0]) * 60 * (1 - 1 / speed) for m in minutes]
    started = [s + d for s, d in zip(real_start, shift, strict=True)]
    completed = [e + d for e, d in zip(real_end, shift, strict=True)]
    return {
        "total_s": completed[-1],
        "queued_s": started,  # cron records no queue: a job is forked at its minute
        "started_s": started,
        "completed_s": completed,
        "real_total_s": real_end[-1],
        "real_started_s": real_start,
        "real_completed_s": real_end,
        "minutes": list(minutes),
    }


def real_clock(run: dict[str, Any]) -> dict[str, Any]:
    """The run's real-clock timeline in ``probe_summary``'s keys."""
    return {
        "total_s": run["real_total_s"],
        "queued_s": run["real_started_s"],
        "started_s": run["real_started_s"],
        "completed_s": run["real_completed_s"],
    }


class Probe:
    """One runner's probe runs: scripts, crontab and one ``CronDay`` per run."""

    def __init__(self, name: str, profile: str, shape: Shape, tmp: Path) -> None:
        self.runner = RUNNERS[name](profile, REPO)
        self.profile, self.shape, self.tmp = profile, shape, tmp
        self.variant = self.runner.variant
        self.schedule = SCHEDULES[profile]
        self.tasks = task_names(shape)
        self.pipeline = profile == PIPELINE
        self.slot = 0 if self.pipeline else slot_min(profile, self.variant, shape)
        self.scripts = tmp / "scripts"
        self._write_scripts()

    def _write_scripts(self) -> None:
        self.scripts.mkdir(parents=True, exist_ok=True)
        lib = shlex.quote(str(SCRIPTS / "hardened" / "lib.sh"))
        for i, task in enumerate(self.tasks):
            if self.variant == "naive":
                text = NAIVE_TASK.format(task=task, module=TASK_MODULE)
            else:
                upstream = self.tasks[i - 1] if i else ""
                text = HARDENED_TASK.format(task=task, lib=lib, upstream=upstream)
            self._script(task, text)
        if self.pipeline:  # the runner's pipeline.sh, running the probe's tasks
            text = (SCRIPTS / "hardened" / "pipeline.sh").read_text()
            steps = "ingest validate featurize train evaluate register canary"
            if steps not in text:
                raise RuntimeError(f"pipeline.sh no longer lists {steps!r}")
            self._script(PIPELINE, text.replace(steps, " ".join(self.tasks)))

    def _script(self, job: str, text: str) -> None:
        path = self.scripts / f"{job}.sh"
        path.write_text(text)
        path.chmod(0o755)

    def minutes(self) -> list[int]:
        """Each task's crontab minute, from the first (pipeline: all in one job)."""
        return [i * self.slot for i in range(len(self.tasks))]

    def jobs(self) -> list[str]:
        return [PIPELINE] if self.pipeline else self.tasks

    def env(self, run: Path) -> dict[str, str]:
        """The crontab's variables, as the runner's ``crontab`` and ``job_env`` set them."""
        env: dict[str, str] = {}
        if self.runner.mailto:
            env["MAILTO"] = self.runner.mailto
        env.update(
            LOGICAL_DATE=LOGICAL_DATE,
            PIPELINE_PYTHON=str(self.runner.python()),
            PIPELINE_DATA=str(run / "data"),
            PIPELINE_LOGS=str(run / "logs"),
            PROBE_FIBO_N=str(self.shape.fibo_n),
        )
        if self.variant == "hardened":
            p = DEFAULT_POLICY
            step_s = (p.retries + 1) * (p.timeout_s + 5) + p.retries * p.retry_delay_s
            env.update(
                ORCHBENCH_WORLD=str(run / "world"),
                STEP_MODULE=TASK_MODULE,
                RETRIES=str(p.retries),
                RETRY_DELAY_S=f"{p.retry_delay_s:g}",
                STEP_TIMEOUT_S=f"{p.timeout_s:g}",
                UPSTREAM_WAIT_S=f"{step_s + 5:g}",
            )
        return env

    def crontab(self, run: Path) -> str:
        first = dt.datetime.combine(dt.date(2000, 1, 1), self.schedule.first_run)
        lines = {}
        for job, minute in zip(self.jobs(), self.minutes(), strict=False):
            t = first + dt.timedelta(minutes=minute)
            command = shlex.quote(str(self.scripts / f"{job}.sh"))
            if self.variant == "naive":  # as CronRunner.job_command
                command += f" >> {shlex.quote(str(run / 'logs' / f'{job}.log'))} 2>&1"
            lines[f"{t.minute} {t.hour} * * *"] = command
        return render_crontab(self.env(run), lines)

    def run_once(self, k: int) -> dict[str, Any]:
        """One fresh daemon runs the tasks; their records, checked."""
        run = self.tmp / f"run-{k}"
        logs = run / "logs"
        for d in (logs, run / "data", run / "world"):
            d.mkdir(parents=True, exist_ok=True)
        tab = self.crontab(run)
        (logs / "crontab.txt").write_text(tab)
        day = dt.date.fromisoformat(LOGICAL_DATE) + dt.timedelta(days=1)
        first = dt.datetime.combine(day, self.schedule.first_run)
        last = first + dt.timedelta(minutes=self.minutes()[-1] if not self.pipeline else 0)
        sink = SyslogSink(run / "log.sock", logs / "syslog.log")
        cron_day = CronDay(
            root=run / "cron",
            crontab=tab,
            stub=mail_stub(ALERT_TO, run / "alerts", run / "mail"),
            fake_start=first - dt.timedelta(seconds=self.schedule.lead_in_s),
            speed=self.schedule.speed,
            log=logs / "cron-daemon.log",
            job_logs=[logs / f"{j}.log" for j in self.jobs()],
            prioritized=self.runner.cpu_priority is not None,
            syslog=sink.socket,
        )
        real_s = (last - cron_day.fake_start).total_seconds() / self.schedule.speed
        budget = time.monotonic() + 3 * real_s + 60 * self.shape.tasks
        try:
            sink.start()
            cron_day.start()
            ended = cron_day.wait_finished(last, budget, budget, stall_s=self.runner.stall_s)
        except DeadlineReached as e:
            raise RuntimeError(f"{self.runner.name} {self.profile}: {e}") from e
        finally:
            cron_day.stop()
            sink.stop()
        if ended != "finished":
            raise AssertionError(f"run {k}: the day ended {ended!r}; logs in {logs}")
        jobs = cron_jobs(sink.out.read_text(errors="replace") if sink.out.is_file() else "")
        missing = [j for j in self.jobs() if j not in jobs]
        if missing:
            raise AssertionError(f"run {k}: cron logged no run of {', '.join(missing)}")
        scripts = []  # the job logs' own lines: the value, the attempt, the exit status
        for task in self.tasks:
            log = logs / f"{task}.log"
            text = log.read_text(errors="replace") if log.is_file() else ""
            scripts.append(task_record(text, task, self.shape.expected))
        if self.pipeline:  # cron ran one job: the tasks' times are lib.sh's lines
            timed = run_times(self.tasks, scripts, self.minutes(), self.schedule.speed)
            s0 = scripts[0]["start_ns"]
            cron = jobs[PIPELINE]
            timed["cron_job_s"] = [(cron["start_ns"] - s0) / 1e9, (cron["end_ns"] - s0) / 1e9]
            return timed
        records = [jobs[t] for t in self.tasks]
        timed = run_times(self.tasks, records, self.minutes(), self.schedule.speed)
        s0 = records[0]["start_ns"]
        timed["script_started_s"] = [(r["start_ns"] - s0) / 1e9 for r in scripts]
        timed["script_completed_s"] = [(r["end_ns"] - s0) / 1e9 for r in scripts]
        return timed

    def settings(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "clock_speed": self.schedule.speed,
            "jobs": "one crontab entry: pipeline.sh runs the tasks"
            if self.pipeline
            else f"one crontab line per task, {self.slot} min apart",
            "slot_min": self.slot or None,
            "daemon": "cron -f -L 15 per run, PID+mount namespace, libfaketime clock",
            "cpu_priority": self.runner.cpu_priority or "none",
        }


def measure_runner(name: str) -> Measure:
    """``probe_main``'s ``measure`` for runner ``name``."""

    def measure(
        profile: str, shapes: Sequence[Shape], runs: int, warmup: int
    ) -> dict[str, dict[str, Any]]:
        RUNNERS[name](profile, REPO).check_environment()
        out: dict[str, dict[str, Any]] = {}
        for shape in shapes:
            with tempfile.TemporaryDirectory(prefix=f"orchbench-{name}-overhead-") as tmp:
                probe = Probe(name, profile, shape, Path(tmp))
                probe.runner.start(Path(tmp))  # the runner's warm-up of its interpreter
                timed = [probe.run_once(k) for k in range(warmup + runs)][warmup:]
            compressed = probe_summary([real_clock(r) for r in timed], shape.tasks)
            out[shape.name] = shape_entry(
                timed,
                shape,
                profile,
                probe.settings(),
                (
                    f"{SOURCE}: {shape.tasks} sequential fibo({shape.fibo_n}) tasks, "
                    f"{warmup} warm-up + {runs} runs; "
                    + (
                        "one cron job runs them (pipeline.sh): each task's start/end "
                        "lines in its lib.sh log"
                        if probe.pipeline
                        else "one crontab line per task: cron -L 15's CMD (started) and "
                        "END (completed) syslog lines, stamped on receipt"
                    )
                    + "; queued = started (cron has no queue); on the production clock "
                    "(crontab minutes on cron's clock, job time real); compressed_clock: "
                    "the same on the run's real clock"
                ),
                compressed_clock=compressed,
            )
        return out

    return measure


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--runner", choices=sorted(RUNNERS), default="cron")
    known, rest = ap.parse_known_args(argv)
    name = known.runner
    return probe_main(
        name,
        PROBED[name],
        measure_runner(name),
        lambda p: RUNNERS[name](p, REPO),
        OUT_DIR / f"{name}.json",
        rest,
        doc=__doc__,
        prog=f"python -m runners.cron.overhead --runner {name}",
        unmeasured=UNMEASURED[name],
    )


if __name__ == "__main__":
    sys.exit(main())
