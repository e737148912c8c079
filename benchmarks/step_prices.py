"""The step prices ``rerun_cost_ratio`` uses (``orchbench/workflow/prices.py``), measured.

Runs the oracle (the steps in process, no faults, no cache) ``--repeat`` times on one
scenario and prints, per step, the median CPU seconds over every run and date. The
printed dict is what ``prices.py`` holds; re-measure when a step's code changes.

Usage: ``python benchmarks/step_prices.py scenarios/transient_error.yaml --repeat 5``
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict

from orchbench.oracle import run_oracle
from orchbench.scenario import load_scenario
from orchbench.workflow.spec import STEP_NAMES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    scenario = load_scenario(args.scenario)
    cpu: dict[str, list[float]] = defaultdict(list)
    for _ in range(args.repeat):
        for key, seconds in run_oracle(scenario).cpu_s.items():
            cpu[key.split("/", 1)[1]].append(seconds)
    print(
        f"# {args.scenario}: {scenario.data.rows_per_day} rows a day, {scenario.days} days, "
        f"{args.repeat} oracle runs"
    )
    print("{")
    for step in STEP_NAMES:
        print(f'    "{step}": {statistics.median(cpu[step]):.4f},')
    print("}")


if __name__ == "__main__":
    main()
