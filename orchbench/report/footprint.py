"""Operating cost: what each system costs to run, as ``orchbench footprint`` measured it
(figures: ``orchbench.footprint``)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from orchbench.report.tables import three

METHOD = (
    "One run of the clean workflow for one date per runner x profile (`make footprint`), "
    "with every process the harness started sampled once a second from /proc. Cold start: "
    "the harness starting the system to the workflow deployed and answering (each adapter "
    "waits for its system's health check). Idle: the processes, their RSS, PSS (shared "
    "pages split between sharers, so it adds up) and CPU (% of one core) over a window of "
    "nothing between start and the date. One day: the date due to its last step's end, and "
    "that minus the steps' own wall (what the system adds to 7 steps, a schedule's slack "
    "included), and the most processes and PSS of a sample in it. A daemon the harness "
    "starts per date (on a faked clock) is not idle anywhere: it shows only in the day "
    "columns. Install: the "
    "runner's venv plus the Debian packages it needs; every venv also holds the workflow's "
    "own packages (the step code's pandas, scikit-learn and the rest), so the differences "
    "between rows are the systems'. Authored: non-blank, non-comment "
    "lines of the pipeline's definition and recovery scripts (not our adapter)."
)


def _mb(v: Any) -> str:
    return "–" if v is None or v != v else three(v)


def table(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per runner x profile."""
    if cells.empty:
        return cells
    rows = []
    for _, c in cells.sort_values(["runner", "profile"]).iterrows():
        packages = c.get("system_packages_mb") or {}
        apt = sum(v for v in packages.values() if v) if packages else None
        rows.append(
            {
                "runner": c["runner"],
                "profile": c["profile"],
                "version": c.get("system_version") or "–",
                "cold start s": _mb(c.get("cold_start_s")),
                "idle processes": c.get("idle_processes"),
                "idle RSS MB": _mb(c.get("idle_rss_mb")),
                "idle PSS MB": _mb(c.get("idle_pss_mb")),
                "idle CPU %": _mb(c.get("idle_cpu_pct")),
                "listening": ", ".join(c.get("listening") or []) or "none",
                "one day s (outside steps)": (
                    f"{_mb(c.get('day_wall_s'))} ({_mb(c.get('day_outside_steps_s'))})"
                ),
                "day peak processes, PSS MB": (
                    f"{c.get('day_peak_processes', '–')}, {_mb(c.get('day_peak_pss_mb'))}"
                ),
                "install MB (apt)": f"{_mb(c.get('install_mb'))} ({_mb(apt) if apt else 0})",
                "authored lines": c.get("authored_lines"),
                "concepts": len(c.get("concepts") or []),
                "idle window s": _mb(c.get("idle_window_s")),
            }
        )
    return pd.DataFrame(rows)


def concepts(cells: pd.DataFrame) -> pd.DataFrame:
    """The system concepts each runner's pipeline uses, one row per runner."""
    if cells.empty:
        return cells
    first = cells.sort_values("runner").drop_duplicates("runner")
    return pd.DataFrame(
        [
            {"runner": c["runner"], "concepts": ", ".join(c.get("concepts") or [])}
            for _, c in first.iterrows()
        ]
    )
