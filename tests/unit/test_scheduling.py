"""What the system's scheduler did (``orchbench.scheduling``), on hand-made journals."""

from __future__ import annotations

from typing import Any

from orchbench.metrics import analyse, match_trace
from orchbench.scheduling import backfill, in_flight, lateness
from tests.unit.journal_builder import Builder

D1, D2, D3, D4 = "2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"


def _fault(b: Builder, kind: str, date: str, aid: str | None = None, **detail: Any) -> None:
    b.t += 1000
    b.records.append(
        {
            "type": "fault_activated",
            "t_ns": b.t,
            "fault_id": "f1",
            "kind": kind,
            "step": "ingest",
            "logical_date": date,
            "attempt_id": aid,
            "affected": [],
            "detail": detail,
        }
    )


def _outage(b: Builder) -> None:
    """D1 runs; the scheduler is down for D2 and D3 and back as D4 is due."""
    b.event("date_due", logical_date=D1)
    b.day(D1)
    b.event("date_due", logical_date=D2)
    _fault(b, "missed_days", D2, dates=[D2, D3])
    b.event("scheduler_stopped", fault_id="f1")
    b.event("date_due", logical_date=D3)
    b.event("date_due", logical_date=D4)
    b.event("scheduler_started", fault_id="f1")


def _backfill(b: Builder) -> dict[str, Any]:
    j = b.journal()
    return backfill(j, analyse(j))


def test_a_scheduler_that_catches_up_in_order_backfills_every_missed_date() -> None:
    b = Builder()
    _outage(b)
    back = b.t
    for d in (D2, D3, D4):
        b.day(d)
    m = _backfill(b)
    assert m["missed_dates"] == [D2, D3] and m["backfilled_dates"] == [D2, D3]
    assert m["skipped_dates"] == [] and m["duplicate_dates"] == []
    assert m["backfill_order"] == [D2, D3, D4] and m["backfill_in_order"]
    ends = [r for r in b.records if r["type"] == "attempt_end"]
    d3_end = max(r["end_ns"] for r in ends if r["attempt_id"].startswith(D3))
    assert m["catchup_s"] == round((d3_end - back) / 1e9, 3) > 0


def test_dates_the_operator_reran_are_skipped_not_backfilled() -> None:
    b = Builder()
    _outage(b)
    b.day(D4)
    b.event("days_finished")
    b.event("fix_applied")
    b.decide("re-run 2026-01-02, 2026-01-03 from ingest")
    b.day(D2)
    b.day(D3)
    m = _backfill(b)
    assert m["backfilled_dates"] == [] and m["skipped_dates"] == [D2, D3]
    assert m["catchup_s"] is None and m["backfill_order"] == [D4]


def test_out_of_order_catch_up_and_a_date_run_twice_are_seen() -> None:
    b = Builder()
    _outage(b)
    b.day(D3)
    b.day(D2)
    b.day(D4)
    b.step("ingest", D4)  # the system ran the date's ingest again
    m = _backfill(b)
    assert m["backfilled_dates"] == [D2, D3] and m["backfill_order"] == [D3, D2, D4]
    assert not m["backfill_in_order"] and m["duplicate_dates"] == [D4]


def test_without_an_outage_there_is_nothing_to_backfill() -> None:
    b = Builder()
    b.day(D1)
    assert set(_backfill(b).values()) == {None}


def _late() -> Builder:
    """D1 on time; D2 due with its partition withheld."""
    b = Builder()
    b.event("date_due", logical_date=D1)
    b.day(D1)
    b.event("date_due", logical_date=D2)
    _fault(b, "late_data", D2, delay_s=3)
    return b


def test_a_late_partition_costs_the_date_the_wait_beyond_the_other_dates() -> None:
    b = _late()
    b.step("ingest", D2, status="failed", wall=5.0)  # waited for it, gave up once
    b.day(D2)
    j = b.journal()
    m = lateness(j, analyse(j))
    assert m["late_completed"] and 5.0 <= m["late_extra_s"] < 6.0
    assert m["late_extra_production_s"] == m["late_extra_s"]  # no compressed wait inside


def test_a_late_date_finished_by_the_operator_did_not_complete() -> None:
    b = _late()
    b.step("ingest", D2, status="failed")
    b.event("fix_applied")
    b.decide("re-run 2026-01-02 from ingest")
    b.day(D2)
    j = b.journal()
    assert lateness(j, analyse(j)) == {
        "late_completed": False,
        "late_extra_s": None,
        "late_extra_production_s": None,
    }


def _crash(status: str, rerun: bool = False) -> tuple[Builder, str]:
    b = Builder()
    b.day(D1, upto="validate")
    aid = b.step("featurize", D1, status=status)
    _fault(b, "scheduler_crash", D1, aid=aid)
    if rerun:
        b.step("featurize", D1)
    return b, aid


def _record(state: str, passive: bool = False) -> dict[str, Any]:
    r = {"kind": "task_attempt", "logical_date": D1, "step": "featurize", "state": state}
    return {**r, "attempt": 1, "passive": passive, "native": {"state": state.upper()}}


def _flight(b: Builder, trace: list[dict[str, Any]]) -> tuple[str | None, dict[str, Any] | None]:
    j = b.journal()
    return in_flight(j, match_trace(j.attempts, trace), trace)


def test_the_in_flight_task_of_a_crash_is_classified_from_both_records() -> None:
    b, aid = _crash("success")
    label, ev = _flight(b, [_record("success")])
    assert label == "adopted" and ev is not None and ev["attempt_id"] == aid
    assert ev["journal"] == "success" and ev["system"] == "success" and ev["re_runs"] == 0
    assert _flight(b, [_record("success", passive=True)])[0] == "orphaned"  # only its own log
    assert _flight(b, [_record("running")])[0] == "orphaned"  # the system lost track
    assert _flight(b, [])[0] == "orphaned"
    b, _ = _crash("killed")
    assert _flight(b, [_record("crashed")])[0] == "crashed"
    assert _flight(b, [_record("running")])[0] == "lost"
    b, _ = _crash("failed")  # it died orphaned (a broken pipe to its dead driver)
    assert _flight(b, [_record("failed")])[0] == "crashed"
    assert _flight(b, [_record("running")])[0] == "lost"
    assert _flight(b, [_record("success")])[0] == "lost"  # the system's record is wrong
    b, _ = _crash("killed", rerun=True)
    label, ev = _flight(b, [_record("crashed")])
    assert label == "re-run" and ev is not None and ev["re_runs"] == 1


def test_a_re_run_by_the_operator_is_not_the_systems() -> None:
    b, _ = _crash("failed")
    b.event("fix_applied")
    b.decide("re-run from featurize")
    b.step("featurize", D1)
    assert _flight(b, [_record("crashed")])[0] == "crashed"
    # the system's only task record is of the operator's re-run: it says nothing of
    # the in-flight attempt; the run the crash hit shows Crashed
    rerun = {**_record("success"), "start_ns": b.t}
    crashed_run = {"kind": "run_state", "logical_date": D1, "state": "crashed"}
    label, ev = _flight(b, [rerun, crashed_run])
    assert label == "crashed" and ev is not None and ev["system"] is None
    assert _flight(b, [rerun])[0] == "lost"
