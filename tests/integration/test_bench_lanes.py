"""``orchbench bench --jobs 2``: runners benched in lane processes with the real systems;
every cell gets exactly one complete run directory, each run records how many lanes could
run beside it (``bench_jobs``), and naive cron, benched beside kfp with its days in a
raised-weight CPU cgroup (we run as root), still gets its fixed-minute chain right."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchbench.crond import cpu_group
from orchbench.matrix import Cell, lane_order
from tests.conformance import scenarios as short
from tests.integration.test_cron import CRON, needs_cron

REPO = Path(__file__).resolve().parents[2]


def test_lane_order_is_longest_first_and_skips_done_groups() -> None:
    s = Path("x.yaml")
    cells = [Cell(s, "kfp", "default", 0), Cell(s, "airflow", "default", 0)]
    cells += [Cell(s, "cron", "default", 1), Cell(s, "unknown", "default", 0)]
    order = [(lane.runner, lane.profile) for lane in lane_order(cells, repeat=1)]
    assert order == [("airflow", "default"), ("unknown", "default"), ("kfp", "default")]


@pytest.mark.slow
@pytest.mark.root
@needs_cron
@CRON
def test_two_lanes_publish_one_run_per_cell(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    copies = short.write(tmp_path / "scenarios", ["clean"], plain=True)  # 2 days, 5000 rows
    cmd = [sys.executable, "-m", "orchbench", "bench", "--jobs", "2", "--runners",
           "cron,kfp", "--scenarios", "clean", "--scenario-dir", str(copies),
           "--out", str(out)]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    lanes = [line for line in done.stderr.splitlines() if line.startswith("lane: ")]
    # both lanes at once (longest expected first), neither waiting for the other
    assert lanes[:2] == ["lane: cron/default started", "lane: kfp/default started"]
    ended = ["lane: cron/default finished (0)", "lane: kfp/default finished (0)"]
    assert sorted(lanes[2:]) == ended
    runs = sorted(out.glob("clean/*/*/run.json"))
    assert [p.parent.parent.name for p in runs] == ["cron", "kfp"]
    jobs = {}
    for p in runs:
        record = json.loads(p.read_text())
        assert record["status"] == "completed"
        # under kfp's load the x300 chain must not overlap: no job read a half-made input
        assert record["metrics"]["stale_executions"] == 0, record["metrics"]
        assert record["metrics"]["bad_model_deployed"] is False
        assert record["metrics"]["final_state_correct"] is True
        env = json.loads((p.parent / "env.json").read_text())
        jobs[p.parent.parent.name] = env["bench_jobs"]
    assert jobs == {"kfp": 2, "cron": 2}
    cron_env = json.loads((runs[0].parent / "env.json").read_text())
    assert "cpu.shares=" in json.dumps(cron_env) or "cpu.weight=" in json.dumps(cron_env)
    for root in (cpu_group.V1_ROOT, cpu_group.V2_ROOT):  # the day groups are removed
        assert not list(root.glob(cpu_group.PREFIX + "*"))
    assert not list(out.glob("clean/*/.tmp-*"))
    printed = [line for line in done.stdout.splitlines() if line.strip()]
    assert sorted(printed) == sorted(str(p.parent) for p in runs)
