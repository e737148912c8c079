"""Helpers for the teaching notebooks, and ``make notebooks`` (execute them all).

``runs_for`` is how notebooks 02–05 get runs: the published runs under ``results/runs``
when they hold a completed run of the scenario for a runner; else a small run an earlier
notebook already made in the notebook work directory from the same shortened scenario
file (03 and 04 both use ``schema_break``: 04 reuses 03's runs instead of repeating them);
else a small run made on the spot (the scenario shortened to 2 days, ``orchbench run`` in
a subprocess, into the work directory). Either way the rows come from ``load_runs``, the
report's one loader, with a ``source`` column saying which.

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
from orchbench.scenario import shortened

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
    data = shortened(yaml.safe_load((REPO / "scenarios" / f"{name}.yaml").read_text()), days)
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


def earlier_small_run(name: str, runner: str) -> pd.DataFrame | None:
    """The latest completed run in the work directory of ``runner`` on exactly the
    shortened scenario ``small_scenario(name)`` writes (its ``scenario.yaml`` copy is
    compared byte for byte), as one ``load_runs`` row; None if there is none."""
    runs = WORK / "runs"
    if not runs.is_dir():
        return None
    text = small_scenario(name).read_text()
    found = load_runs(runs)
    if found.empty:
        return None
    found = found[
        (found["runner"] == runner)
        & (found["profile"] == "default")
        & (found["status"] == "completed")
    ]
    same = [
        d
        for d in found["run_dir"]
        if (Path(d) / "scenario.yaml").is_file() and (Path(d) / "scenario.yaml").read_text() == text
    ]
    if not same:
        return None
    return found[found["run_dir"].isin(same)].sort_values("run_id").tail(1)


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
        earlier = earlier_small_run(scenario, runner)
        if earlier is not None:
            rows.append(earlier.assign(source=f"made earlier, 2 days, {WORK / 'runs'}"))
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
