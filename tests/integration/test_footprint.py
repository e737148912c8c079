"""``orchbench footprint`` on a real system: Prefect's default profile (a server and a
serve process) measured with a short idle window, and bad input refused whole."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.leftovers import processes_mentioning

pytestmark = pytest.mark.slow

ORCHBENCH = REPO / ".venv" / "bin" / "orchbench"


def footprint(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ORCHBENCH), "footprint", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_prefect_default_is_measured_and_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "footprint"
    res = footprint("--runners", "prefect", "--idle-s", "4", "--jobs", "1", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [str(out / "prefect.json")]
    cell = json.loads((out / "prefect.json").read_text())["default"]
    # the server and the serve process were up and idle, and bound to loopback only
    assert cell["idle_processes"] >= 2, cell["idle_process_names"]
    assert cell["listening"] and all(a.startswith("127.0.0.1:") for a in cell["listening"])
    assert cell["idle_rss_mb"] > 0 and cell["idle_pss_mb"] is not None
    assert cell["idle_window_s"] >= 2
    assert cell["cold_start_s"] > 0 and cell["day_attempts"] >= 7
    assert cell["day_wall_s"] > cell["day_outside_steps_s"]
    assert cell["authored_files"] and cell["authored_lines"] > 0
    assert cell["install_mb"] > 0 and cell["system_version"].startswith("prefect ")
    time.sleep(1)
    assert not processes_mentioning("orchbench-footprint-")


def test_bad_input_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "footprint"
    res = footprint("--runners", "nope,prefect", "--out", str(out), timeout=60)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        next(line for line in res.stderr.splitlines() if "unknown runner(s) nope" in line)
    ]
    res = footprint("--idle-s", "0", "--out", str(out), timeout=60)
    assert res.returncode == 2 and "--idle-s must be positive" in res.stderr
    assert not out.exists()
