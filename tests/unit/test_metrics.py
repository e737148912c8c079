"""metrics: attempt classification, recovery plan, detection, rerun, outcomes and totals."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from orchbench import journal as jr
from orchbench import trace as tr
from orchbench.contracts import RecoveryPlan, recovery_plan
from orchbench.journal import Journal
from orchbench.metrics import analyse, compute_metrics
from orchbench.oracle import OracleResult
from orchbench.workflow.prices import STEP_PRICES
from orchbench.workflow.spec import STEP_NAMES
from tests.conftest import make_scenario
from tests.unit.journal_builder import Builder, S, digest

D1, D2, D3 = "2026-01-01", "2026-01-02", "2026-01-03"
ORACLE = OracleResult(champion_sha256="champ", production_sha256="prod")
FINAL_OK = {"champion_sha256": "champ", "production_sha256": "prod"}
ALERT = {"channel": "mail", "subject": "(failed)", "logical_date": D2, "step": "validate"}


def plan_of(journal: Journal, dates: Iterable[str] = ()) -> RecoveryPlan:
    """The operator's plan, from the metrics layer's verdicts on the journal."""
    return recovery_plan(journal, analyse(journal), dates)


def metrics(b: Builder, trace: list[dict[str, Any]] | None = None, **kw: Any) -> dict[str, Any]:
    kw.setdefault("oracle", ORACLE)
    kw.setdefault("final", FINAL_OK)
    return compute_metrics(b.journal(), trace or [], **kw)


def failed_task(date: str, step: str, t: int | None, **kw: Any) -> dict[str, Any]:
    return tr.task_attempt(
        logical_date=date, step=step, state="failed", source="test", end_ns=t, **kw
    )


def cron_schema_break() -> tuple[Builder, dict[str, str], dict[str, str], dict[str, str]]:
    """Cron with reused paths: day 2's landing breaks at ingest, validate fails, and the
    later crontab lines still run on yesterday's validated table; day 3 is clean."""
    b = Builder(layout="current")
    d1 = b.day(D1)
    d2 = {"ingest": b.step("ingest", D2, tamper={"landing": "landing-broken"})}
    d2["validate"] = b.step("validate", D2, status="failed")
    for s in STEP_NAMES[2:]:
        d2[s] = b.step(s, D2, deploy=False)  # identical model: not better, nothing registered
    d3 = b.day(D3)
    return b, d1, d2, d3


# --- producers, staleness, taint ----------------------------------------------------------


def test_producer_is_the_latest_success_that_ended_before_the_consumer_started() -> None:
    b = Builder()
    b.step("ingest", D1)
    b.step("ingest", D1, status="failed")
    second = b.step("ingest", D1)
    v = b.step("validate", D1)
    info = analyse(b.journal()).infos[v]
    assert [p.attempt_id if p else None for p in info.producers] == [second, None]


def test_file_left_from_before_the_run_is_stale_even_if_rewritten_identically_later() -> None:
    b = Builder()
    b.files["art/2026-01-01/raw"] = digest("ingest", "raw", ["landing-2026-01-01"], "")
    early = b.step("validate", D1)  # reads raw nobody in this run had produced yet
    ingest = b.step("ingest", D1)  # writes the very same bytes
    late = b.step("validate", D1)
    an = analyse(b.journal())
    assert an.infos[early].stale and an.infos[early].producers[0] is None
    assert an.infos[late].producers[0].attempt_id == ingest
    assert not an.infos[late].stale and not an.infos[late].tainted


def test_source_and_state_inputs_are_never_stale() -> None:
    b = Builder()
    b.day(D1)
    d2 = b.day(D2)
    an = analyse(b.journal())
    evaluate = an.infos[d2["evaluate"]]
    champion = evaluate.attempt.inputs[2]
    assert champion.name == "champion"
    assert evaluate.producers[2].logical_date == D1  # yesterday's register made it
    assert not any(i.stale or i.tainted for i in an.infos.values())


def test_missing_input_file_is_not_stale() -> None:
    b = Builder()
    v = b.step("validate", D1, status="failed")  # raw has no sha256: it does not exist
    info = analyse(b.journal()).infos[v]
    assert info.attempt.inputs[0].sha256 is None
    assert not info.stale and not info.tainted


def test_cron_step_after_failed_validate_is_stale_and_taints_downstream() -> None:
    b, _, d2, d3 = cron_schema_break()
    an = analyse(b.journal())
    assert an.infos[d2["featurize"]].stale  # yesterday's validated table
    assert all(an.infos[d2[s]].tainted for s in STEP_NAMES)
    assert [i.attempt.step for i in an.infos.values() if i.stale] == ["featurize"]
    assert not any(an.infos[a].tainted for a in d3.values())


def test_byte_identical_retrained_model_resolves_to_todays_train_not_yesterdays() -> None:
    b = Builder(layout="current")
    d1 = b.day(D1)
    b.step("ingest", D2)
    b.step("validate", D2)
    b.step("featurize", D2, status="failed")
    train = b.step("train", D2)  # yesterday's features
    evaluate = b.step("evaluate", D2)
    an = analyse(b.journal())
    model_d1 = an.infos[d1["train"]].attempt.outputs[0]
    model_d2 = an.infos[train].attempt.outputs[0]
    assert (model_d1.uri, model_d1.sha256) == (model_d2.uri, model_d2.sha256)
    assert an.infos[train].stale and an.infos[train].tainted
    assert an.infos[evaluate].producers[0].attempt_id == train
    assert not an.infos[evaluate].stale and an.infos[evaluate].tainted
    assert metrics(b)["stale_executions"] == 1


def test_unregistered_stale_day_does_not_taint_the_next_day_through_the_champion() -> None:
    b, d1, _, d3 = cron_schema_break()
    info = analyse(b.journal()).infos[d3["evaluate"]]
    assert info.producers[2].attempt_id == d1["register"]  # unchanged pointer passed through
    assert not info.tainted


def test_fault_during_attempt_taints_it_although_its_input_hash_was_clean() -> None:
    b = Builder()
    ingest = b.step("ingest", D1, tamper={"landing": "broken"})
    validate = b.step("validate", D1)
    an = analyse(b.journal())
    assert an.infos[ingest].attempt.inputs[0].sha256 == "landing-2026-01-01"
    assert an.infos[ingest].tainted and an.infos[validate].tainted
    assert not an.infos[ingest].stale


def test_reading_a_faulty_version_taints_without_a_fault_in_the_attempt() -> None:
    b = Builder()
    b.step("ingest", D1, tamper={"landing": "broken"}, status="failed")
    retry = b.step("ingest", D1)  # reads the tampered landing; no fault record of its own
    assert analyse(b.journal()).infos[retry].tainted


def test_fault_without_affected_artifacts_taints_nothing() -> None:
    b = Builder()
    b.step("ingest", D1, transient=True, status="failed")
    b.day(D1)
    an = analyse(b.journal())
    assert not any(i.tainted for i in an.infos.values())
    assert plan_of(b.journal()) == RecoveryPlan()


def test_taint_is_transitive_but_stays_on_its_date() -> None:
    b = Builder()
    d1 = b.day(D1, deploy=False)
    b.step("featurize", D1, tamper={"validated": "shifted"})
    tail = {s: b.step(s, D1, deploy=False) for s in STEP_NAMES[3:]}
    d2 = b.day(D2, deploy=False)
    an = analyse(b.journal())
    assert all(an.infos[a].tainted for a in tail.values())
    assert not any(an.infos[a].tainted for a in (*d1.values(), *d2.values()))


# --- failed, redundant, waste -------------------------------------------------------------


def test_killed_attempt_is_failed_with_zero_cpu_and_a_note() -> None:
    b = Builder()
    b.step("ingest", D1, status="killed", cpu=5.0)
    b.step("ingest", D1, status="failed", cpu=0.25)
    m = metrics(b)
    assert (m["failed_attempts"], m["killed_attempts"]) == (2, 1)
    assert m["wasted_cpu_s"] == pytest.approx(0.25)
    assert m["total_cpu_s"] == pytest.approx(0.25)
    assert any("killed" in n for n in m["notes"])


def test_rerun_of_an_unchanged_step_is_redundant_waste() -> None:
    b = Builder()
    b.day(D1, upto="validate")
    again = b.step("ingest", D1, cpu=0.5)  # a recovery that starts too early
    m = metrics(b)
    assert analyse(b.journal()).infos[again].redundant
    assert m["redundant_executions"] == 1 and m["wasted_cpu_s"] == pytest.approx(0.5)


def test_rerun_after_a_tainted_attempt_is_not_redundant() -> None:
    b = Builder()
    b.step("ingest", D1, tamper={"landing": "broken"})
    b.files["landing/2026-01-01.csv"] = "landing-2026-01-01"  # the fix restores the file
    fixed = b.step("ingest", D1)
    info = analyse(b.journal()).infos[fixed]
    assert not info.redundant and not info.tainted


def test_same_inputs_on_another_date_are_not_redundant() -> None:
    b = Builder(layout="current")
    b.day(D1, upto="featurize")
    b.step("featurize", D2)  # same validated bytes, other date: stale, not redundant
    info = list(analyse(b.journal()).infos.values())[-1]
    assert info.stale and not info.redundant


def test_wasted_cpu_counts_each_attempt_once() -> None:
    b = Builder()
    b.step("ingest", D1, tamper={"landing": "broken"}, cpu=1.0)  # tainted
    b.step("validate", D1, status="failed", cpu=2.0)  # tainted and failed
    b.files["landing/2026-01-01.csv"] = "landing-2026-01-01"
    b.step("ingest", D1, cpu=4.0)  # clean
    b.step("ingest", D1, cpu=8.0)  # redundant
    b.step("validate", D1, cpu=16.0)  # clean
    m = metrics(b)
    assert m["wasted_cpu_s"] == pytest.approx(11.0)
    assert (m["tainted_executions"], m["redundant_executions"]) == (2, 1)


# --- alerted and visible (orchbench.signals) -----------------------------------------------


def faulted_run() -> tuple[Builder, int]:
    """Day 1 clean, day 2's ingest tampered, validate fails. Returns the activation time."""
    b = Builder()
    b.day(D1)
    b.step("ingest", D2, tamper={"landing": "broken"})
    b.step("validate", D2, status="failed")
    return b, b.journal().faults[0]["t_ns"]


TOLD = ("alerted", "alert_s", "visible", "visible_s")


def test_failed_run_without_fault_is_neither_alerted_nor_visible() -> None:
    b = Builder()
    b.step("ingest", D1, status="failed")
    m = metrics(b, [failed_task(D1, "ingest", b.t), tr.alert(t_ns=b.t, **ALERT)])
    assert tuple(m[k] for k in TOLD) == (False, None, False, None)


def test_a_failed_task_in_the_central_view_is_visible_not_alerted() -> None:
    b, act = faulted_run()
    m = metrics(b, [failed_task(D2, "validate", act + 3 * S, start_ns=act)])
    assert m["visible"] and m["visible_s"] == pytest.approx(3.0)
    assert not m["alerted"] and m["alert_s"] is None


def test_a_retried_try_is_visible_and_never_an_alert() -> None:
    b, act = faulted_run()
    retried = failed_task(D2, "validate", act + S, attempt=1)  # e.g. up_for_retry in the UI
    ok = tr.task_attempt(
        logical_date=D2, step="validate", state="success", source="t", attempt=2, end_ns=act + 2 * S
    )
    m = metrics(b, [retried, ok])
    assert (m["visible"], m["visible_s"]) == (True, pytest.approx(1.0)) and not m["alerted"]


def test_alert_and_visible_each_take_their_own_earliest_signal() -> None:
    b, act = faulted_run()
    trace = [
        tr.alert(t_ns=act + 9 * S, **ALERT),
        failed_task(D2, "validate", None, start_ns=act + 4 * S),  # no end: its start counts
        tr.task_attempt(logical_date=D2, step="ingest", state="success", source="t", end_ns=act),
    ]
    m = metrics(b, trace)
    assert m["visible_s"] == pytest.approx(4.0) and m["alert_s"] == pytest.approx(9.0)


@pytest.mark.parametrize("kind", ["task_attempt", "alert"])
def test_a_passive_log_record_is_neither_visible_nor_an_alert(kind: str) -> None:
    """A log file nobody is pointed to (cron's logs, kfp.local's console) counts for no
    runner, whatever it says."""
    b, act = faulted_run()
    rec = (
        failed_task(D2, "validate", act + S, passive=True)
        if kind == "task_attempt"
        else {**tr.alert(t_ns=act + S, **ALERT), "passive": True}
    )
    assert tuple(metrics(b, [rec])[k] for k in TOLD) == (False, None, False, None)


def test_alert_before_activation_does_not_count() -> None:
    b, act = faulted_run()
    early = tr.alert(t_ns=act - 5 * S, channel="mail", subject="x", logical_date=D1, step=None)
    assert not metrics(b, [early])["alerted"]
    late = {**early, "t_ns": act + 2 * S}
    m = metrics(b, [early, late])
    assert m["alerted"] and m["alert_s"] == pytest.approx(2.0)


def test_coarse_clock_before_activation_clamps_only_for_the_same_date_and_step() -> None:
    b, act = faulted_run()
    same = failed_task(D2, "ingest", act - S // 2)  # second-granularity log of the fault's step
    other = failed_task(D1, "ingest", act - S // 2)
    assert metrics(b, [same])["visible_s"] == 0.0
    assert not metrics(b, [other])["visible"]


def test_failed_run_state_is_visible_and_a_successful_one_is_not() -> None:
    b, act = faulted_run()
    ok = tr.record("run_state", run="r", logical_date=D2, state="success", t_ns=act + S)
    bad = {**ok, "state": "failed", "t_ns": act + 6 * S}
    assert not metrics(b, [ok])["visible"]
    assert metrics(b, [ok, bad])["visible_s"] == pytest.approx(6.0)


# --- the production clock -------------------------------------------------------------------


def test_production_clock_adds_each_compressed_wait_inside_the_interval() -> None:
    """production = real + sum over compressed waits inside of (production - real length),
    pro rata where the interval cuts a wait; a wait outside changes nothing."""
    b, act = faulted_run()
    # a cron daemon idling 2 s real at x300 (600 s in production), 1 s after activation
    b.event("compressed_wait", start_ns=act + S, end_ns=act + 3 * S, production_s=600.0)
    # the schedule interval the day loop skipped: no real length, 86390 s in production
    b.event("compressed_wait", start_ns=act + 4 * S, end_ns=act + 4 * S, production_s=86390.0)
    # a wait after the alert: outside the interval
    b.event("compressed_wait", start_ns=act + 20 * S, end_ns=act + 21 * S, production_s=300.0)
    alert = tr.alert(t_ns=act + 5 * S, **ALERT)
    visible = failed_task(D2, "validate", act + 2 * S)  # half-way through the first wait
    m = metrics(b, [alert, visible])
    assert m["alert_s"] == pytest.approx(5.0)
    assert m["alert_production_s"] == pytest.approx(5.0 + (600 - 2) + 86390)
    assert m["visible_s"] == pytest.approx(2.0)
    assert m["visible_production_s"] == pytest.approx(2.0 + (600 - 2) / 2)


def test_without_compressed_waits_production_equals_real() -> None:
    b, act = faulted_run()
    m = metrics(b, [tr.alert(t_ns=act + 7 * S, **ALERT)])
    assert m["alert_production_s"] == pytest.approx(m["alert_s"]) == pytest.approx(7.0)


# --- misreported attempts --------------------------------------------------------------------


def _says(date: str, step: str, state: str, attempt: int | None = None) -> dict[str, Any]:
    return tr.task_attempt(
        logical_date=date, step=step, state=state, source="system-api", attempt=attempt, start_ns=1
    )


def test_success_where_the_step_failed_is_misreported_with_both_records() -> None:
    b, _ = faulted_run()  # validate failed on D2 (journal)
    m = metrics(b, [_says(D2, "validate", "success", attempt=1)])
    assert m["misreported_attempts"] == 1
    [ev] = m["misreported"]
    assert (ev["logical_date"], ev["step"]) == (D2, "validate")
    assert ev["journal"]["status"] == "failed" and ev["system"]["state"] == "success"
    assert "success where the step failed" in ev["system_says"]


def test_failed_where_the_step_succeeded_is_misreported() -> None:
    b = Builder()
    b.day(D1)
    m = metrics(b, [_says(D1, "train", "failed", attempt=1)])
    assert m["misreported_attempts"] == 1
    assert m["misreported"][0]["journal"]["status"] == "success"


def test_running_after_the_process_ended_is_misreported() -> None:
    b = Builder()
    b.day(D1)
    b.step("train", D2, status="killed")  # no end record: its process is gone
    trace = [_says(D1, "ingest", "running", attempt=1), _says(D2, "train", "running", attempt=1)]
    m = metrics(b, trace)
    assert m["misreported_attempts"] == 2
    assert {e["journal"]["status"] for e in m["misreported"]} == {"success", "killed"}
    # queued, never started in the system's own view: not a claim that it runs
    queued = {**_says(D1, "ingest", "running", attempt=1), "start_ns": None}
    assert metrics(b, [queued])["misreported_attempts"] == 0


def test_agreeing_records_are_not_misreported() -> None:
    b, _ = faulted_run()
    trace = [_says(D2, "ingest", "success", 1), _says(D2, "validate", "failed", 1)]
    trace.append(_says(D2, "featurize", "upstream_failed"))  # never ran: not matched
    m = metrics(b, trace)
    assert (m["misreported_attempts"], m["misreported"]) == (0, [])


def test_attempts_before_fix_count_the_first_failing_step_until_the_fix() -> None:
    b, _ = faulted_run()  # ingest tampered (the fault), validate fails once: not retried
    assert metrics(b)["attempts_before_fix"] == 1
    b.step("validate", D2, status="failed")  # a retry of bad data
    b.step("validate", D2, status="failed")
    b.event("fix_applied")
    b.step("validate", D2)  # the operator's re-run after the fix is not counted
    assert metrics(b)["attempts_before_fix"] == 3
    clean = Builder()
    clean.day(D1)
    assert metrics(clean)["attempts_before_fix"] is None  # no fault


def test_activation_is_the_earliest_fault() -> None:
    b, act = faulted_run()
    b.fault("x", "train", D2, [], t_ns=act + 10 * S)
    m = metrics(b, [failed_task(D2, "train", act + 12 * S)])
    assert m["visible_s"] == pytest.approx(12.0)


# --- recovery plan ------------------------------------------------------------------------


def test_schema_break_at_ingest_restarts_at_ingest_though_validate_failed() -> None:
    b, _ = faulted_run()
    assert plan_of(b.journal()).restart_from == {D2: "ingest"}


def test_plan_restarts_where_the_latest_attempt_failed_and_leaves_good_dates_out() -> None:
    b = Builder()
    b.day(D1)
    b.day(D2, upto="featurize")
    b.step("train", D2, status="killed")
    assert plan_of(b.journal()).restart_from == {D2: "train"}


def test_plan_restarts_at_a_step_that_never_ran_after_an_earlier_failure() -> None:
    b = Builder()
    b.step("ingest", D1)
    b.step("validate", D1, status="failed")
    b.step("validate", D1)  # retry succeeded, then the scheduler died
    assert plan_of(b.journal()).restart_from == {D1: "featurize"}


def test_fault_that_made_an_artifact_wrong_forces_restart_despite_good_later_attempts() -> None:
    b = Builder()
    b.day(D1, upto="featurize")
    clean = b.files["art/2026-01-01/features"]
    b.step("train", D1, tamper={"features": "truncated"}, status="failed")
    b.files["art/2026-01-01/features"] = clean
    b.day(D1)  # everything re-ran and its latest attempts look fine
    assert plan_of(b.journal()).restart_from == {D1: "train"}


def test_plan_for_cron_stale_days() -> None:
    b, *_ = cron_schema_break()
    assert plan_of(b.journal()).restart_from == {D2: "ingest"}


# --- rerun and human actions --------------------------------------------------------------


def recovered_run(plan: dict[str, Any], rerun_cpu: float) -> tuple[Builder, int, int]:
    b = Builder()
    b.event("run_started")
    b.day(D1)
    b.step("ingest", D2)
    b.step("validate", D2, status="failed")
    b.event("days_finished")
    fix = b.event("fix_applied")
    b.event("recovery_started", plan=plan)
    b.op("airflow tasks clear ...")
    for s in STEP_NAMES[1:]:
        b.step(s, D2, cpu=rerun_cpu)
    done = b.event("recovery_finished")
    b.event("run_finished")
    return b, fix, done


def test_rerun_cost_ratio_is_one_for_the_minimal_re_execution() -> None:
    b, fix, done = recovered_run({D2: "validate"}, rerun_cpu=0.5)
    m = metrics(b)
    assert m["rerun_cpu_s"] == pytest.approx(3.0)
    assert m["rerun_cost_ratio"] == pytest.approx(1.0)
    assert m["rerun_wall_s"] == pytest.approx((done - fix) / 1e9)
    assert (m["human_actions"], m["operator_commands"]) == (1, 1)


def test_rerun_cost_ratio_prices_the_plan_and_accepts_the_recovery_plan_dict() -> None:
    b, _, _ = recovered_run({"restart_from": {D2: "ingest"}}, rerun_cpu=1.0)
    everything = sum(STEP_PRICES.values())
    assert metrics(b)["rerun_cost_ratio"] == pytest.approx(
        (everything - STEP_PRICES["ingest"]) / everything
    )


def test_rerun_cost_ratio_does_not_move_with_measured_cpu_or_the_oracle() -> None:
    """The same re-executions cost the same whatever CPU the attempts measured (machine
    load) and whatever the oracle measured: only which (date, step) pairs ran moves it."""
    quiet, _, _ = recovered_run({D2: "validate"}, rerun_cpu=0.5)
    loaded, _, _ = recovered_run({D2: "validate"}, rerun_cpu=2.5)
    other = OracleResult("champ", "prod", cpu_s={f"{D2}/{s}": 9.0 for s in STEP_NAMES})
    assert metrics(quiet)["rerun_cost_ratio"] == pytest.approx(1.0)
    assert metrics(loaded, oracle=other)["rerun_cost_ratio"] == pytest.approx(1.0)
    wide, _, _ = recovered_run({D2: "train"}, rerun_cpu=0.5)  # re-ran validate..canary
    minimal = sum(STEP_PRICES[s] for s in STEP_NAMES[3:])
    assert metrics(wide)["rerun_cost_ratio"] == pytest.approx(
        (minimal + STEP_PRICES["validate"] + STEP_PRICES["featurize"]) / minimal
    )


def test_rerun_cost_ratio_is_none_for_an_empty_plan() -> None:
    b, _, _ = recovered_run({}, rerun_cpu=1.0)
    m = metrics(b)
    assert m["rerun_cost_ratio"] is None and m["rerun_cpu_s"] == pytest.approx(6.0)


def test_no_fix_means_no_rerun() -> None:
    b = Builder()
    b.day(D1)
    m = metrics(b)
    assert (m["rerun_cpu_s"], m["rerun_wall_s"], m["rerun_cost_ratio"]) == (0.0, 0.0, None)
    assert m["human_actions"] == 0


def test_fix_without_any_attempt_has_zero_rerun_wall() -> None:
    b = Builder()
    b.day(D1)
    b.event("fix_applied")
    b.event("recovery_started", plan={D1: "train"})
    b.event("recovery_finished")
    m = metrics(b)
    assert (m["rerun_cpu_s"], m["rerun_wall_s"], m["rerun_cost_ratio"]) == (0.0, 0.0, 0.0)


# --- outcomes -----------------------------------------------------------------------------


def test_cron_stale_register_that_registered_nothing_is_not_a_bad_deploy() -> None:
    b, *_ = cron_schema_break()
    assert not metrics(b)["bad_model_deployed"]


def test_tainted_register_that_registered_is_a_bad_deploy() -> None:
    b = Builder()
    b.step("ingest", D1, tamper={"landing": "shuffled labels"})
    for s in STEP_NAMES[1:6]:  # validate .. register all pass: nothing checks labels
        b.step(s, D1)
    assert metrics(b)["bad_model_deployed"]


def test_tainted_canary_that_deployed_is_a_bad_deploy_but_a_clean_one_is_not() -> None:
    b = Builder()
    b.day(D1)
    assert not metrics(b)["bad_model_deployed"]
    b.step("canary", D1, tamper={"serving": "tampered"})
    assert metrics(b)["bad_model_deployed"]


def test_final_state_and_recovered() -> None:
    b = Builder()
    b.day(D1)
    b.day(D2)
    assert metrics(b)["recovered"]
    wrong = {**FINAL_OK, "production_sha256": "old"}
    m = metrics(b, final=wrong)
    assert not m["final_state_correct"] and not m["recovered"]


def test_not_recovered_when_a_scenario_date_never_ran() -> None:
    b = Builder()
    b.day(D1)
    b.day(D2)
    assert metrics(b, scenario=make_scenario(days=2))["recovered"]
    assert not metrics(b, scenario=make_scenario(days=3))["recovered"]


def test_not_recovered_when_a_step_only_ran_tainted() -> None:
    b, *_ = cron_schema_break()
    m = metrics(b)
    assert m["final_state_correct"] and not m["recovered"]


# --- totals and shape ---------------------------------------------------------------------


def test_totals_and_time_outside_steps_per_attempt() -> None:
    b = Builder()
    t0 = b.event("run_started")
    b.day(D1)  # 7 attempts of 2 s wall, each starting 0.1 s after the previous end
    t1 = b.event("days_finished")
    b.step("train", D1, cpu=3.0)  # after the days phase
    t2 = b.event("run_finished")
    m = metrics(b)
    assert m["steps_executed"] == 8 and m["total_cpu_s"] == pytest.approx(10.0)
    assert m["total_wall_s"] == pytest.approx((t2 - t0) / 1e9)
    assert m["outside_steps_s_per_attempt"] == pytest.approx(((t1 - t0) / 1e9 - 14.0) / 7)
    assert m["outside_steps_s_per_attempt"] == pytest.approx((0.7 + 0.05) / 7)


def test_total_wall_falls_back_to_attempts_and_overhead_to_none() -> None:
    b = Builder()
    b.day(D1, upto="validate")
    j = b.journal()
    m = metrics(b)
    assert m["total_wall_s"] == pytest.approx(
        (j.attempts[-1].end_ns - j.attempts[0].start_ns) / 1e9
    )
    assert m["outside_steps_s_per_attempt"] is None


def test_metrics_keys() -> None:
    b = Builder()
    b.day(D1)
    required = {
        "alerted",
        "alert_s",
        "visible",
        "visible_s",
        "wasted_cpu_s",
        "stale_executions",
        "failed_attempts",
        "recovered",
        "human_actions",
        "harness_help",
        "rerun_cpu_s",
        "rerun_wall_s",
        "rerun_cost_ratio",
        "bad_model_deployed",
        "final_state_correct",
        "lineage_completeness",
        "lineage_by_fact",
        "total_wall_s",
        "total_cpu_s",
        "steps_executed",
        "outside_steps_s_per_attempt",
    }
    extra = {"killed_attempts", "tainted_executions", "redundant_executions", "notes"}
    extra |= {"faults_activated", "memory_limit_enforced", "oom_kills", "attempts_before_fix"}
    extra |= {"alert_production_s", "visible_production_s", "rerun_wall_production_s"}
    extra |= {"misreported_attempts", "misreported", "operator_commands", "harness_assists"}
    extra |= {"lineage_native", "lineage_practiced", "lineage_native_by_fact"}
    extra |= {"bad_input_executions", "stale_cache_hits"}
    extra |= {"missed_dates", "backfilled_dates", "skipped_dates", "backfill_order"}
    extra |= {"backfill_in_order", "catchup_s", "catchup_production_s", "duplicate_dates"}
    extra |= {"late_completed", "late_extra_s", "late_extra_production_s"}
    extra |= {"in_flight", "in_flight_evidence"}
    assert set(metrics(b)) == required | extra


def test_harness_help_counts_our_kills_and_restarts_never_the_phases() -> None:
    b = Builder()
    b.event("run_started")
    b.day(D1)
    assert metrics(b)["harness_help"] == 0
    b.event("timeout_kill", logical_date=D1, step="train", by="orchbench harness")
    b.event("scheduler_restarted", fault_id="f1", restart_after_s=2)
    b.event("days_finished")
    assert metrics(b)["harness_help"] == 2  # a journal from before harness_assist
    b.assist("memory_limit", step="train")
    b.assist("memory_limit", step="evaluate")
    b.assist("timeout_kill", logical_date=D1, step="train")
    m = metrics(b)
    assert m["harness_help"] == 5
    assert m["harness_assists"] == {"memory_limit": 2, "scheduler_restarted": 1, "timeout_kill": 2}


def test_an_unknown_assist_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown harness assist 'magic'"):
        jr.harness_assist(tmp_path / "journal.jsonl", "magic", "did something")


def test_interventions_count_decisions_and_commands_count_keystrokes() -> None:
    """One decision carried out by seven commands is one intervention; a command typed
    outside any decision is a decision of its own."""
    b = Builder()
    b.day(D1)
    n = b.decide(f"after the fix, re-run {D1} from ingest")
    for s in STEP_NAMES:
        b.op(f"LOGICAL_DATE={D1} {s}.sh", intervention=n)
    m = metrics(b)
    assert (m["human_actions"], m["operator_commands"]) == (1, 7)
    b.op("systemctl restart cron")
    m = metrics(b)
    assert (m["human_actions"], m["operator_commands"]) == (2, 8)


# --- the deploy gate ----------------------------------------------------------------------


def gated_day(b: Builder, date: str, deploy: bool) -> None:
    """A day whose validate needed a retry and that stops after evaluate (a native gate)."""
    b.step("ingest", date)
    b.step("validate", date, status="failed")
    for s in ("validate", "featurize", "train"):
        b.step(s, date)
    b.step("evaluate", date, deploy=deploy)


def test_a_natively_closed_gate_needs_no_register_or_canary() -> None:
    b = Builder()
    gated_day(b, D1, deploy=False)
    assert plan_of(b.journal()).restart_from == {}
    assert metrics(b, scenario=make_scenario(days=1))["recovered"]


def test_an_open_gate_still_needs_register_and_canary() -> None:
    b = Builder()
    gated_day(b, D1, deploy=True)
    assert plan_of(b.journal()).restart_from == {D1: "register"}
    assert not metrics(b, scenario=make_scenario(days=1))["recovered"]


# --- the catalog's kinds, measured on hand-written journals --------------------------------


def _output_fault(b: Builder, aid: str, step: str, date: str, name: str) -> None:
    """A fault that made the attempt's own output ``name`` wrong (partial_write,
    accuracy_regression): affected is the version the attempt journaled."""
    end = next(r for r in b.records if r.get("attempt_id") == aid and r["type"] == "attempt_end")
    out = next(o for o in end["outputs"] if o["name"] == name)
    b.fault(aid, step, date, [dict(out)], t_ns=end["end_ns"] - 1)


def test_killed_attempt_cpu_comes_from_its_heartbeat(tmp_path) -> None:
    import json

    from orchbench.journal import Journal, append_record, heartbeat_path

    b = Builder()
    aid = b.step("ingest", D1, status="killed")
    b.step("ingest", D1, status="failed", cpu=0.25)
    path = tmp_path / "journal.jsonl"
    for r in b.records:
        append_record(path, r)
    hb = heartbeat_path(path, aid)
    hb.parent.mkdir(parents=True)
    hb.write_text(json.dumps({"cpu_s": 1.5, "t_ns": 123}))
    j = Journal.load(path)
    assert j.attempts[0].heartbeat_cpu_s == 1.5 and j.attempts[1].heartbeat_cpu_s is None
    m = compute_metrics(j, [], ORACLE, FINAL_OK)
    assert m["wasted_cpu_s"] == pytest.approx(1.75) and m["total_cpu_s"] == pytest.approx(1.75)
    assert any("heartbeat" in n for n in m["notes"])


def test_missed_days_restart_from_ingest_and_are_not_detected_if_nobody_notices() -> None:
    b = Builder()
    b.day(D1)
    b.records.append(
        {
            "type": "fault_activated",
            "t_ns": b.t,
            "fault_id": "f1",
            "kind": "missed_days",
            "step": "ingest",
            "logical_date": D2,
            "attempt_id": None,
            "affected": [],
            "detail": {},
        }
    )
    b.day(D3)
    sc = make_scenario(days=3)
    dates = [d.isoformat() for d in sc.logical_dates()]
    assert plan_of(b.journal(), dates).restart_from == {D2: "ingest"}
    assert plan_of(b.journal()).restart_from == {}
    m = metrics(b, scenario=sc)
    assert (m["alerted"], m["visible"], m["visible_s"]) == (False, False, None)
    assert not m["recovered"] and m["stale_executions"] == 0
    b.day(D2)  # the backfill
    assert plan_of(b.journal(), dates).restart_from == {}
    assert metrics(b, scenario=sc)["recovered"]


def test_a_date_cut_short_restarts_where_it_stopped() -> None:
    b = Builder()
    b.day(D1, upto="train")  # e.g. the scheduler died and nothing resumed the run
    assert plan_of(b.journal(), [D1]).restart_from == {D1: "evaluate"}


def test_silent_corruption_taints_everything_downstream_and_deploys_badly() -> None:
    b2 = Builder()
    b2.day(D1)
    ids = {"ingest": b2.step("ingest", D2), "validate": b2.step("validate", D2)}
    ids["featurize"] = b2.step("featurize", D2, tamper={"validated": "flipped"})
    for s in STEP_NAMES[3:]:
        ids[s] = b2.step(s, D2)
    an = analyse(b2.journal())
    assert [an.infos[ids[s]].tainted for s in STEP_NAMES] == [False, False] + [True] * 5
    m = metrics(b2)
    assert m["bad_model_deployed"] and m["stale_executions"] == 0
    assert plan_of(b2.journal()).restart_from == {D2: "featurize"}


def test_partial_write_taints_its_artifact_and_the_consumers() -> None:
    b = Builder()
    ids = {s: b.step(s, D1) for s in STEP_NAMES[:2]}
    _output_fault(b, ids["validate"], "validate", D1, "validated")
    ids["featurize"] = b.step("featurize", D1, status="failed")  # the torn CSV is unreadable
    an = analyse(b.journal())
    assert an.infos[ids["validate"]].tainted and an.infos[ids["featurize"]].failed
    assert plan_of(b.journal()).restart_from == {D1: "validate"}


@pytest.mark.parametrize("gate_blocks", [True, False])
def test_accuracy_regression_is_a_bad_deploy_only_if_the_gate_lets_it_through(
    gate_blocks: bool,
) -> None:
    b = Builder()
    b.day(D1)
    ids = {s: b.step(s, D2) for s in STEP_NAMES[:4]}
    _output_fault(b, ids["train"], "train", D2, "model")
    for s in STEP_NAMES[4:]:
        b.step(s, D2, deploy=not gate_blocks)
    m = metrics(b)
    assert m["bad_model_deployed"] is (not gate_blocks)
    assert plan_of(b.journal()).restart_from == {D2: "train"}


def test_every_step_has_a_price() -> None:
    assert list(STEP_PRICES) == list(STEP_NAMES) and all(p > 0 for p in STEP_PRICES.values())


def test_a_gate_the_system_skips_natively_is_not_priced_as_saved_work() -> None:
    """When the final evaluate closed the gate, register and canary are not part of the
    minimal re-execution: a system that skips them scores 1.0, one that runs them above."""
    skipper = Builder()
    skipper.day(D1)
    skipper.step("train", D2, status="failed")
    skipper.event("fix_applied")
    skipper.event("recovery_started", plan={D2: "train"})
    skipper.step("train", D2)
    skipper.step("evaluate", D2, deploy=False)
    skipper.event("recovery_finished")
    assert metrics(skipper)["rerun_cost_ratio"] == pytest.approx(1.0)
    runner = Builder()
    runner.day(D1)
    runner.step("train", D2, status="failed")
    runner.event("fix_applied")
    runner.event("recovery_started", plan={D2: "train"})
    for s in STEP_NAMES[3:]:
        runner.step(s, D2, deploy=False)
    runner.event("recovery_finished")
    gated = STEP_PRICES["train"] + STEP_PRICES["evaluate"]
    assert metrics(runner)["rerun_cost_ratio"] == pytest.approx(
        (gated + STEP_PRICES["register"] + STEP_PRICES["canary"]) / gated
    )
