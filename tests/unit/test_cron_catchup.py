"""cron-hardened's catch-up job and late-partition wait, without a daemon: ``catchup.sh``'s
date selection, lock and marker on a temp data directory, ``lib.sh``'s landing wait, the
crontab that carries them, and how the native trace and the compressed waits read the
catch-up's re-runs of older dates."""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from pathlib import Path

from orchbench.journal import Attempt
from orchbench.runner import HARNESS, SYSTEM
from orchbench.scenario import load_scenario
from orchbench.workflow.spec import STEP_NAMES
from runners.cron import native
from runners.cron.adapter import SCRIPTS, CronRunner, HardenedCronRunner
from runners.cron.schedule import CATCHUP, SCHEDULES
from runners.cron.waits import Segment, compressed_waits
from tests.conftest import run_context

CATCHUP_SH = str(SCRIPTS / "hardened" / "catchup.sh")
LIB_SH = str(SCRIPTS / "hardened" / "lib.sh")
TODAY = dt.date(2026, 1, 10)


def _env(data: Path, start: dt.date, days: int = 7) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "PIPELINE_DATA": str(data),
        "PIPELINE_LOGS": str(data / "logs"),
        "PIPELINE_START": start.isoformat(),
        "CATCHUP_DAYS": str(days),
        "LOGICAL_DATE": TODAY.isoformat(),
    }


def _mark(data: Path, date: dt.date, *steps: str) -> None:
    for step in steps:
        marker = data / "markers" / date.isoformat() / f"{step}.ok"
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()


def _listed(data: Path, start: dt.date, days: int = 7) -> list[str]:
    res = subprocess.run(
        [CATCHUP_SH, "--list"], env=_env(data, start, days), capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    return res.stdout.split()


def test_catchup_lists_the_window_dates_lacking_their_marker_oldest_first(
    tmp_path: Path,
) -> None:
    window = [TODAY - dt.timedelta(days=k) for k in range(7, 0, -1)]
    done, partial = window[::3], window[1]  # done: every step's marker
    for d in done:
        _mark(tmp_path, d, *STEP_NAMES)
    _mark(tmp_path, partial, *STEP_NAMES[:-1])  # stopped before its last step
    expected = [d.isoformat() for d in window if d not in done]
    # the dates before the window lack their markers too: never listed
    assert _listed(tmp_path, start=dt.date(2025, 1, 1)) == expected
    assert partial.isoformat() in expected
    # never before the pipeline's first date, nor today's own date
    start = window[4]
    assert _listed(tmp_path, start=start) == [d for d in expected if d >= start.isoformat()]
    assert _listed(tmp_path, start=TODAY) == []
    two_days = (TODAY - dt.timedelta(days=2)).isoformat()
    assert _listed(tmp_path, start=dt.date(2025, 1, 1), days=2) == [
        d for d in expected if d >= two_days
    ]


def test_catchup_with_nothing_missing_marks_the_morning_and_runs_once(tmp_path: Path) -> None:
    env = _env(tmp_path, start=TODAY)
    for _ in range(2):
        res = subprocess.run([CATCHUP_SH], env=env, capture_output=True, text=True)
        assert (res.returncode, res.stdout, res.stderr) == (0, "", "")  # quiet: no mail
    assert (tmp_path / "markers" / TODAY.isoformat() / "catchup.ok").is_file()
    log = (tmp_path / "logs" / native.CATCHUP_LOG).read_text().splitlines()
    assert "nothing to catch up" in log[0] and "skipped: already done" in log[1]


def test_a_second_catchup_fails_and_reports_while_one_holds_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "catchup.lock"
    lock.parent.mkdir(parents=True)
    holder = subprocess.Popen(["flock", str(lock), "sleep", "30"])
    try:
        deadline = time.monotonic() + 5
        while subprocess.run(["flock", "-n", str(lock), "true"]).returncode == 0:
            assert time.monotonic() < deadline, "the holder never took the lock"
            time.sleep(0.02)
        res = subprocess.run(
            [CATCHUP_SH], env=_env(tmp_path, TODAY), capture_output=True, text=True
        )
    finally:
        holder.kill()
        holder.wait()
    assert res.returncode == 1 and "another catch-up is still running" in res.stderr
    assert not (tmp_path / "markers" / TODAY.isoformat() / "catchup.ok").exists()


def _wait_for_landing(tmp_path: Path, path: Path, wait_s: str) -> subprocess.CompletedProcess:
    script = f'source {LIB_SH}; STEP=ingest; exec 3>&2; wait_for_landing "landing={path}"'
    env = {
        "PATH": "/usr/bin:/bin",
        "PIPELINE_PYTHON": "/nonexistent/python",
        "PIPELINE_DATA": str(tmp_path),
        "PIPELINE_LOGS": str(tmp_path),
        "ORCHBENCH_WORLD": str(tmp_path),
        "LOGICAL_DATE": TODAY.isoformat(),
        "LANDING_WAIT_S": wait_s,
        "LANDING_POLL_S": "0.1",
    }
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)


def test_landing_wait_returns_once_the_partition_lands_and_fails_at_its_deadline(
    tmp_path: Path,
) -> None:
    late = tmp_path / "late.csv"
    lander = subprocess.Popen(["bash", "-c", f"sleep 0.5; touch {late}"])
    res = _wait_for_landing(tmp_path, late, "10")
    lander.wait()
    assert res.returncode == 0 and "waited: landing" in res.stdout
    res = _wait_for_landing(tmp_path, tmp_path / "never.csv", "1")
    assert res.returncode == 1 and "not landed after 1s" in res.stdout


def _ctx(tmp_path: Path, scheduling: str):
    path = tmp_path / "s.yaml"
    path.write_text(
        "schema: orchbench.scenario/1\nname: s\nclaim: a test scenario claim\ndays: 3\n"
        "policy: {retries: 2, retry_delay_s: 2, timeout_s: 30}\n"
    )
    return run_context(tmp_path, load_scenario(path), "cron-hardened", scheduling=scheduling)


def test_every_hardened_crontab_carries_the_catchup_and_naive_ones_none(tmp_path: Path) -> None:
    for profile in ("default", "pipeline"):
        for scheduling in (HARNESS, SYSTEM):
            runner = HardenedCronRunner(profile)
            ctx = _ctx(tmp_path, scheduling)
            runner.prepare_days(ctx)
            assert runner.fired_by(ctx) == "cron"
            tab = runner.crontab(ctx, "2026-01-03")
            # the team's crontab does not change with the scenario
            assert "catchup.sh" in tab and "PIPELINE_START=2026-01-01" in tab
            # the policy's budget for ingest: every attempt to its timeout, the delays
            assert "LANDING_WAIT_S=94\n" in tab
            # the day's jobs keep their minutes; the catch-up fires one minute earlier
            base = SCHEDULES[profile]
            first = base.jobs[0]
            assert runner.schedule.fire_time(TODAY, first) == base.fire_time(TODAY, first)
            assert runner.schedule.jobs[0] == CATCHUP
            assert runner.schedule.fire_time(TODAY, CATCHUP) < base.fire_time(TODAY, first)
    naive = CronRunner()
    ctx = _ctx(tmp_path, SYSTEM)
    naive.prepare_days(ctx)
    assert naive.fired_by(ctx) == "cron" and "catchup" not in naive.crontab(ctx, "2026-01-03")


def test_native_trace_names_the_catchup_and_keeps_each_attempts_date(tmp_path: Path) -> None:
    ts = "2026-12-05 10:00:0{}.000000000+00:00".format
    d2, d3, d4 = "2026-01-02", "2026-01-03", "2026-01-04"
    (tmp_path / native.CATCHUP_LOG).write_text(
        f"[{ts(0)}] catchup {d4} start: {d2} {d3}\n[{ts(5)}] catchup {d4} done: {d2} {d3}\n"
    )
    (tmp_path / "ingest.log").write_text(
        "".join(
            f"[{ts(k)}] ingest {d} start attempt 1/3\n[{ts(k + 1)}] ingest {d} end exit=0\n"
            for k, d in ((1, d2), (3, d3), (6, d4))
        )
    )
    got = {
        r["logical_date"]: (r.get("job"), r.get("job_date"))
        for r in native.collect(tmp_path, tmp_path / "no-mail")
    }
    assert got == {d2: ("catchup.sh", d4), d3: ("catchup.sh", d4), d4: (None, None)}


def test_a_catchup_mail_is_the_failed_dates(tmp_path: Path) -> None:
    mail = tmp_path / "1.eml"
    mail.write_text(
        "X-Sink-Received-Ns: 5\n"
        "Subject: Cron <root@h> /x/runners/cron/scripts/hardened/catchup.sh (failed)\n"
        "X-Cron-Env: <LOGICAL_DATE=2026-01-04>\n\n"
        "featurize for 2026-01-02 failed (exit 1): gave up after 3 attempts (last exit 1)\n"
        "rerun: 2026-01-02 failed; stopped\n"
        "catchup for 2026-01-04 failed: a date of 2026-01-02 2026-01-03 failed\n"
    )
    rec = native.parse_mail(mail)
    assert rec is not None and (rec["step"], rec["logical_date"]) == ("featurize", "2026-01-02")


def test_the_catchups_work_on_older_dates_is_no_compressed_wait() -> None:
    s, date = 1_000_000_000, dt.date(2026, 1, 4)
    sched = SCHEDULES["default"].with_catchup()
    seg = Segment(0, 60 * s, sched.daemon_start(date))
    ingest_at = (sched.fire_time(date, "ingest") - seg.fake_start).total_seconds() / sched.speed

    def run(day: str, step: str, start: float, end: float) -> Attempt:
        return Attempt(
            attempt_id=f"{day}-{step}",
            run_id="r",
            runner="cron-hardened",
            logical_date=day,
            step=step,
            attempt=1,
            pid=1,
            start_ns=round(start * s),
            code_version=None,
            inputs=[],
            end_ns=round(end * s),
            status="success",
        )

    # the catch-up re-runs 2026-01-02 over today's first minutes; today's ingest waits
    catchup = [
        run("2026-01-02", step, ingest_at - 0.05 + k, ingest_at + k + 0.5)
        for k, step in enumerate(STEP_NAMES)
    ]
    ran = [*catchup, run(date.isoformat(), "ingest", ingest_at + 7.6, ingest_at + 8.0)]
    # the catch-up works from its first attempt to its last, gaps between steps included
    busy = [(catchup[0].start_ns, catchup[-1].end_ns), (ran[-1].start_ns, ran[-1].end_ns)]

    def overlaps(waits: list) -> bool:
        return any(w.start_ns < end and start < w.end_ns for w in waits for start, end in busy)

    waits = compressed_waits(sched, date, [seg], ran)
    assert waits and not overlaps(waits)
    # read for today's date alone, the catch-up's work would count as the daemon's idle time
    assert overlaps(compressed_waits(sched, date, [seg], ran[-1:]))
