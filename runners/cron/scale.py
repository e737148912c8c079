"""The ``cron`` scale engine: Debian's cron daemon (``daemon.CronDay``) running the synthetic
task of ``orchbench.scale``. Only orchestration; shapes, task and metrics are there.

One fresh daemon per sample, sandboxed as for the workflow runs (PID + mount namespace,
libfaketime clock at ``SPEED``, started ``LEAD_IN_S`` fake seconds before the minute):

- ``fanout-N``: N crontab lines at the same minute, one task each. Cron forks one child
  per job and waits for none of them, so all N start at once: parallelism N.
- ``backfill-D``: one crontab line running ``catchup.sh``, the loop a cron user writes
  after the host was down: the day's job for each missed date, one after another
  (``date -I -d "$d + 1 day"``): parallelism 1.
- ``concurrent-K``: K crontab lines at the same minute, each the daily job of another
  logical date (K overlapping days; cron has no run object, so this is the fan-out with
  K dates): parallelism K.

Wall time: from the real moment the daemon's clock reaches the minute (``real_time_of``)
to the moment the harness sees every job's log written and no process but cron left in
the namespace (polled every ``daemon.POLL_S`` = 50 ms: that is the resolution). The jobs
run in no raised-weight CPU cgroup (unlike the workflow bench): they compete for the CPU
like any other process.
"""

from __future__ import annotations

import datetime as dt
import shlex
import time
from pathlib import Path
from typing import Any, ClassVar

from orchbench.crond.daemon import CronDay, DeadlineReached, mail_stub, render_crontab
from orchbench.scale import (
    FIRST_DATE,
    PointContext,
    ScaleEngine,
    ScaleTimeout,
    Shape,
    Timing,
    task_command,
)
from runners.cron.adapter import ALERT_TO, CronRunner

SPEED = 60.0  # fake seconds per real second: a minute boundary is a real second apart
LEAD_IN_S = 30.0  # fake seconds the daemon starts before the jobs' minute
FIRE_AT = dt.time(2, 0)
CATCHUP = """#!/bin/bash
# catchup.sh FIRST LAST: the daily job for every missed day, oldest first, one at a time.
d=$1
while true; do
    {task} "$d"
    [ "$d" = "$2" ] && break
    d=$(date -I -d "$d + 1 day")
done
"""


class CronScale(ScaleEngine):
    """Scale shapes on Debian's cron daemon (the naive cron runner's sandbox)."""

    name: ClassVar[str] = "cron"
    system: ClassVar[str] = "cron"

    def __init__(self, repo_root: Path) -> None:
        super().__init__(repo_root)
        self._cron = CronRunner("default", repo_root)
        self._day: CronDay | None = None

    def check_environment(self) -> None:
        self._cron.check_environment()

    def versions(self) -> dict[str, str]:
        v = self._cron.versions()
        return {k: v[k] for k in ("cron", "libfaketime", "runner_python") if k in v}

    def parallelism(self, shape: Shape) -> tuple[int, str]:
        if shape.kind == "backfill":
            return 1, "catchup.sh runs the missed days one after another"
        return shape.n, "cron forks every job of a minute at once (no limit in cron)"

    def settings(self, shape: Shape) -> dict[str, Any]:
        return {
            "daemon": "cron -f -L 15 in a PID+mount namespace, one per sample",
            "clock": f"libfaketime x{SPEED:g}, {LEAD_IN_S:g} fake s before the minute",
            "crontab_lines": 1 if shape.kind == "backfill" else shape.n,
            "python": str(self._cron.python()),
        }

    def _lines(self, shape: Shape, point: PointContext) -> tuple[list[str], list[Path]]:
        """Crontab job lines and the job logs that grow when each fires."""
        py = self._cron.python()
        fields = f"{FIRE_AT.minute} {FIRE_AT.hour} * * *"
        q = shlex.quote
        if shape.kind == "backfill":
            script = point.work / "catchup.sh"
            task = " ".join(q(a) for a in task_command(py, 0, "X")[:-1])
            script.write_text(CATCHUP.format(task=task))
            script.chmod(0o755)
            dates = shape.dates()
            log = point.logs / "catchup.log"
            cmd = f"{q(str(script))} {dates[0]} {dates[-1]} >> {q(str(log))} 2>&1"
            return [f"{fields} {cmd}"], [log]
        lines, logs = [], []
        dates = shape.dates() if shape.kind == "concurrent" else [shape.dates()[0]] * shape.n
        for i, date in enumerate(dates):
            log = point.logs / f"job-{i:03d}.log"
            cmd = " ".join(q(a) for a in task_command(py, i, date))
            lines.append(f"{fields} {cmd} >> {q(str(log))} 2>&1")
            logs.append(log)
        return lines, logs

    def run(self, shape: Shape, point: PointContext) -> Timing:
        lines, logs = self._lines(shape, point)
        # variables, then the job lines (no '%' in them: cron would read it as a newline)
        tab = render_crontab(point.task_env(), {}) + "\n".join(lines) + "\n"
        (point.logs / "crontab.txt").write_text(tab)
        fire = dt.datetime.combine(FIRST_DATE + dt.timedelta(days=1), FIRE_AT)
        day = CronDay(
            root=point.work / "cron",
            crontab=tab,
            stub=mail_stub(ALERT_TO, point.work / "alerts", point.work / "mail"),
            fake_start=fire - dt.timedelta(seconds=LEAD_IN_S),
            speed=SPEED,
            log=point.logs / "cron-daemon.log",
            job_logs=logs,
        )
        self._day = day
        try:
            day.start()
            try:
                ended = day.wait_finished(fire, point.deadline, point.deadline)
            except DeadlineReached as e:
                raise ScaleTimeout(f"cron {shape.name}: {e}") from e
            end = time.time_ns()
            start = int(day.real_time_of(fire) * 1e9)
        finally:
            day.stop()
            self._day = None
        if ended != "finished":
            raise RuntimeError(f"cron {shape.name}: day ended {ended!r}")
        return Timing(start, end)

    def abort(self) -> None:
        if self._day is not None:
            self._day.stop()
            self._day = None
