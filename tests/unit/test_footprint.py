"""Operating-cost figures (orchbench.footprint) on hand-made journals and samples, and the
process reading (orchbench.proctree) on real child processes of this test."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchbench import footprint, proctree
from orchbench.footprint_phase import cells
from orchbench.journal import Attempt, Journal

S = 1_000_000_000
T0 = 1_000 * S
TICKS = proctree.TICKS_PER_S


def harness(*events: tuple[str, float]) -> list[dict]:
    return [{"type": "harness", "event": e, "t_ns": T0 + round(t * S)} for e, t in events]


def attempt(step: str, start_s: float, end_s: float) -> Attempt:
    return Attempt(
        attempt_id=step,
        run_id="r",
        runner="x",
        logical_date="2026-01-01",
        step=step,
        attempt=1,
        pid=1,
        start_ns=T0 + round(start_s * S),
        code_version=None,
        inputs=[],
        end_ns=T0 + round(end_s * S),
        status="success",
    )


EVENTS = (
    ("services_starting", 0.0),
    ("services_ready", 12.0),
    ("idle_finished", 73.0),
    ("date_due", 73.5),
)


def sample(t_s: float, procs: list[tuple[int, str, int, int | None, int]], ports=()) -> dict:
    return {
        "t_ns": T0 + round(t_s * S),
        "procs": [
            {"pid": p, "name": n, "rss_kb": r, "pss_kb": pss, "cpu_ticks": c}
            for p, n, r, pss, c in procs
        ],
        "listening": [{"address": "127.0.0.1", "port": port, "pid": 1} for port in ports],
    }


def test_figures_come_from_the_idle_window_and_the_day() -> None:
    journal = Journal(
        [attempt("ingest", 74.0, 75.0), attempt("train", 76.0, 79.0)], [], harness(*EVENTS), []
    )
    samples = [
        sample(5.0, [(1, "boot", 999_999, 1, 0)]),  # before ready: not idle
        sample(12.5, [(1, "server", 102_400, 51_200, 100), (2, "sched", 51_200, 20_480, 10)]),
        sample(
            72.5,
            [(1, "server", 204_800, 102_400, 100 + 3 * TICKS), (3, "new", 1024, 1024, 6 * TICKS)],
            [8080],
        ),
        sample(78.0, [(1, "server", 10**7, 10**7, 10**6)]),  # the day: not idle
    ]
    f = footprint.run_figures(samples, journal)
    assert f["cold_start_s"] == 12.0
    assert f["idle_window_s"] == 60.0
    assert f["idle_processes"] == 2 and f["idle_process_names"] == ["new", "server"]
    assert f["idle_rss_mb"] == round((204_800 + 1024) / 1024, 1)
    assert f["idle_pss_mb"] == round((102_400 + 1024) / 1024, 1)
    # 3 s of the server's plus 6 s of a process born in the window, over 60 s
    assert f["idle_cpu_pct"] == pytest.approx(15.0)
    assert f["listening"] == ["127.0.0.1:8080"]
    assert f["day_wall_s"] == 5.5 and f["day_attempts"] == 2
    assert f["day_outside_steps_s"] == 1.5  # 5.5 s of day, 4 s of steps
    assert f["day_peak_processes"] == 1 and f["day_peak_pss_mb"] == round(10**7 / 1024, 1)


def test_unknown_pss_is_not_summed_as_zero() -> None:
    journal = Journal([], [], harness(*EVENTS), [])
    samples = [sample(13, [(1, "a", 10, None, 0)]), sample(70, [(1, "a", 10, None, 0)])]
    f = footprint.run_figures(samples, journal)
    assert f["idle_pss_mb"] is None and f["day_wall_s"] is None


def test_a_journal_without_the_windows_is_an_error_naming_them() -> None:
    journal = Journal([], [], harness(("services_ready", 1.0)), [])
    with pytest.raises(ValueError, match="services_starting, idle_finished, date_due"):
        footprint.run_figures([], journal)
    journal = Journal([], [], harness(*EVENTS), [])
    with pytest.raises(ValueError, match="1 process samples"):
        footprint.run_figures([sample(20, [])], journal)


def test_code_lines_skip_blanks_and_whole_line_comments() -> None:
    text = "#!/bin/sh\n# a comment\n\nset -e  # trailing\n  -- sql\n// js\nrun step\n"
    assert footprint.code_lines(text) == 2


def test_authored_counts_the_matching_files(tmp_path: Path) -> None:
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "a.py").write_text("x = 1\n# c\ny = 2\n")
    (tmp_path / "adapter.py").write_text("not counted\n")
    assert footprint.authored(tmp_path, ("dags/*.py", "missing.py")) == {"dags/a.py": 2}


def test_tree_mb_is_the_files_apparent_size(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x" * 2_000_000)
    (tmp_path / "link").symlink_to(tmp_path / "f")
    assert footprint.tree_mb(tmp_path) == 2.0
    assert footprint.tree_mb(tmp_path / "nope") is None


def test_proctree_sees_a_child_its_memory_and_its_listening_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = (
        "import socket, time; s = socket.socket(); "
        f"s.bind(('127.0.0.1', {port})); s.listen(); print('up', flush=True); time.sleep(30)"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "up"
        snap = proctree.snapshot()
        mine = [p for p in snap["procs"] if p["pid"] == child.pid]
        assert len(mine) == 1 and mine[0]["rss_kb"] > 1000
        mine_l = {"protocol": "tcp", "address": "127.0.0.1", "port": port, "pid": child.pid}
        assert mine_l in snap["listening"]
    finally:
        child.kill()
        child.wait()
    time.sleep(0.1)
    assert child.pid not in [p["pid"] for p in proctree.snapshot()["procs"]]


def test_cells_default_to_each_runners_bench_profiles_and_name_unknown_runners() -> None:
    assert ("cron-hardened", "pipeline") in cells(["cron-hardened"], None)
    assert cells(["prefect"], ["pool", "nope"]) == [("prefect", "pool")]
    with pytest.raises(ValueError, match="unknown runner"):
        cells(["nope"], None)


def test_the_report_reads_the_cells_written(tmp_path: Path) -> None:
    from orchbench.report import sections
    from orchbench.report.blocks import Table
    from orchbench.report.load import load_footprint

    cell = {
        "runner": "x",
        "profile": "default",
        "system_version": "x 1.0",
        "cold_start_s": 12.345,
        "idle_processes": 2,
        "idle_rss_mb": 300.0,
        "idle_pss_mb": 250.5,
        "idle_cpu_pct": 4.321,
        "listening": ["127.0.0.1:5000"],
        "day_wall_s": 4.0,
        "day_outside_steps_s": 3.5,
        "day_peak_processes": 4,
        "day_peak_pss_mb": 445.0,
        "install_mb": 578.4,
        "system_packages_mb": {"docker.io": 151.1, "gone": None},
        "authored_lines": 406,
        "concepts": ["@flow", "@task"],
        "idle_window_s": 59.0,
        "machine": {"cores": 2},
        "measured_at": "2026-12-06T07:52:42Z",
    }
    (tmp_path / "x.json").write_text(json.dumps({"default": cell, "junk": {"no": 1}}))
    blocks = sections.footprint_section(load_footprint(tmp_path))
    tables = [b for b in blocks if isinstance(b, Table)]
    assert len(tables[0].rows) == 1  # the entry without figures is not a cell
    row = dict(zip(tables[0].header, tables[0].rows[0], strict=True))
    assert row["cold start s"] == "12.3" and row["idle CPU %"] == "4.32"
    assert row["install MB (apt)"] == "578 (151)" and row["listening"] == "127.0.0.1:5000"
    assert dict(zip(tables[1].header, tables[1].rows[0], strict=True))["concepts"] == "@flow, @task"
    bare = {k: v for k, v in cell.items() if k not in ("machine", "measured_at")}
    (tmp_path / "x.json").write_text(json.dumps({"default": bare}))
    assert (
        len(
            [
                b
                for b in sections.footprint_section(load_footprint(tmp_path))
                if isinstance(b, Table)
            ]
        )
        == 2
    )
    empty = sections.footprint_section(load_footprint(tmp_path / "none"))
    assert "make footprint" in str(empty[-1])
