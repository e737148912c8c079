"""``orchbench report --compare OLD``: what changed between two result sets, asv-style.

For each scenario x runner x profile present in both sets and each metric, the medians of
completed runs (``orchbench.aggregate``; booleans count as 1/0), their ratio new/old,
and a mark: ``worse``/``better`` when the change exceeds ``THRESHOLD`` in the metric's
direction, ``changed`` for booleans that flipped, blank otherwise. Cells present on one
side only are listed as ``added``/``removed``.
"""

from __future__ import annotations

import math

import pandas as pd

from orchbench.aggregate import median
from orchbench.report.tables import completed

THRESHOLD = 0.10  # relative change that counts, as asv's default factor 1.1
METRICS: dict[str, bool] = {  # metric -> higher is better
    "alerted": True,
    "alert_s": False,
    "visible": True,
    "visible_s": False,
    "misreported_attempts": False,
    "stale_executions": False,
    "wasted_cpu_s": False,
    "rerun_cpu_s": False,
    "rerun_cost_ratio": False,
    "human_actions": False,
    "operator_commands": False,
    "bad_model_deployed": False,
    "final_state_correct": True,
    "lineage_completeness": True,
    "lineage_native": True,
    "lineage_practiced": True,
    "total_wall_s": False,
    "outside_steps_s_per_attempt": False,
}
KEY = ["scenario", "runner", "profile"]


def _medians(runs: pd.DataFrame) -> pd.DataFrame:
    ok = completed(runs)
    cols = [m for m in METRICS if m in ok]
    if ok.empty or not cols:
        return pd.DataFrame(columns=[*KEY, *METRICS])
    return ok.groupby(KEY)[cols].agg(median).reset_index()


def _mark(old: float, new: float, higher_better: bool, boolean: bool) -> str:
    if math.isnan(old) or math.isnan(new) or old == new:
        return ""
    if boolean:
        return "changed"
    base = abs(old) if old else 1.0
    if abs(new - old) / base <= THRESHOLD:
        return ""
    improved = new > old if higher_better else new < old
    return "better" if improved else "worse"


def compare(new: pd.DataFrame, old: pd.DataFrame) -> pd.DataFrame:
    """One row per cell x metric with old, new, ratio and mark (see module docstring)."""
    a, b = _medians(old), _medians(new)
    merged = a.merge(b, on=KEY, how="outer", suffixes=("_old", "_new"), indicator=True)
    rows = []
    for _, r in merged.iterrows():
        ident = {k: r[k] for k in KEY}
        if r["_merge"] != "both":
            side = "removed" if r["_merge"] == "left_only" else "added"
            rows.append({**ident, "metric": "*", "old": None, "new": None, "mark": side})
            continue
        for m, higher in METRICS.items():
            o, n = r.get(f"{m}_old"), r.get(f"{m}_new")
            o = float("nan") if o is None or pd.isna(o) else float(o)
            n = float("nan") if n is None or pd.isna(n) else float(n)
            if math.isnan(o) and math.isnan(n):
                continue
            boolean = m in ("alerted", "visible", "bad_model_deployed", "final_state_correct")
            ratio = n / o if o and not (math.isnan(o) or math.isnan(n)) else None
            rows.append(
                {
                    **ident,
                    "metric": m,
                    "old": o,
                    "new": n,
                    "ratio": ratio,
                    "mark": _mark(o, n, higher, boolean),
                }
            )
    return pd.DataFrame(rows, columns=[*KEY, "metric", "old", "new", "ratio", "mark"])


def versions(runs: pd.DataFrame) -> str:
    """The system versions a result set ran, e.g. ``airflow: apache-airflow 3.3.2``."""
    if runs.empty:
        return "no runs"
    pairs = runs.dropna(subset=["version"]).groupby("runner")["version"].first()
    return ", ".join(f"{k}: {v}" for k, v in pairs.items()) or "versions not recorded"
