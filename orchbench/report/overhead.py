"""Orchestration overhead: our probes and runs beside published figures.

Three sources, each its own definition (``orchbench.overhead``), never mixed in one number:

- ``probe_s_per_task`` of the overhead probes in ``results/overhead/<system>.json`` (the
  windmill-benchmarks method: 40 sequential ``fibo(10)`` tasks, the system's own
  timestamps), per profile;
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
from orchbench.overhead import SHAPES, SHORT
from orchbench.report.tables import completed, three


@dataclass(frozen=True)
class Reference:
    system: str
    version: str
    per_task_ms: float | None
    setup: str
    source: str
    verified: bool


WINDMILL_METHOD = (
    "windmill-labs/windmill-benchmarks, competitors/README.md (commit 26ff16e, 2025-05-09): "
    "one flow of 40 sequential lightweight tasks each computing fibo(10) (and one of 10 "
    "fibo(33) tasks); each orchestrator started from its recommended docker-compose (Airflow "
    "with CeleryExecutor and Postgres, Prefect with Postgres) on one EC2 instance (t2-medium "
    "in the README, m4-large on windmill.dev); results read by hand from each system's UI or "
    "database. Per task here = total duration / 40."
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
)

METHOD_NOTES = (
    "Method differences: our probe follows the windmill method (40 sequential fibo(10) "
    "tasks, the system's own timestamps, median of 5 runs after a warm-up) but runs on this "
    "machine with SQLite and LocalExecutor (Airflow) instead of Postgres and Celery in "
    "Docker; the per-run figures of our workflow include schedule gaps and retry delays and "
    "are not comparable to the probes; published figures come from other hardware and "
    "versions."
)


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
                "ms per task": "–" if r.per_task_ms is None else three(r.per_task_ms),
                "setup": r.setup,
                "source": r.source,
                "verified at source": "yes" if r.verified else "no",
            }
            for r in REFERENCE
        ]
    )
