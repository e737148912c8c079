"""``orchbench scale`` survives its own interruption, on kfp.local (whose driver processes
live in sessions of their own, so they outlive a killed harness):

- SIGKILL of the scale process group mid-point: the point in flight is not published (a
  point published before stays), and the next ``orchbench scale`` on the same out dir
  stops what the killed one left running and removes its temporary directories;
- Ctrl-C (SIGINT to the group) and SIGTERM mid-point: exit 130, nothing published,
  nothing left in the out dir or running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchbench import ownership, rundir
from orchbench.point import POINT_JSON, load_points
from tests.integration.leftovers import processes_mentioning
from tests.integration.terminal import start_job, wait_for

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.root,
    pytest.mark.skipif(not (REPO / ".venvs/kfp/bin/python").exists(), reason="make setup"),
    pytest.mark.skipif(not ownership.available(), reason="needs root and the cgroup v1 freezer"),
]


def scale(out: Path, fanout: str) -> list[str]:
    return [sys.executable, "-m", "orchbench", "scale", "--runners", "kfp", "--fanout", fanout,
            "--backfill", "", "--concurrent", "", "--out", str(out)]  # fmt: skip


def published(out: Path) -> list[str]:
    return sorted(p.parent.name for p in out.glob(f"kfp/*/{POINT_JSON}") if p.parent.name[0] != ".")


def in_flight(out: Path) -> list[Path]:
    """Temporary point and service directories."""
    return sorted([*out.glob(f"*/{rundir.TMP_PREFIX}*"), *out.glob(f"{rundir.SERVICES_DIR}/*")])


def driving(out: Path) -> bool:
    """A kfp.local driver of a point in flight is running."""
    return any("scale_pipeline run" in p for p in processes_mentioning(str(out)))


def kill_session(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def gone(out: Path, within_s: float = 10) -> list[str]:
    """What still runs about ``out`` once SIGKILLed stragglers had time to exit."""
    end = time.monotonic() + within_s
    while processes_mentioning(str(out)) and time.monotonic() < end:
        time.sleep(0.1)
    return processes_mentioning(str(out))


def test_sigkill_mid_point_then_the_next_scale_reaps_and_cleans(tmp_path: Path) -> None:
    out = tmp_path / "scale"
    proc = start_job(scale(out, "1,10"), tmp_path / "killed.log", REPO)
    try:
        mid = "fanout-1 published and fanout-10's driver running"
        wait_for(lambda: published(out) == ["fanout-1"] and driving(out), 60, mid, proc)
        kill_session(proc, signal.SIGKILL)  # no cleanup code runs
        proc.wait()
    finally:
        kill_session(proc, signal.SIGKILL)
    assert published(out) == ["fanout-1"]  # fanout-10 is not half-published
    left_dirs = in_flight(out)
    assert any(p.name.startswith(f"{rundir.TMP_PREFIX}fanout-10-") for p in left_dirs)
    assert driving(out), "nothing of the killed scale outlived it: reaping would go untested"

    after = subprocess.run(scale(out, "2"), cwd=REPO, capture_output=True, text=True, timeout=120)
    assert after.returncode == 0, after.stderr[-3000:]
    # Its "stopped N processes a killed orchbench left running" is not required: any
    # harness starting meanwhile (another xdist worker's bench or scale) reaps every dead
    # owner's group and may take these first (clean-clone CI of 1f8496d); that nothing of
    # the killed scale runs afterwards is (``gone`` below).
    assert f"removed {len(left_dirs)} unfinished point or service directories" in after.stderr
    assert published(out) == ["fanout-1", "fanout-2"]
    assert in_flight(out) == [] and not any(p.exists() for p in left_dirs)
    assert gone(out) == []
    points, refused = load_points(out)
    assert refused == [] and all(p.status == "completed" for p in points)
    assert points[1].growth is not None and points[1].growth.over == (1, 2)
    assert not any((out / "kfp" / name / ownership.OWNER_FILE).exists() for name in published(out))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_mid_point_exits_130_and_leaves_nothing(
    tmp_path: Path, sig: signal.Signals
) -> None:
    out = tmp_path / "scale"
    proc = start_job(scale(out, "10"), tmp_path / "scale.log", REPO)
    try:
        wait_for(lambda: driving(out), 60, "fanout-10's driver running", proc)
        time.sleep(2)  # inside the point: kfp.local is running its tasks
        if sig == signal.SIGINT:
            kill_session(proc, sig)  # what Ctrl-C at a terminal does
        else:
            os.kill(proc.pid, sig)  # what a service manager does
        try:
            rc = proc.wait(15)
        except subprocess.TimeoutExpired:
            rc = None
    finally:
        kill_session(proc, signal.SIGKILL)
        proc.wait()
    log = (tmp_path / "scale.log").read_text()[-3000:]
    assert rc == 130, log
    assert "interrupted" in log
    assert gone(out) == []
    assert published(out) == [] and in_flight(out) == []
