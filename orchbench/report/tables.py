"""Tables built from the loaded runs: per-scenario summaries and the headline table.

Only completed runs give numbers; a run that timed out, hit a harness error or was not
applicable shows its status and reason instead. Values are medians over repeats with
min–max when they differ (``orchbench.aggregate``); booleans show ``yes``/``no`` or
``k/n yes``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd

from orchbench.aggregate import median, spread

# Who was told and when: first in every table (orchbench/signals.py).
TOLD = [
    ("alerted", "alerted"),
    ("alert_s", "alert s"),
    ("alert_production_s", "alert (production)"),
    ("visible", "visible"),
    ("visible_s", "visible s"),
    ("misreported_attempts", "misreported"),
]

HEADLINE = [
    *TOLD,
    ("stale_executions", "stale execs"),
    ("wasted_cpu_s", "wasted CPU s"),
    ("rerun_cost_ratio", "rerun cost ratio"),
    ("human_actions", "interventions"),
    ("operator_commands", "commands"),
    ("bad_model_deployed", "bad model deployed"),
    ("final_state_correct", "final state correct"),
    ("lineage_native", "lineage native"),
    ("lineage_practiced", "lineage practiced"),
    ("total_wall_s", "wall s"),
]

# The headline: the metrics a reader chooses a tool by, over the scenarios with faults.
HEADLINE_METRICS = [
    *TOLD,
    ("wasted_cpu_s", "wasted CPU s"),
    ("rerun_cpu_s", "rerun CPU s"),
    ("rerun_cost_ratio", "rerun cost ratio"),
    ("human_actions", "interventions"),
    ("operator_commands", "commands"),
    ("bad_model_deployed", "bad model deployed"),
    ("lineage_native", "lineage native"),
    ("lineage_practiced", "lineage practiced"),
]


def duration(seconds: float) -> str:
    """Production-clock seconds as people say them: ``45 s``, ``12 min``, ``3 h 10 min``,
    ``2 d 4 h``."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(s // 3600, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def three(value: float) -> str:
    """``value`` to three significant digits at most, never in e-notation: ``0.00183``,
    ``4.64``, ``29.7``, ``376``, ``1130`` (the exact values stay in the CSV files)."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    places = 2 - math.floor(math.log10(abs(value)))
    text = f"{round(value, places):.{max(places, 0)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def seconds(value: float) -> str:
    """Real seconds as a reader scans them in a column headed "s": ``<0.01``, ``0.03``,
    ``4.64``, ``15``, ``29.7``, ``376``, ``1130``: two decimals at most, three
    significant digits at most."""
    a = abs(value)
    if 0 < a < 0.005:
        return "<0.01" if value > 0 else ">-0.01"
    return three(float(f"{value:.2f}"))


def cell(runs: pd.DataFrame, key: str) -> str:
    """``fmt`` of one metric over some runs, with production-clock times as durations, and
    ``no central view`` for the visibility of a system whose runs say it has none."""
    no_view = "central_view" in runs and not runs.empty and (runs["central_view"] == "").all()
    if key in VIEW_KEYS and no_view:
        return NO_VIEW
    if key not in runs:
        return "–"
    if key in PRODUCTION_KEYS:
        s = spread(pd.to_numeric(runs[key].dropna(), errors="coerce"))
        if s is None:
            return "–"
        text = duration(s.median)
        return text + (f" ({duration(s.min)}–{duration(s.max)})" if s.varies else "")
    return fmt(runs[key], seconds if key.endswith("_s") else None)


def is_bool_series(vals: pd.Series) -> bool:
    return len(vals) > 0 and all(isinstance(v, bool) for v in vals)


def fmt(values: pd.Series, number: Callable[[float], str] | None = None) -> str:
    """Median (min–max) of numbers (each shown by ``number``, default three significant
    digits); ``yes``/``no``/``k/n yes`` of booleans; ``–`` if none."""
    vals = values.dropna()
    if vals.empty:
        return "–"
    if vals.dtype == bool or is_bool_series(vals):
        yes = int(sum(bool(v) for v in vals))
        return "yes" if yes == len(vals) else "no" if yes == 0 else f"{yes}/{len(vals)} yes"
    s = spread(pd.to_numeric(vals, errors="coerce"))
    if s is None:
        return "–"
    show = number or three
    text = show(s.median)
    if s.varies:
        text += f" ({show(s.min)}–{show(s.max)})"
    return text


def completed(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "completed"]


def not_completed_text(g: pd.DataFrame) -> str:
    others = g[g["status"] != "completed"]
    return "; ".join(
        f"{s}: {r}" for s, r in zip(others["status"], others["reason"].fillna(""), strict=True)
    )


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per scenario x runner x profile: medians (min–max) of completed runs."""
    rows = []
    for (scen, runner, prof), g in runs.groupby(["scenario", "runner", "profile"], sort=True):
        ok = completed(g)
        row = {"scenario": scen, "runner": runner, "profile": prof, "runs": len(g)}
        row["completed"] = len(ok)
        row["not_completed"] = not_completed_text(g)
        for key, _ in HEADLINE:
            row[key] = cell(ok, key)
        rows.append(row)
    return pd.DataFrame(rows)


def headline(runs: pd.DataFrame) -> pd.DataFrame:
    """Runner x profile over every completed run of a scenario with a fault.

    A cell pools the runs of all fault scenarios (each scenario counts once per repeat),
    so it answers "across the faults we tried"; the per-scenario tables give the detail.
    ``runs`` counts completed/all runs of those scenarios. Detection pools only the runs
    where a fault took effect (``faults_activated`` > 0): a fault the system's design
    kept from happening (an ``env_mismatch`` a step's own image satisfied) has nothing to
    detect.
    """
    faulty = runs[runs["scenario"].isin(_fault_scenarios(runs))]
    rows = []
    for (runner, prof), g in faulty.groupby(["runner", "profile"], sort=True):
        ok = completed(g)
        row = {
            "runner": runner,
            "profile": prof,
            "runs": f"{len(ok)}/{len(g)}",
            "scenarios": g["scenario"].nunique(),
        }
        for key, label in HEADLINE_METRICS:
            src = _activated(ok) if key in DETECTION_KEYS else ok
            row[label] = cell(src, key) if not src.empty else "–"
        rows.append(row)
    return pd.DataFrame(rows)


# pooled only over runs where a fault took effect (nothing to tell about otherwise)
DETECTION_KEYS = (
    "alerted",
    "alert_s",
    "alert_production_s",
    "visible",
    "visible_s",
    "visible_production_s",
)
# shown as "no central view" for a runner whose system has none (env.json's central_view)
VIEW_KEYS = ("visible", "visible_s", "visible_production_s")
PRODUCTION_KEYS = ("alert_production_s", "visible_production_s", "rerun_wall_production_s")
NO_VIEW = "no central view"


def _activated(ok: pd.DataFrame) -> pd.DataFrame:
    """Runs where a fault took effect (all runs if they predate ``faults_activated``)."""
    if "faults_activated" not in ok:
        return ok
    return ok[pd.to_numeric(ok["faults_activated"], errors="coerce").fillna(1) > 0]


def _fault_scenarios(runs: pd.DataFrame) -> set[str]:
    """Scenarios that inject at least one fault (read from each run's scenario copy)."""
    return set(runs.loc[runs["faults"].fillna(0) > 0, "scenario"])


def numeric_median(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Scenario x runner/profile matrix of the metric's median over completed runs
    (``orchbench.aggregate``: booleans count as 1 or 0). NaN where no completed run has it."""
    ok = completed(runs).copy()
    if metric not in ok or ok.empty:
        return pd.DataFrame()
    ok["column"] = column_names(ok)
    vals = ok[metric].map(lambda v: float(v) if isinstance(v, (bool, int, float)) else None)
    ok = ok.assign(value=pd.to_numeric(vals, errors="coerce"))
    table = ok.pivot_table(index="scenario", columns="column", values="value", aggfunc=median)
    cols = sorted(set(column_names(runs)))
    scen = sorted(runs["scenario"].unique())
    return table.reindex(index=scen, columns=cols)


def column_names(runs: pd.DataFrame) -> pd.Series:
    """``runner`` when every run is on the default profile, else ``runner/profile``."""
    if set(runs["profile"]) <= {"default"}:
        return runs["runner"]
    return runs["runner"] + "/" + runs["profile"]


def status_matrix(runs: pd.DataFrame) -> pd.DataFrame:
    """Scenario x runner/profile: ``completed`` if any run completed, else the statuses."""
    r = runs.assign(column=column_names(runs))
    out = r.groupby(["scenario", "column"])["status"].agg(
        lambda s: "completed" if (s == "completed").any() else "/".join(sorted(set(s)))
    )
    return out.unstack()


DEPLOYMENT_METRICS = [
    ("total_wall_s", "wall s"),
    ("outside_steps_s_per_attempt", "outside steps s/attempt"),
    ("alerted", "alerted"),
    ("alert_s", "alert s"),
    ("visible", "visible"),
    ("recovered", "recovered"),
    ("human_actions", "interventions"),
    ("bad_model_deployed", "bad model deployed"),
    ("final_state_correct", "final state correct"),
]


def deployments(runs: pd.DataFrame) -> pd.DataFrame:
    """For every runner benched under more than one profile (e.g. Airflow's SQLite +
    LocalExecutor ``default`` and its PostgreSQL + Celery ``celery``): one row per profile
    over only the scenarios *every* one of its profiles completed, so the rows differ by
    deployment alone. Empty when no runner has two profiles with a scenario in common."""
    ok = completed(runs)
    rows = []
    for runner, g in ok.groupby("runner", sort=True):
        profiles = sorted(g["profile"].unique())
        if len(profiles) < 2:
            continue
        common = set.intersection(*(set(g.loc[g["profile"] == p, "scenario"]) for p in profiles))
        if not common:
            continue
        for prof in profiles:
            sub = g[(g["profile"] == prof) & g["scenario"].isin(common)]
            row = {"runner": runner, "profile": prof, "scenarios": len(common), "runs": len(sub)}
            for key, label in DEPLOYMENT_METRICS:
                row[label] = cell(sub, key)
            rows.append(row)
    return pd.DataFrame(rows)


# What a run's outcome is, as opposed to its timings: the columns repeats should agree on.
OUTCOMES = (
    "alerted",
    "visible",
    "recovered",
    "final_state_correct",
    "bad_model_deployed",
    "human_actions",
    "stale_executions",
    "misreported_attempts",
    "stale_cache_hits",
    "backfilled_dates_n",
    "late_completed",
)


def unstable(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (scenario, runner, profile, outcome column) whose completed repeats
    disagree: the values seen, in run order, and how many runs. Timings are expected to
    differ and are left out; a cell with one run cannot disagree."""
    ok = completed(runs)
    rows = []
    for (scen, runner, prof), g in ok.groupby(["scenario", "runner", "profile"], sort=True):
        if len(g) < 2:
            continue
        g = g.sort_values("started_at")
        for key in OUTCOMES:
            if key not in g:
                continue
            seen = [None if pd.isna(v) else v for v in g[key]]
            if len({str(v) for v in seen}) > 1:
                rows.append(
                    {
                        "scenario": scen,
                        "runner": runner,
                        "profile": prof,
                        "outcome": key,
                        "values": ", ".join("–" if v is None else str(v) for v in seen),
                        "runs": len(g),
                    }
                )
    return pd.DataFrame(rows)
