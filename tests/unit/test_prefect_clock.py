"""The prefect runner's day clock (system-scheduled mode): which date a scheduled flow run
stands for, and the schedule that fires every date once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from runners.prefect import clock
from runners.prefect.native import logical_date_of

DATES = ["2026-01-01", "2026-01-02", "2026-01-03"]


def _clock(tmp_path: Path, start: float = 1_000.4) -> dict:
    path = clock.path_in(tmp_path)
    clock.write(path, start, 20.0, DATES, ["orchbench-run-x"])
    found = clock.read(path)
    assert found is not None
    return found


def test_start_is_rounded_up_and_each_interval_is_its_date(tmp_path: Path) -> None:
    c = _clock(tmp_path)
    assert c["start"] == 1_001  # an RRule's DTSTART has whole seconds: never before
    assert [clock.date_at(c, 1_001 + k * 20 + 0.3) for k in range(3)] == DATES
    assert clock.date_at(c, 1_001 - 20) is None
    assert clock.date_at(c, 1_001 + 3 * 20) is None


def test_the_schedule_fires_every_date_once_from_start(tmp_path: Path) -> None:
    c = _clock(tmp_path)
    rule = clock.schedule(c)
    start = dt.datetime.fromtimestamp(1_001, dt.UTC)
    assert rule.splitlines() == [
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}",
        "RRULE:FREQ=SECONDLY;INTERVAL=20;COUNT=3",
    ]


def test_the_prefetch_window_is_compressed_with_the_day(tmp_path: Path) -> None:
    c = _clock(tmp_path)
    assert clock.prefetch_s(c) == clock.PREFETCH_S * 20.0 / clock.PRODUCTION_DAY_S
    assert clock.prefetch_s(c) < 1.0  # below the day loop's lead: a stop comes first


def test_no_clock_file_means_no_clock(tmp_path: Path) -> None:
    assert clock.read(tmp_path / "missing.json") is None


def test_a_scheduled_run_has_the_date_of_its_scheduled_start(tmp_path: Path) -> None:
    c = _clock(tmp_path)
    t = dt.datetime.fromtimestamp(1_001 + 20, dt.UTC).isoformat()
    scheduled = {"parameters": {}, "expected_start_time": t}
    assert logical_date_of(scheduled, c) == "2026-01-02"
    # a run the harness or the operator created names its date
    created = {"parameters": {"logical_date": "2026-01-03"}, "expected_start_time": t}
    assert logical_date_of(created, c) == "2026-01-03"
    assert logical_date_of(scheduled, None) == "None"  # no clock: as before
