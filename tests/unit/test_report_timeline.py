"""Timeline inputs come from the journal and run.json; the figures render."""

from __future__ import annotations

from pathlib import Path

from orchbench.report import build_report
from orchbench.report.load import load_attempts, load_events, load_runs
from orchbench.report.timeline import timeline_png
from tests.unit.journal_builder import Builder
from tests.unit.test_report import _run

S = 1_000_000_000


def _journal() -> list[dict]:
    b = Builder(layout="current")
    b.records.append({"type": "harness", "t_ns": b.t, "event": "run_started"})
    b.day("2026-01-01")
    b.step("ingest", "2026-01-02", tamper={"raw": "broken"})
    b.step("validate", "2026-01-02", status="failed")
    b.step("featurize", "2026-01-02")  # cron goes on: reads yesterday's validated data
    b.records.append({"type": "harness", "t_ns": b.t + S, "event": "fix_applied"})
    b.records.append({"type": "operator_action", "t_ns": b.t + 2 * S, "command": "rerun"})
    b.records.append({"type": "harness", "t_ns": b.t + 3 * S, "event": "recovery_finished"})
    return b.records


def test_events_and_attempts_are_read_not_computed(tmp_path: Path) -> None:
    d = _run(tmp_path, "s", "cron", "r1", "completed", journal=_journal(), visible_s=2.0)
    att = load_attempts(d)
    assert list(att["status"]).count("failed") == 1
    featurize = att[(att["step"] == "featurize") & (att["logical_date"] == "2026-01-02")]
    assert bool(featurize["stale"].iloc[0])  # the classification run.json records
    ev = load_events(d)
    kinds = list(ev["kind"])
    for k in ("fault", "visible", "fix", "operator", "recovery_finished"):
        assert k in kinds
    fault_t = ev.loc[ev["kind"] == "fault", "t_s"].iloc[0]
    visible_t = ev.loc[ev["kind"] == "visible", "t_s"].iloc[0]
    assert abs(visible_t - fault_t - 2.0) < 1e-6  # activation + run.json's visible_s


def test_a_run_nothing_showed_has_no_visible_marker(tmp_path: Path) -> None:
    d = _run(
        tmp_path,
        "s",
        "cron",
        "r1",
        "completed",
        journal=_journal(),
        visible=False,
        visible_s=None,
    )
    assert "visible" not in set(load_events(d)["kind"])


def test_timeline_and_report_render_from_journals(tmp_path: Path) -> None:
    res = tmp_path / "runs"
    _run(res, "s", "cron", "r1", "completed", journal=_journal(), visible=False)
    _run(res, "s", "airflow", "r2", "timeout", journal=_journal())
    png = timeline_png(load_runs(res), "s")
    assert png is not None and png.startswith(b"\x89PNG")
    out = build_report(res, tmp_path / "rep")
    assert (out / "timeline_s.png").exists()
    assert "timeline_s.png" in (out / "report.md").read_text()
