"""Orchestration overhead: our probes and runs beside published figures.

Three sources, each its own definition (``orchbench.overhead``), never mixed in one number:

- ``probe_s_per_task`` of the overhead probes in ``results/overhead/<system>.json`` (the
  windmill-benchmarks method: 40 sequential ``fibo(10)`` tasks and 10 sequential
  ``fibo(33)`` tasks, the system's own timestamps), per profile and shape, with each
  system's own line on what its queued, started and completed times are (``method``);
- ``outside_steps_s_per_attempt`` of our workflow runs (``run.json``): (days-phase wall −
  Σ attempt wall) / attempts, which also counts schedule gaps (cron's clock slots, retry
  delays);
- ``REFERENCE``: figures published by windmill-labs/windmill-benchmarks, with the version,
  setup and where each was read. The Airflow 3.3.1 and Prefect 3.8 figures DESIGN.md
  quoted were dropped (issue 29): no stored source has them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from orchbench.aggregate import spread
from orchbench.overhead import LONG, SHAPES, SHORT
from orchbench.report.tables import completed, three


@dataclass(frozen=True)
class Reference:
    system: str
    version: str
    per_task_ms: float | None
    setup: str
    source: str
    verified: bool
    shape: str = SHORT.name


WINDMILL_METHOD = (
    "windmill-labs/windmill-benchmarks, competitors/README.md (commit 26ff16e, 2025-05-09): "
    "one flow of 40 sequential lightweight tasks each computing fibo(10) (and one of 10 "
    "fibo(33) tasks); each orchestrator started from its recommended docker-compose (Airflow "
    "with CeleryExecutor and Postgres, Prefect with Postgres) on one EC2 instance (t2-medium "
    "in the README, m4-large on windmill.dev); results read by hand from each system's UI or "
    "database. Per task here = total duration / the shape's tasks (40 or 10)."
)

REFERENCE: tuple[Reference, ...] = (
    Reference(
        "Prefect",
        "2.14.4",
        4872 / 40,
        "docker-compose, Postgres; 40 x fibo(10): total 4.87 s",
        "windmill.dev docs, benchmarks/competitors/prefect, 'Fibonacci 40 iterations, n=10' "
        "(read at https://hc-shared-runners.windmilldocs.pages.dev/docs/misc/benchmarks/"
        "competitors/prefect)",
        True,
    ),
    Reference(
        "Airflow",
        "2.7.3",
        54668 / 10,
        "docker-compose of Airflow's docs (CeleryExecutor, Postgres), m4-large; 10 x fibo(33): "
        "task_09 completed 54.7 s after task_00 was created",
        "windmill.dev docs, misc/benchmarks/competitors, 'For 10 long running tasks run "
        "sequentially' (read at https://www.windmill.dev/docs/misc/benchmarks/competitors; "
        "the same total on .../competitors/results/python)",
        True,
        LONG.name,
    ),
)

METHOD_NOTES = (
    "Method differences: our probes follow the windmill method (the same two shapes, the "
    "system's own timestamps, the median of 5 runs after a warm-up) but run on this machine "
    "(cores in the table), each system deployed as its profile deploys it (mostly SQLite, "
    "no Docker, settings in the table) where windmill ran each system's recommended "
    "docker-compose with Postgres on an EC2 instance; the versions differ (both sides are "
    "in the tables). The per-run figures of our workflow include schedule gaps and retry "
    "delays and are not comparable to the probes."
)


def method_table(overhead: pd.DataFrame) -> pd.DataFrame:
    """How each system's probe reads queued, started and completed: its entries' own
    ``method`` line (as ``load_overhead`` read it), one row per system and distinct line,
    with the profiles whose entries carry it; an entry without one shows as such."""
    if overhead.empty:
        return pd.DataFrame()
    rows = []
    frame = overhead if "method" in overhead else overhead.assign(method=None)
    for system, g in frame.groupby("system", sort=True):
        lines: dict[str, list[str]] = {}
        for prof, method in zip(g["profile"], g["method"], strict=True):
            text = method if isinstance(method, str) and method.strip() else "(no method recorded)"
            profiles = lines.setdefault(text.strip(), [])
            if prof not in profiles:
                profiles.append(prof)
        for text, profiles in lines.items():
            rows.append({"system": system, "profiles": ", ".join(profiles), "method": text})
    return pd.DataFrame(rows)


def probes_table(overhead: pd.DataFrame) -> pd.DataFrame:
    """The probes, one row per system x profile x shape, in ms per task; cv is the
    coefficient of variation of the run totals (``orchbench.overhead.probe_summary``)."""
    if overhead.empty:
        return overhead
    out = overhead.assign(
        probe_ms_per_task=(overhead["probe_s_per_task"] * 1000).map(three),
        total_s=overhead.apply(
            lambda r: (
                f"{three(r['median_total_s'])} "
                f"({three(r['min_total_s'])}–{three(r['max_total_s'])})"
            ),
            axis=1,
        ),
        settings=overhead["settings"].map(
            lambda s: ", ".join(f"{k}={v}" for k, v in s.items()) or "defaults"
        ),
    )
    if "shape" not in out:  # frames built before the shapes
        out["shape"] = SHORT.name
    cv = out["cv_total"] if "cv_total" in out else pd.Series(None, index=out.index)
    out["cv"] = cv.map(lambda v: "–" if v is None or pd.isna(v) else f"{v:.2f}")
    out = out.sort_values(["system", "profile", "shape"], key=_shape_order)
    columns = ["system", "profile", "shape", "version", "tasks", "runs", "probe_ms_per_task"]
    columns += ["total_s", "cv", "settings", "cores", "measured_at"]
    return out[columns]


def _shape_order(col: pd.Series) -> pd.Series:
    """The short shape before the long one; other columns sort as they are."""
    if col.name != "shape":
        return col
    return col.map(lambda s: list(SHAPES).index(s) if s in SHAPES else len(SHAPES))


def runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Median (min–max) and cv of ``outside_steps_s_per_attempt`` of completed runs per
    runner x profile, in ms."""
    if runs.empty:
        return pd.DataFrame()
    ok = completed(runs)
    if ok.empty or "outside_steps_s_per_attempt" not in ok:
        return pd.DataFrame()
    rows = []
    for (runner, prof), g in ok.groupby(["runner", "profile"], sort=True):
        s = spread(pd.to_numeric(g["outside_steps_s_per_attempt"], errors="coerce") * 1000)
        if s is None:
            continue
        text = three(s.median)
        if s.varies:
            text += f" ({three(s.min)}–{three(s.max)})"
        version = g["version"].dropna()
        rows.append(
            {
                "runner": runner,
                "profile": prof,
                "version": version.iloc[0] if len(version) else None,
                "runs": s.n,
                "ms per attempt": text,
                "cv": "–" if s.cv is None else f"{s.cv:.2f}",
            }
        )
    return pd.DataFrame(rows)


def reference_table() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "system": r.system,
                "version": r.version,
                "shape": r.shape,
                "ms per task": "–" if r.per_task_ms is None else three(r.per_task_ms),
                "setup": r.setup,
                "source": r.source,
                "verified at source": "yes" if r.verified else "no",
            }
            for r in REFERENCE
        ]
    )
