"""The one loader of results: every published run directory as a row of a DataFrame."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from orchbench.rundir import TMP_PREFIX

ID_COLUMNS = ["scenario", "runner", "system", "profile", "run_id", "status", "reason"]


def load_runs(results: Path) -> pd.DataFrame:
    """One row per run: identity columns, every metric, and the run directory."""
    rows = []
    for run_json in sorted(Path(results).glob("*/*/*/run.json")):
        if run_json.parent.name.startswith(TMP_PREFIX):
            continue
        try:
            run = json.loads(run_json.read_text())
        except ValueError:
            continue
        row = {k: run.get(k) for k in ID_COLUMNS}
        metrics = run.get("metrics") or {}
        for k, v in metrics.items():
            if k == "lineage_by_fact":
                for fact, frac in (v or {}).items():
                    row[f"lineage.{fact}"] = frac
            elif not isinstance(v, (list, dict)):
                row[k] = v
        row["run_dir"] = str(run_json.parent)
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else [*ID_COLUMNS, "run_dir"])
