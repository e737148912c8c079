"""Gantt timelines of one scenario: one panel per runner, drawn from the journal only.

Each step attempt is a bar on its (logical date, step) row, coloured by status; attempts
that ran on another day's data (stale) are hatched ``///`` and attempts on faulty data
(tainted) ``..``. Vertical lines mark the fault's activation, the first failure the
system's own view showed (activation + ``visible_s`` from ``run.json``), alerts that
reached a human, the fix and the end of recovery; triangles mark each command an operator typed.
The x axis is real seconds from the run's start (cron runs on a sped-up fake clock: see
the report's threats to validity).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from orchbench.report.load import load_attempts, load_events
from orchbench.report.plots import to_png
from orchbench.workflow.spec import STEP_NAMES

STATUS_COLOURS = {"success": "#43a047", "failed": "#e53935", "killed": "#fb8c00"}
MARKERS = {  # kind -> (colour, linestyle, legend label)
    "fault": ("#b71c1c", "--", "fault activated"),
    "visible": ("#6a1b9a", "-", "failure visible in the system's view"),
    "alert": ("#6a1b9a", ":", "alert reached a human"),
    "fix": ("#1565c0", "--", "fix applied"),
    "recovery_finished": ("#2e7d32", "-.", "recovery finished"),
}


def pick_runs(runs: pd.DataFrame, scenario: str) -> pd.DataFrame:
    """One run per runner for a scenario: the latest completed default-profile run, else
    the latest run of any status (so a timeout still gets its timeline)."""
    g = runs[runs["scenario"] == scenario].copy()
    if g.empty:
        return g
    g["_ok"] = g["status"] == "completed"
    g["_default"] = g["profile"] == "default"
    g = g.sort_values(["runner", "_default", "_ok", "run_id"])
    return g.groupby("runner").tail(1).drop(columns=["_ok", "_default"])


def _draw(ax: plt.Axes, run_dir: str, title: str) -> None:
    att = load_attempts(run_dir)
    ev = load_events(run_dir)
    if att.empty:
        ax.text(0.5, 0.5, "no step ran", transform=ax.transAxes, ha="center")
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_yticks([])
        return
    order = {s: i for i, s in enumerate(STEP_NAMES)}
    keys = sorted(
        {(d, s) for d, s in zip(att["logical_date"], att["step"], strict=True)},
        key=lambda k: (k[0], order.get(k[1], 99)),
    )
    row = {k: i for i, k in enumerate(keys)}
    t_end = max([*att["start_s"], *att["end_s"].dropna(), *ev["t_s"]]) if len(ev) else None
    t_end = t_end if t_end is not None else float(att["start_s"].max())
    min_w = max(t_end, 1.0) / 400  # instant attempts stay visible
    for a in att.itertuples():
        end = a.end_s if not (a.end_s is None or math.isnan(a.end_s)) else t_end
        hatch = "///" if a.stale else ".." if a.tainted else None
        ax.barh(
            row[(a.logical_date, a.step)],
            max(end - a.start_s, min_w),
            left=a.start_s,
            height=0.7,
            color=STATUS_COLOURS.get(a.status, "#9e9e9e"),
            edgecolor="black" if hatch else "none",
            linewidth=0.3,
            hatch=hatch,
        )
        if a.stale or a.tainted:
            ax.text(
                end + min_w * 3,
                row[(a.logical_date, a.step)],
                "stale input" if a.stale else "tainted",
                va="center",
                fontsize=6,
                color="#b71c1c",
            )
    for e in ev.itertuples():
        if e.kind in MARKERS:
            colour, style, _ = MARKERS[e.kind]
            ax.axvline(e.t_s, color=colour, linestyle=style, linewidth=1.4)
        elif e.kind == "operator":
            ax.plot(e.t_s, -0.9, marker="v", color="black", markersize=5, clip_on=False)
    told = ev["kind"].isin(["visible", "alert"]).any()
    if (ev["kind"] == "fault").any() and not told:
        ax.text(
            0.99,
            0.02,
            "nothing visible, no alert: nobody was told",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=8,
            color="#b71c1c",
            fontweight="bold",
        )
    ax.set_yticks(range(len(keys)), [f"{d[5:]} {s}" for d, s in keys], fontsize=6)
    ax.set_ylim(len(keys) - 0.4, -1.3)
    ax.set_xlim(left=min(0.0, float(att["start_s"].min())))
    ax.set_title(title, fontsize=9, loc="left")
    ax.grid(axis="x", alpha=0.3)


def legend_handles() -> list[Patch | Line2D]:
    handles: list[Patch | Line2D] = [
        Patch(facecolor=c, label=f"attempt {s}") for s, c in STATUS_COLOURS.items()
    ]
    handles.append(Patch(facecolor="white", edgecolor="black", hatch="///", label="stale input"))
    handles.append(Patch(facecolor="white", edgecolor="black", hatch="..", label="tainted input"))
    handles += [
        Line2D([0], [0], color=c, linestyle=ls, label=lab) for c, ls, lab in MARKERS.values()
    ]
    handles.append(
        Line2D([0], [0], marker="v", color="black", linestyle="none", label="operator command")
    )
    return handles


def timeline_png(runs: pd.DataFrame, scenario: str) -> bytes | None:
    """The scenario's timelines (one panel per runner) as PNG bytes; None without runs."""
    picked = pick_runs(runs, scenario)
    picked = picked[[(Path(d) / "journal.jsonl").exists() for d in picked["run_dir"]]]
    if picked.empty:
        return None
    n = len(picked)
    heights = [1.2 + 0.11 * max(len(load_attempts(d)), 7) for d in picked["run_dir"]]
    fig, axes = plt.subplots(
        n, 1, figsize=(11, sum(heights) + 1.2), gridspec_kw={"height_ratios": heights}
    )
    axes = [axes] if n == 1 else list(axes)
    for ax, r in zip(axes, picked.itertuples(), strict=True):
        label = f"{r.runner} ({r.profile}) — run {r.run_id} — {r.status}"
        _draw(ax, r.run_dir, label)
    axes[-1].set_xlabel("seconds since the run started (real time)")
    fig.suptitle(f"{scenario}: what happened, attempt by attempt", fontsize=11)
    fig.legend(handles=legend_handles(), loc="lower center", ncol=6, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    return to_png(fig)
