"""Helpers for the teaching notebooks, and ``make notebooks`` (execute them all).

``runs_for`` is how notebooks 02–04 get runs: the published runs under ``results/runs``
when they hold a completed run of the scenario for a runner, otherwise a small run made
on the spot (the scenario shortened to 2 days, ``orchbench run`` in a subprocess, into
the notebook work directory). Either way the rows come from ``load_runs``, the report's
one loader, with a ``source`` column saying which.

    python -m orchbench.report.notebooks NOTEBOOK_DIR OUT_DIR
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

from orchbench.report.load import load_runs

REPO = Path(__file__).resolve().parents[2]
RESULTS = Path(os.environ.get("ORCHBENCH_RESULTS", REPO / "results" / "runs"))
WORK = Path(os.environ.get("ORCHBENCH_NB_WORK", REPO / "results" / "notebooks" / "work"))


def available_runners() -> list[str]:
    """Runner names ``orchbench list runners`` prints (their environments may be absent)."""
    out = subprocess.run(
        [sys.executable, "-m", "orchbench", "list", "runners"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    return [line.split("\t")[0] for line in out.splitlines() if line.strip()]


def small_scenario(name: str, days: int = 2) -> Path:
    """``scenarios/<name>.yaml`` shortened to ``days`` days, written to the work dir."""
    data = yaml.safe_load((REPO / "scenarios" / f"{name}.yaml").read_text())
    data["days"] = min(days, int(data["days"]))
    data["faults"] = [f for f in data.get("faults") or [] if f["day"] <= data["days"]]
    path = WORK / "scenarios" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_small(name: str, runner: str, days: int = 2) -> Path | None:
    """Run the shortened scenario on one runner; the run directory, or None if it failed."""
    scenario = str(small_scenario(name, days))
    cmd = [sys.executable, "-m", "orchbench", "run", scenario, "--runner", runner]
    proc = subprocess.run(
        [*cmd, "--out", str(WORK / "runs")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    if proc.returncode != 0:
        print(f"{runner}: could not run ({proc.stderr.strip().splitlines()[-1:]})")
        return None
    return Path(proc.stdout.strip().splitlines()[-1])


def runs_for(scenario: str, runners: list[str], results: Path = RESULTS) -> pd.DataFrame:
    """One completed default-profile run per runner (latest), published or made now."""
    published = load_runs(results) if Path(results).is_dir() else pd.DataFrame()
    rows = []
    for runner in runners:
        mine = pd.DataFrame()
        if not published.empty:
            mine = published[
                (published["scenario"] == scenario)
                & (published["runner"] == runner)
                & (published["profile"] == "default")
                & (published["status"] == "completed")
            ]
        if not mine.empty:
            rows.append(mine.sort_values("run_id").tail(1).assign(source=str(results)))
            continue
        t0 = time.monotonic()
        run_dir = run_small(scenario, runner)
        if run_dir is None:
            continue
        new = load_runs(WORK / "runs")
        new = new[new["run_dir"] == str(run_dir)]
        took = f"run now, 2 days, {time.monotonic() - t0:.0f} s"
        rows.append(new.assign(source=took))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def execute(notebook: Path, out_dir: Path, timeout: int = 600) -> Path:
    """Execute one notebook with nbclient (cwd: the repo) into ``out_dir``."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
    ).execute()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / notebook.name
    nbformat.write(nb, target)
    return target


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    src, out = Path(args[0]), Path(args[1])
    for nb in sorted(src.glob("[0-9]*.ipynb")):
        t0 = time.monotonic()
        target = execute(nb, out)
        print(f"{target}\t{time.monotonic() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
