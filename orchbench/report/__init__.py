"""``orchbench report``: tables built from run directories only (never re-computing metrics).

Writes ``report.md``, ``index.html``, ``summary.csv`` (median/min/max per scenario x
runner x profile) and ``runs.csv`` (one row per run). A run that did not complete shows
its status instead of numbers; a runner with no run for a scenario shows "not run".
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from orchbench.report.load import load_runs

HEADLINE = [
    ("detected", "detected"),
    ("detection_s", "detection s"),
    ("stale_executions", "stale execs"),
    ("wasted_cpu_s", "wasted CPU s"),
    ("rerun_ratio", "rerun ratio"),
    ("human_actions", "human actions"),
    ("bad_model_deployed", "bad model deployed"),
    ("final_state_correct", "final state correct"),
    ("lineage_completeness", "lineage"),
    ("total_wall_s", "wall s"),
]


def _fmt(values: pd.Series) -> str:
    vals = values.dropna()
    if vals.empty:
        return "–"
    if vals.dtype == bool or all(isinstance(v, bool) for v in vals):
        yes = int(sum(bool(v) for v in vals))
        return "yes" if yes == len(vals) else "no" if yes == 0 else f"{yes}/{len(vals)} yes"
    nums = pd.to_numeric(vals, errors="coerce").dropna()
    if nums.empty:
        return "–"
    med = nums.median()
    text = f"{med:.3g}"
    if len(nums) > 1 and nums.min() != nums.max():
        text += f" ({nums.min():.3g}–{nums.max():.3g})"
    return text


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per scenario x runner x profile: medians (min–max) of completed runs."""
    rows = []
    for (scen, runner, prof), g in runs.groupby(["scenario", "runner", "profile"], sort=True):
        ok = g[g["status"] == "completed"]
        row = {"scenario": scen, "runner": runner, "profile": prof, "runs": len(g)}
        row["completed"] = len(ok)
        others = g[g["status"] != "completed"]
        row["not_completed"] = "; ".join(
            f"{s}: {r}" for s, r in zip(others["status"], others["reason"], strict=True)
        )
        for key, _ in HEADLINE:
            row[key] = _fmt(ok[key]) if key in ok else "–"
        rows.append(row)
    return pd.DataFrame(rows)


def _markdown(summary: pd.DataFrame, runs: pd.DataFrame, env: dict) -> str:
    lines = ["# orchbench report", ""]
    lines.append(
        f"{len(runs)} runs, {runs['scenario'].nunique()} scenarios, "
        f"runners: {', '.join(sorted(runs['runner'].unique()))}. "
        "Medians over repeats (min–max when they differ); only completed runs give numbers."
    )
    if env:
        m = env.get("machine", {})
        lines += [
            "",
            f"Machine: {m.get('cores')} cores, {m.get('memory_gib')} GiB, "
            f"{m.get('cpu')}; Python {env.get('python')}.",
        ]
    all_runners = sorted(runs["runner"].unique())
    for scen, g in summary.groupby("scenario", sort=True):
        lines += ["", f"## {scen}", ""]
        header = ["runner", "profile", "runs"] + [label for _, label in HEADLINE]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for _, r in g.iterrows():
            if r["completed"] == 0:
                cells = [r["runner"], r["profile"], str(r["runs"]), f"**{r['not_completed']}**"]
                cells += [""] * (len(header) - len(cells))
            else:
                cells = [r["runner"], r["profile"], f"{r['completed']}/{r['runs']}"]
                cells += [str(r[k]) for k, _ in HEADLINE]
            lines.append("| " + " | ".join(cells) + " |")
        for missing in sorted(set(all_runners) - set(g["runner"])):
            lines.append(f"| {missing} | | not run |" + " |" * (len(header) - 3))
    lines += ["", "Run directories behind every number: `runs.csv` (column `run_dir`).", ""]
    return "\n".join(lines)


def build_report(results: Path, out: Path) -> Path:
    runs = load_runs(results)
    out.mkdir(parents=True, exist_ok=True)
    if runs.empty:
        (out / "report.md").write_text("# orchbench report\n\nNo runs found.\n")
    else:
        summary = summarize(runs)
        summary.to_csv(out / "summary.csv", index=False)
        runs.to_csv(out / "runs.csv", index=False)
        env = {}
        first = Path(runs["run_dir"].iloc[0]) / "env.json"
        if first.exists():
            env = json.loads(first.read_text())
        (out / "report.md").write_text(_markdown(summary, runs, env))
    md = (out / "report.md").read_text()
    (out / "index.html").write_text(
        "<!doctype html><meta charset=utf-8><title>orchbench report</title>"
        f"<pre>{html.escape(md)}</pre>\n"
    )
    return out
