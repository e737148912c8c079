"""What each system's scheduler did, one row per runner and profile, from run.json alone.

Only runs whose dates a scheduler fired count (env.json ``clock.fired_by`` is not the
harness): the runs of missed_days and backfill_transient for the catch-up columns, a
late_data run for the late partition, a scheduler_crash run for the task in flight. The
figures are ``orchbench.scheduling``'s; this module only pools them.
"""

from __future__ import annotations

import pandas as pd

from orchbench.report.capability import columns
from orchbench.report.tables import completed, duration, fmt, seconds

HEADER = [
    "runner",
    "fired by",
    "missed dates produced without intervention",
    "in date order",
    "catch-up wall (production)",
    "dates run twice",
    "interventions",
    "late partition: day completed without intervention",
    "late partition: extra wait (production)",
    "scheduler killed: the task in flight",
]


def _num(df: pd.DataFrame, key: str) -> pd.Series:
    """``df[key]`` as numbers, on ``df``'s index (all NaN when no run has the column, so
    it still selects rows of ``df``)."""
    return pd.to_numeric(df.get(key, pd.Series(index=df.index, dtype=float)), errors="coerce")


def _wall(df: pd.DataFrame, real: str, prod: str) -> str:
    r, p = _num(df, real).dropna(), _num(df, prod).dropna()
    if r.empty:
        return "–"
    real = fmt(r, seconds)
    return f"{real} s ({duration(float(p.median()))})" if not p.empty else f"{real} s"


def scheduler_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per runner column (``capability.columns``) with a scheduler-fired run."""
    ok = completed(runs)
    if ok.empty or "fired_by" not in ok:
        return pd.DataFrame(columns=HEADER)
    ok = ok[ok["fired_by"].fillna("harness") != "harness"]
    rows = []
    for col, g in ok.groupby(columns(ok), sort=True):
        missed = g[_num(g, "missed_dates_n") > 0]
        late = g[g.get("late_completed", pd.Series(index=g.index, dtype=object)).notna()]
        crash = g[g.get("in_flight", pd.Series(index=g.index, dtype=object)).notna()]
        n_missed = int(_num(missed, "missed_dates_n").sum())
        n_skipped = int(_num(missed, "skipped_dates_n").sum())
        flights = crash["in_flight"].value_counts() if not crash.empty else pd.Series()
        rows.append(
            {
                "runner": col,
                "fired by": ", ".join(sorted(set(g["fired_by"]))),
                HEADER[2]: f"{n_missed - n_skipped}/{n_missed}" if n_missed else "–",
                HEADER[3]: fmt(missed["backfill_in_order"]) if n_missed else "–",
                HEADER[4]: _wall(missed, "catchup_s", "catchup_production_s"),
                HEADER[5]: fmt(_num(missed, "duplicate_dates_n")) if n_missed else "–",
                HEADER[6]: fmt(_num(missed, "human_actions")) if n_missed else "–",
                HEADER[7]: fmt(late["late_completed"]) if not late.empty else "–",
                HEADER[8]: _wall(late, "late_extra_s", "late_extra_production_s"),
                HEADER[9]: ", ".join(f"{k} ×{v}" for k, v in flights.items()) or "–",
            }
        )
    return pd.DataFrame(rows, columns=HEADER)
