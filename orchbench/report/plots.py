"""Heatmaps (scenario x runner), one per metric, drawn with matplotlib to PNG bytes.

Each cell shows its value as text, so the figure reads without the report; cells with no
number say why (``not run``, the run's status, ``no alert``, ``no central view``). Colours
run from good (light) to bad (dark) in the metric's own direction.
"""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from orchbench.report.tables import (
    NO_VIEW,
    column_names,
    completed,
    numeric_median,
    status_matrix,
)

# metric -> (title, unit, higher_is_better)
HEATMAPS: dict[str, tuple[str, str, bool]] = {
    "alert_s": ("Time to alert", "s from fault to a message pushed to a human", False),
    "visible_s": ("Time to visible", "s from fault to the failure in the system's view", False),
    "wasted_cpu_s": ("Wasted CPU", "CPU s thrown away or spent on bad/stale data", False),
    "stale_executions": ("Stale executions", "steps that ran on another day's data", False),
    "rerun_cost_ratio": (
        "Rerun cost ratio",
        "priced re-execution / minimal re-execution (1 = ideal)",
        False,
    ),
    "human_actions": ("Interventions", "operator decisions during recovery", False),
    "bad_model_deployed": ("Bad model deployed", "fraction of runs", False),
    "lineage_native": (
        "Lineage, native",
        "fraction of facts the system records with no lineage code of ours",
        True,
    ),
    "lineage_practiced": (
        "Lineage, practiced",
        "fraction of facts recorded with what its users add (hashes, metadata)",
        True,
    ),
    "total_wall_s": ("Wall time", "s for the whole run", False),
}


def _label(value: float, metric: str) -> str:
    if metric == "bad_model_deployed":
        return "yes" if value >= 1 else "no" if value <= 0 else f"{value:.0%}"
    if metric in ("stale_executions", "human_actions"):
        return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
    return f"{value:.3g}"


def _missing_label(runs: pd.DataFrame, scen: str, col: str, metric: str, status: str) -> str:
    if not isinstance(status, str):
        return "not run"
    if status != "completed":
        return status.replace("_", " ")
    flag = {"alert_s": "alerted", "visible_s": "visible"}.get(metric)
    if flag:
        ok = completed(runs)
        ok = ok[(ok["scenario"] == scen) & (column_names(ok) == col)]
        if not (ok["faults"].fillna(0) > 0).any():
            return "no fault"
        if flag == "visible" and "central_view" in ok and (ok["central_view"] == "").all():
            return NO_VIEW
        if flag in ok and not ok[flag].fillna(False).astype(bool).any():
            return "no alert" if flag == "alerted" else "not visible"
    return "–"


def heatmap_png(runs: pd.DataFrame, metric: str) -> bytes | None:
    """The metric's heatmap as PNG bytes, or None when no run carries the metric."""
    title, unit, higher_better = HEATMAPS[metric]
    table = numeric_median(runs, metric)
    if table.empty:
        return None
    status = status_matrix(runs).reindex(index=table.index, columns=table.columns)
    fig_w = 1.8 + 1.35 * len(table.columns)
    fig_h = 1.4 + 0.45 * len(table.index)
    fig, ax = plt.subplots(figsize=(max(fig_w, 5.0), max(fig_h, 2.2)), dpi=100)
    cmap = plt.get_cmap("Greens" if higher_better else "OrRd").with_extremes(bad="#eeeeee")
    vals = table.to_numpy(dtype=float)
    finite = [v for v in vals.flat if not math.isnan(v)]
    vmin, vmax = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if vmin == vmax:
        vmin, vmax = vmin - 1, vmax + 1
    ax.imshow(vals, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    for i, scen in enumerate(table.index):
        for j, col in enumerate(table.columns):
            v = vals[i, j]
            if math.isnan(v):
                text = _missing_label(runs, scen, col, metric, status.iloc[i, j])
                ax.text(j, i, text, ha="center", va="center", fontsize=8, color="#555555")
            else:
                dark = (v - vmin) / (vmax - vmin) > 0.6
                ax.text(
                    j,
                    i,
                    _label(v, metric),
                    ha="center",
                    va="center",
                    fontsize=9,
                    color="white" if dark else "black",
                )
    ax.set_xticks(range(len(table.columns)), list(table.columns), rotation=20, ha="right")
    ax.set_yticks(range(len(table.index)), list(table.index))
    ax.set_xlabel("runner")
    ax.set_ylabel("scenario")
    better = "higher is better" if higher_better else "lower is better"
    ax.set_title(f"{title} — {unit}\n(median over completed runs; {better})", fontsize=10)
    fig.tight_layout()
    return to_png(fig)


def to_png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
