"""What re-executing each step costs, for ``rerun_cost_ratio`` (``orchbench.metrics``).

A step's price is its CPU seconds on one date as the oracle runs it (in process, no
faults): the median over 5 oracle runs x 3 dates of ``scenarios/transient_error.yaml``
(20 000 rows a day) on the 2-core bench machine, 2026-12-05, measured with
``python benchmarks/step_prices.py scenarios/transient_error.yaml --repeat 5``. The
prices are fixed, not re-measured per run: two runs that re-executed the same (date,
step) pairs get the same ratio whatever the load, the oracle's cache or the machine, so
the ratio compares systems, not moments. Only the ratio between prices matters.
"""

from __future__ import annotations

from collections.abc import Mapping

STEP_PRICES: Mapping[str, float] = {
    "ingest": 0.0010,
    "validate": 0.0524,
    "featurize": 0.1428,
    "train": 0.3256,
    "evaluate": 0.0113,
    "register": 0.0010,
    "canary": 0.0050,
}


def price(step: str) -> float:
    return STEP_PRICES[step]
