"""The README's result tables, printed as Markdown from a results directory.

Every cell is read from the runs' ``run.json`` through ``orchbench.report.load`` and the
report's own capability rules (``orchbench.report.capability``); nothing is typed in.
Columns are the report's (a runner on ``default``, else ``runner/profile``).

Usage: ``python benchmarks/readme_tables.py [RESULTS]`` (default ``results/runs``).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from orchbench.report.capability import capability_table, columns
from orchbench.report.load import load_run_json, load_runs
from orchbench.report.tables import duration, seconds


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join([_row(header), "|" + "---|" * len(header), *map(_row, rows)])


def _yes(v: object) -> bool:
    return not pd.isna(v) and bool(v)  # numpy's bools are not ``True``


def _one(runs: pd.DataFrame, scenario: str, col: str) -> pd.Series | None:
    """The latest completed run of ``scenario`` in column ``col``."""
    mine = runs[(runs["scenario"] == scenario) & (runs["column"] == col)]
    done = mine[mine["status"] == "completed"]
    return None if done.empty else done.sort_values("started_at").iloc[-1]


def _missing(runs: pd.DataFrame, scenario: str, col: str) -> str:
    """What a cell without a completed run says: its status (``not applicable``...)."""
    mine = runs[(runs["scenario"] == scenario) & (runs["column"] == col)]
    return "not run" if mine.empty else str(mine["status"].iloc[-1]).replace("_", " ")


def per_scenario(runs: pd.DataFrame, cols: list[str], cell: Callable[[pd.Series], str]) -> str:
    """A scenario x column table whose cells ``cell`` writes from each latest completed
    run (a cell without one says the run's status)."""
    rows = []
    for scen in sorted(runs["scenario"].unique()):
        row = [scen]
        for col in cols:
            r = _one(runs, scen, col)
            row.append(_missing(runs, scen, col) if r is None else cell(r))
        rows.append(row)
    return _table(["scenario", *cols], rows)


def _told(r: pd.Series) -> str:
    alert = (
        f"alert {seconds(r['alert_s'])} s ({duration(r['alert_production_s'])})"
        if _yes(r["alerted"]) and pd.notna(r["alert_s"])
        else "no alert"
    )
    if not r.get("central_view"):
        seen = "no view"
    elif _yes(r["visible"]) and pd.notna(r["visible_s"]):
        seen = f"seen {seconds(r['visible_s'])} s"
    else:
        seen = "not seen"
    wrong = int(r.get("misreported_attempts") or 0)
    return f"{alert}; {seen}" + (f"; **{wrong} misreported**" if wrong else "")


def told(runs: pd.DataFrame, cols: list[str]) -> str:
    return per_scenario(runs, cols, _told)


def credit(runs: pd.DataFrame, cols: list[str]) -> str:
    rows = []
    for col in cols:
        mine = runs[(runs["column"] == col) & (runs["status"] == "completed")]
        clean, code = _one(runs, "clean", col), _one(runs, "code_change", col)
        lineage = (
            f"{clean['lineage_native']:.2f} / {clean['lineage_practiced']:.2f}"
            if clean is not None
            else "–"
        )
        if code is not None:
            m = load_run_json(code["run_dir"]).get("metrics") or {}
            native = (m.get("lineage_native_by_fact") or {}).get("code_version")
            practiced = (m.get("lineage_by_fact") or {}).get("code_version")
            version = f"{practiced or 0:.2f} / {native or 0:.2f}"
        else:
            version = "–"
        ratios = pd.to_numeric(mine["rerun_cost_ratio"], errors="coerce").dropna()
        ratio = f"{ratios.median():.2f}, {ratios.max():.2f}" if len(ratios) else "–"
        helped: Counter[str] = Counter()
        for c in [c for c in mine.columns if c.startswith("assist.")]:
            helped[c.removeprefix("assist.")] += int((pd.to_numeric(mine[c]).fillna(0) > 0).sum())
        help_text = ", ".join(f"{k}: {v}" for k, v in sorted(helped.items()) if v) or "none"
        rows.append(
            [
                col,
                lineage,
                version,
                f"{int(mine['human_actions'].sum())} / {int(mine['operator_commands'].sum())}",
                ratio,
                help_text,
            ]
        )
    return _table(
        [
            "runner",
            "lineage native / practiced (clean)",
            "`code_version` on code_change (practiced / native)",
            f"interventions / commands (all {runs['scenario'].nunique()})",
            "rerun cost ratio (median, max)",
            "harness help (kinds: runs)",
        ],
        rows,
    )


def _recovered(r: pd.Series) -> str:
    ratio = r["rerun_cost_ratio"]
    text = f"{int(r['human_actions'])} / {int(r['operator_commands'])} · " + (
        f"{ratio:.2f}" if pd.notna(ratio) else "–"
    )
    if r["scenario"] == "stale_cache" and pd.notna(r.get("stale_cache_hits")):
        text += f" · {int(r['stale_cache_hits'])} stale hits"
    return text


def recovery(runs: pd.DataFrame, cols: list[str]) -> str:
    return per_scenario(runs, cols, _recovered)


def capabilities(runs: pd.DataFrame, cols: list[str]) -> str:
    table = capability_table(runs)
    rows = [
        [cid, *(cells[c].verdict if c in cells else "–" for c in cols)]
        for cid, cells in table.items()
    ]
    return _table(["claim", *cols], rows)


def main(argv: list[str]) -> int:
    results = Path(argv[0] if argv else "results/runs")
    runs = load_runs(results)
    if runs.empty:
        print(f"no runs under {results}", file=sys.stderr)
        return 1
    runs = runs.assign(column=columns(runs))
    cols = sorted(runs["column"].unique())
    done = runs[runs["status"] == "completed"]
    print(f"{len(runs)} runs ({len(done)} completed), {runs['scenario'].nunique()} scenarios,")
    print(f"started {runs['started_at'].min()} to {runs['started_at'].max()}\n")
    for title, make in (
        ("Who was told", told),
        ("Credit", credit),
        ("Recovery: interventions / commands · rerun cost ratio", recovery),
        ("Capability matrix (verdicts)", capabilities),
    ):
        print(f"### {title}\n\n{make(runs, cols)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
