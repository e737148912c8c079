"""The cron runners end to end: the real daemon, isolated, on a compressed clock.

The slow tests need root, /usr/sbin/cron, libfaketime and the runner interpreter
(``.venvs/cron`` from ``make setup``, or ``ORCHBENCH_CRON_PYTHON``); they are skipped with
the reason otherwise. The first tests are quick checks of rendering and log parsing.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from orchbench.crond import daemon as cron_daemon
from orchbench.crond.daemon import render_crontab
from orchbench.journal import Journal
from orchbench.plugins import runner_class
from orchbench.runner import EnvironmentMissing
from orchbench.trace import read_trace
from orchbench.workflow.paths import FILENAMES
from orchbench.workflow.spec import ARTIFACTS, STEP_NAMES
from runners.cron import declared, native
from runners.cron.schedule import MEASURED_SLOW_S, MEASURED_WARM_S, SCHEDULES
from tests.conformance.bench import Bench
from tests.integration.terminal import sigint_default

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"
SCRIPTS = REPO / "runners" / "cron" / "scripts"
HOST_CRON = ("/etc/crontab", "/etc/cron.d", "/var/spool/cron/crontabs")
DAY2 = "2026-01-02"


# --- quick checks (no daemon) -------------------------------------------------------------


def test_crontab_refuses_empty_assignment() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        render_crontab({"LD_PRELOAD": ""}, {"0 2 * * *": "true"})
    tab = render_crontab({"A": "b"}, {"0 2 * * *": "date +%F"})
    assert tab == "A=b\n0 2 * * * date +\\%F\n"


def test_jobs_left_count_as_stalled_only_without_cpu_progress(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [0.0]
    monkeypatch.setattr(cron_daemon.time, "monotonic", lambda: clock[0])
    stall = cron_daemon._Stall()

    def at(t: float, cpu: dict[int, float]) -> bool:
        clock[0] = t
        return stall.stalled(cpu)

    assert not at(0, {})  # nothing left is "idle", never "stalled"
    assert not at(1, {7: 5.0})
    assert not at(1 + cron_daemon.STALL_S / 2, {7: 5.01})
    assert at(1 + cron_daemon.STALL_S, {7: 5.02})  # a sleeping hung job
    assert not at(20, {7: 5.02, 8: 0.0})  # a new process starts the window again
    assert not at(40, {7: 9.0, 8: 0.0})  # real progress starts it again too
    assert not at(40 + cron_daemon.STALL_S / 2, {7: 9.0, 8: 0.0})
    assert at(40 + cron_daemon.STALL_S, {7: 9.0, 8: 0.0})


def test_schedules_fit_their_measured_durations() -> None:
    assert min(SCHEDULES["default"].margins(MEASURED_SLOW_S).values()) > 1.1
    assert min(SCHEDULES["tuned"].margins(MEASURED_WARM_S).values()) > 1.3
    assert SCHEDULES["tuned"].real_day_s(MEASURED_WARM_S) < SCHEDULES["default"].real_day_s(
        MEASURED_WARM_S
    )


def test_hardened_scripts_use_the_dated_layout() -> None:
    for step in STEP_NAMES:
        text = (SCRIPTS / "hardened" / f"{step}.sh").read_text()
        for name, fname in FILENAMES.items():
            if f" {name}=" in text or f"--in {name}=" in text or f"--out {name}=" in text:
                assert f'{name}="$DAY/{fname}"' in text, (step, name)
        naive = (SCRIPTS / "naive" / f"{step}.sh").read_text()
        assert "$CUR/" in naive or step == "ingest"
        assert os.access(SCRIPTS / "naive" / f"{step}.sh", os.X_OK)
        assert os.access(SCRIPTS / "hardened" / f"{step}.sh", os.X_OK)


def test_parse_log_and_mail(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    log.write_text(
        "[2026-11-25 06:33:25.374759273+00:00] train 2026-01-01 start attempt 1/3\n"
        "train 2026-01-01: trained on 9 rows from /a/features.csv -> /a/model.json\n"
        "[2026-11-25 06:33:26.000000000+00:00] train 2026-01-01 end exit=0 attempt 1/3\n"
        "[2026-11-25 06:33:27.000000000+00:00] train 2026-01-02 refused: no success marker\n"
        "[2026-11-25 06:33:28.000000000+00:00] train 2026-01-03 start\n"
    )
    recs = native.parse_log(log)
    assert [r["state"] for r in recs] == ["success", "upstream_failed", "unknown"]
    first = recs[0]
    assert first["passive"] is True and first["source"] == "cron-log" and first["attempt"] == 1
    assert first["start_ns"] == 1795588405374759273
    assert first["inputs"] == [{"name": "features", "uri": "/a/features.csv", "sha256": None}]
    assert first["outputs"] == [{"name": "model", "uri": "/a/model.json", "sha256": None}]
    mail = tmp_path / "1.eml"
    mail.write_text(
        "X-Sink-Received-Ns: 123\nSubject: Cron <root@vm> /r/scripts/hardened/validate.sh "
        "(failed)\nX-Cron-Env: <LOGICAL_DATE=2026-01-02>\n\nbody\n"
    )
    alert = native.parse_mail(mail)
    assert alert is not None
    assert (alert["t_ns"], alert["step"], alert["logical_date"]) == (123, "validate", DAY2)


def test_declared_reads_the_crontab(tmp_path: Path) -> None:
    lines = {f"{i} 2 * * *": f"{SCRIPTS}/{{v}}/{s}.sh" for i, s in enumerate(STEP_NAMES)}
    for variant in ("naive", "hardened"):
        env = {"LOGICAL_DATE": DAY2, "RETRIES": "2", "STEP_TIMEOUT_S": "7.5"}
        if variant == "naive":
            env = {"LOGICAL_DATE": DAY2}
        tab = tmp_path / f"{variant}.txt"
        tab.write_text(render_crontab(env, {k: v.format(v=variant) for k, v in lines.items()}))
        rec = declared.declared(tab)
        assert rec is not None and rec["kind"] == "declared"
        assert rec["jobs"] == list(STEP_NAMES)
        assert rec["deploy_condition"] is None and rec["typed_artifacts"] == []
        assert rec["caching"] is False
        if variant == "naive":
            assert rec["retries"] == {} and rec["timeouts"] == {}
        else:
            assert rec["retries"] == dict.fromkeys(STEP_NAMES, 2)
            assert rec["timeouts"] == dict.fromkeys(STEP_NAMES, 7.5)
    assert declared.declared(tmp_path / "missing.txt") is None


# --- the real daemon ----------------------------------------------------------------------


def _environment_problem() -> str | None:
    if os.geteuid() != 0:
        return "needs root (mount and PID namespaces)"
    for name in ("cron", "cron-hardened"):
        try:
            runner_class(name)(repo_root=REPO).check_environment()
        except EnvironmentMissing as e:
            return str(e)
    return None


PROBLEM = _environment_problem()
needs_cron = pytest.mark.skipif(PROBLEM is not None, reason=PROBLEM or "")
slow_root = [pytest.mark.slow, pytest.mark.root, needs_cron]
# any cron daemon on a fake clock counts as a leftover (``leftovers``): one test at a time
# among those that start one (``CRON``, also in test_scale and test_bench_lanes)
CRON = pytest.mark.xdist_group("cron")
pytestmark = CRON


def host_cron_files() -> dict[str, bytes]:
    """Every file of the host's crontab locations, by path, with its bytes."""
    out: dict[str, bytes] = {}
    for p in map(Path, HOST_CRON):
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file():
                    out[str(f)] = f.read_bytes()
        elif p.exists():
            out[str(p)] = p.read_bytes()
    return out


def leftovers(marker: str) -> list[str]:
    """Live processes whose command line or environment mentions ``marker``, plus any cron
    daemon running on a fake clock (ours are the only ones)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            env = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        ours = marker.encode() in cmd or marker.encode() in env
        fake_cron = cmd.startswith(b"/usr/sbin/cron") and b"FAKETIME=" in env
        if ours or fake_cron:
            shown = cmd.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{pid}: {shown}")
    return found


def wait_no_leftovers(marker: str, within_s: float) -> list[str]:
    end = time.monotonic() + within_s
    while (left := leftovers(marker)) and time.monotonic() < end:
        time.sleep(0.1)
    return left


@pytest.fixture(scope="module")
def runs(conformance: Bench) -> Callable[[str, str], Path]:
    """The conformance suite's run of a scenario on a cron runner (2 days, default
    profile, published in the session's results tree; ``tests/conformance``)."""
    return lambda scenario, runner: conformance.run_dir(runner, scenario)


def _stale(j: Journal) -> list[tuple[str, str, str]]:
    """(date, step, input) for dated inputs not produced for the same date before use."""
    produced: dict[str, set[str]] = {}
    out = []
    for a in j.attempts:
        for ref in a.inputs:
            if ARTIFACTS[ref.name].kind == "dated" and ref.sha256 not in produced.get(
                a.logical_date, set()
            ):
                out.append((a.logical_date, a.step, ref.name))
        if a.status == "success":
            for ref in a.outputs:
                if ref.sha256:
                    produced.setdefault(a.logical_date, set()).add(ref.sha256)
    return out


def _load(run_dir: Path) -> tuple[dict, Journal, list[dict]]:
    run = json.loads((run_dir / "run.json").read_text())
    return run, Journal.load(run_dir / "journal.jsonl"), read_trace(run_dir / "native.jsonl")


@pytest.mark.parametrize("runner", ["cron", "cron-hardened"])
@pytest.mark.slow
@pytest.mark.root
@needs_cron
def test_clean_runs_in_the_crontab_order(runs: Callable[[str, str], Path], runner: str) -> None:
    """The conformance ``clean`` run, read for cron's own quirks: steps by the minute."""
    run, j, trace = _load(runs("clean", runner))
    assert run["status"] == "completed", run["reason"]
    days = sorted({a.logical_date for a in j.attempts})
    assert len(days) == 2
    assert sorted((a.logical_date, a.step, a.status) for a in j.attempts) == sorted(
        (d, s, "success") for d in days for s in STEP_NAMES
    )
    stale = _stale(j)
    if runner == "cron-hardened":  # each job waits for its inputs: the DAG's order, always
        assert [a.step for a in j.attempts] == list(STEP_NAMES) * 2
        assert stale == []
    # Naive cron starts each step at its minute whatever came before; on a slow moment a
    # step overtakes its upstream (seen once in CI: day 3's evaluate process started late,
    # register and canary ran first). The run must then count exactly those as stale.
    assert run["metrics"]["stale_executions"] == len({(d, s) for d, s, _ in stale})
    assert [r for r in trace if r["kind"] == "alert"] == []
    attempts = [r for r in trace if r["kind"] == "task_attempt"]
    assert len(attempts) == 14
    assert all(r["passive"] and r["source"] == "cron-log" for r in attempts)
    assert {r["state"] for r in attempts} == {"success"}
    env = json.loads((runs("clean", runner) / "env.json").read_text())
    assert env["versions"]["cron"].startswith("3.0pl1")
    assert env["settings"]["schedule"]["speed"] == SCHEDULES["default"].speed


@pytest.mark.slow
@pytest.mark.root
@needs_cron
def test_schema_break_naive_runs_on_stale_data_silently(
    runs: Callable[[str, str], Path],
) -> None:
    run_dir = runs("schema_break", "cron")  # the conformance run
    run, j, trace = _load(run_dir)
    assert run["status"] == "completed", run["reason"]
    fix = j.harness_time("fix_applied")
    assert fix is not None
    assert any(f["logical_date"] == DAY2 and f["step"] == "ingest" for f in j.faults)
    before = [a for a in j.attempts if a.logical_date == DAY2 and a.start_ns < fix]
    by_step = {a.step: a for a in before}
    assert by_step["validate"].status == "failed"
    # featurize still ran on day 2, on yesterday's validated file; train on its output
    assert (DAY2, "featurize", "validated") in _stale(j)
    assert by_step["featurize"].status == "success"
    assert by_step["train"].status == "success"
    # nothing reached anyone: no mail, only passive log records
    assert [r for r in trace if r["kind"] == "alert"] == []
    failed = [r for r in trace if r["kind"] == "task_attempt" and r["state"] == "failed"]
    assert failed and all(r["passive"] for r in failed)
    # recovery: the operator re-ran each script by hand, one command per step
    assert j.operator_actions
    assert all("/scripts/naive/" in o["command"] for o in j.operator_actions)
    after = {a.step: a.status for a in j.attempts if a.logical_date == DAY2 and a.start_ns > fix}
    assert after == dict.fromkeys(STEP_NAMES, "success")


@pytest.mark.slow
@pytest.mark.root
@needs_cron
def test_schema_break_hardened_refuses_and_mails(runs: Callable[[str, str], Path]) -> None:
    run_dir = runs("schema_break", "cron-hardened")  # the conformance run
    run, j, trace = _load(run_dir)
    assert run["status"] == "completed", run["reason"]
    fix = j.harness_time("fix_applied")
    assert fix is not None
    activated = min(f["t_ns"] for f in j.faults)
    before = [a for a in j.attempts if a.logical_date == DAY2 and a.start_ns < fix]
    # validate failed once with exit 65 (bad data): lib.sh does not retry it; nothing
    # downstream started
    assert [a.step for a in before] == ["ingest", "validate"]
    assert [a.status for a in before if a.step == "validate"] == ["failed"]
    assert _stale(j) == []
    alerts = [r for r in trace if r["kind"] == "alert"]
    first = min(alerts, key=lambda r: r["t_ns"])
    assert (first["step"], first["logical_date"]) == ("validate", DAY2)
    assert "(failed)" in first["subject"] and first["channel"] == "mail"
    assert activated < first["t_ns"] < fix
    refused = {
        r["step"]
        for r in trace
        if r.get("state") == "upstream_failed" and r["logical_date"] == DAY2
    }
    assert refused == set(STEP_NAMES[2:])
    # recovery: one decision, one command: the rerun script from the plan's step
    commands = [o["command"] for o in j.operator_actions]
    assert j.human_actions == 1
    assert commands == [f"{SCRIPTS}/hardened/rerun.sh {DAY2} --from {run['recovery_plan'][DAY2]}"]
    after = {a.step: a.status for a in j.attempts if a.logical_date == DAY2 and a.start_ns > fix}
    assert after == dict.fromkeys(STEP_NAMES, "success")


@pytest.mark.slow
@pytest.mark.root
@needs_cron
def test_missed_days_hardened_catchup_runs_every_missed_date_in_order_before_today(
    runs: Callable[[str, str], Path],
) -> None:
    """The conformance ``missed_days`` (cron fires every date; the host is down for the
    fault's dates), read against what cron-hardened's catch-up job is documented to do
    (``catchup.sh``): the first morning after the outage it runs every date lacking its
    success marker, oldest first, each date's whole chain, and only then do that
    morning's jobs run; nobody types a command for the missed dates."""
    run_dir = runs("missed_days", "cron-hardened")
    run, j, trace = _load(run_dir)
    assert run["status"] == "completed", run["reason"]
    env = json.loads((run_dir / "env.json").read_text())
    assert env["clock"]["fired_by"] == "cron"
    (outage,) = [f for f in j.faults if f["kind"] == "missed_days"]
    missed = outage["detail"]["dates"]
    dates = [h["logical_date"] for h in j.harness if h.get("event") == "date_due"]
    today = dates[dates.index(missed[-1]) + 1]  # the first date after the outage
    started = j.harness_time("scheduler_started")
    assert started is not None and missed
    # every missed date's whole chain, once, after the host came back: in date order,
    # one date's chain done before the next date's starts, all before today's first step
    order = [a.logical_date for a in j.attempts if a.logical_date in missed]
    assert order == [d for d in missed for _ in STEP_NAMES]
    for d in missed:
        ran = [a for a in j.attempts if a.logical_date == d]
        assert [(a.step, a.status) for a in ran] == [(s, "success") for s in STEP_NAMES]
        assert min(a.start_ns for a in ran) > started
    ends = {d: max(a.end_ns or 0 for a in j.attempts if a.logical_date == d) for d in missed}
    starts = {d: min(a.start_ns for a in j.attempts if a.logical_date == d) for d in dates}
    for older, newer in zip(missed, [*missed[1:], today], strict=True):
        assert ends[older] < starts[newer]
    # today's ingest job waited for the catch-up (its log says so) and ran after it
    ingest_log = (run_dir / "logs" / "ingest.log").read_text()
    assert f"ingest {today} waiting: the catch-up is running" in ingest_log
    # no operator command: nothing of the missed dates was left to recover
    assert j.operator_actions == [] and j.human_actions == 0
    assert not set(run["recovery_plan"]) & set(missed)
    assert run["metrics"]["harness_help"] == 0
    # cron's own record: the step logs name each attempt's date; catchup.sh ran them
    by = {
        (r["logical_date"], r["step"]): (r.get("job"), r.get("job_date"))
        for r in trace
        if r["kind"] == "task_attempt"
    }
    assert {by[(d, s)] for d in missed for s in STEP_NAMES} == {("catchup.sh", today)}
    assert {by[(today, s)] for s in STEP_NAMES} == {(None, None)}


def _harness_until_a_job_runs(out: Path) -> subprocess.Popen[bytes]:
    """Start ``orchbench run`` (its own session, like a terminal's job) and return once one
    of its cron jobs is running a step."""
    cmd = ["run", str(SCENARIOS / "clean.yaml"), "--runner", "cron", "--out", str(out)]
    out.parent.mkdir(parents=True, exist_ok=True)
    with (out.parent / "harness.log").open("wb") as log:  # read by _harness_log on failure
        proc = subprocess.Popen(
            [sys.executable, "-m", "orchbench", *cmd],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
            env={**os.environ, "PYTHONFAULTHANDLER": "1"},  # SIGABRT dumps its stacks
            preexec_fn=sigint_default,  # as a terminal's job
        )
    end = time.monotonic() + 120
    while time.monotonic() < end and proc.poll() is None:
        if any("orchbench.step" in p for p in leftovers(str(out))):
            return proc
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    pytest.fail("no cron job of the harness run started within 120 s")


def _harness_log(out: Path) -> str:
    return (out.parent / "harness.log").read_text(errors="replace")[-3000:]


@pytest.mark.slow
@pytest.mark.root
@needs_cron
def test_ctrl_c_of_the_harness_leaves_nothing(tmp_path: Path) -> None:
    before = host_cron_files()
    out = tmp_path / "out"
    proc = _harness_until_a_job_runs(out)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C at a terminal does
    try:
        rc = proc.wait(10)
    except subprocess.TimeoutExpired:
        rc = None
        os.kill(proc.pid, signal.SIGABRT)  # where it is stuck goes to harness.log
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(3)
    finally:  # a harness that did not stop must not leak into the next test
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert rc == 130, f"harness did not stop within 10 s of Ctrl-C:\n{_harness_log(out)}"
    assert wait_no_leftovers(str(out), 10) == []
    assert host_cron_files() == before
    assert not any(p.is_dir() for p in (out / "clean" / "cron").glob("*"))  # nothing published


@pytest.mark.slow
@pytest.mark.root
@needs_cron
def test_killed_harness_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _harness_until_a_job_runs(out)
    os.kill(proc.pid, signal.SIGKILL)  # no cleanup code runs: the parent-death chain must
    proc.wait()
    assert wait_no_leftovers(str(out), 10) == []
