"""``orchbench report``: the comparison report, built from run directories only.

Writes into ``out`` (default ``results/report``): ``index.html`` (self-contained: figures
embedded, opens from the file system), ``report.md`` with its PNG figures next to it,
``summary.csv`` (scenario x runner x profile), ``runs.csv`` (one row per run),
``capabilities.csv`` and, with ``compare``, ``compare.csv``. The "Cost growth" section
reads ``results/scale/`` (``orchbench scale``) and is shown even without workflow runs.
Everything is read through ``orchbench.report.load``; no metric is recomputed here.
Files are written under temporary names and renamed, so a failed build leaves the
previous report intact.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from orchbench.report import sections
from orchbench.report.blocks import Block, Image, Para, to_html, to_markdown
from orchbench.report.capability import capability_table
from orchbench.report.compare import compare, versions
from orchbench.report.growth import growth_section
from orchbench.report.load import (
    load_footprint,
    load_overhead,
    load_overhead_unmeasured,
    load_runs,
    load_scale,
)
from orchbench.report.tables import summarize

__all__ = ["build_report"]


def build_blocks(
    runs: pd.DataFrame,
    out: Path,
    overhead_dir: Path,
    old: pd.DataFrame | None = None,
    scale_dir: Path | None = None,
    footprint_dir: Path | None = None,
) -> list[Block]:
    """Every section of the report, in reading order. With no scenario run the measurement
    sections that need none (overhead probes, operating cost, growth) still appear."""
    growth = growth_section(*load_scale(scale_dir)) if scale_dir is not None else []
    cost = (
        sections.footprint_section(load_footprint(footprint_dir))
        if footprint_dir is not None
        else []
    )
    probes = sections.overhead_section(
        runs, load_overhead(overhead_dir), load_overhead_unmeasured(overhead_dir)
    )
    if runs.empty:
        return [*sections.intro(runs)[:1], Para("No runs found."), *probes, *cost, *growth]
    blocks = sections.intro(runs)
    blocks += sections.glance_section(runs, out)
    blocks += sections.headline_section(runs)
    blocks += sections.capability_section(runs, out)
    blocks += sections.scheduler_section(runs)
    blocks += sections.deployments_section(runs)
    blocks += sections.cards_section(runs)
    if old is not None:
        blocks += sections.compare_section(compare(runs, old), versions(runs), versions(old))
    blocks += sections.scenario_sections(runs, out)
    blocks += sections.unstable_section(runs)
    blocks += sections.misreported_section(runs, out)
    blocks += sections.heatmap_section(runs)
    blocks += probes
    blocks += cost
    blocks += growth
    blocks += sections.environment_section(runs)
    blocks += sections.threats_section(runs)
    blocks += sections.files_section()
    return blocks


def _write(path: Path, data: str | bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    if isinstance(data, bytes):
        tmp.write_bytes(data)
    else:
        tmp.write_text(data)
    os.replace(tmp, path)


def _csv(df: pd.DataFrame) -> str:
    return df.to_csv(index=False)


def build_report(
    results: Path,
    out: Path,
    compare_with: Path | None = None,
    overhead_dir: Path | None = None,
    scale_dir: Path | None = None,
    blocks_out: list[Block] | None = None,
) -> Path:
    """Build the report of the runs under ``results`` into ``out``; returns ``out``.

    ``overhead_dir`` defaults to ``<results>/../overhead`` and ``scale_dir`` to
    ``<results>/../scale``; the operating cost is read from ``<results>/../footprint``;
    ``compare_with`` is another results directory to compare against (its runs are the
    "old" side). ``blocks_out`` receives the report's blocks (``orchbench.report.publish``
    renders them again).
    """
    results, out = Path(results), Path(out)
    runs = load_runs(results)
    old = load_runs(compare_with) if compare_with is not None else None
    overhead_dir = overhead_dir or results.parent / "overhead"
    scale_dir = scale_dir or results.parent / "scale"
    blocks = build_blocks(
        runs, out.resolve(), overhead_dir, old, scale_dir, results.parent / "footprint"
    )
    if blocks_out is not None:
        blocks_out.extend(blocks)
    out.mkdir(parents=True, exist_ok=True)  # after every file is read: a refusal writes nothing
    for b in blocks:
        if isinstance(b, Image):
            _write(out / b.name, b.png)
    if not runs.empty:
        _write(out / "summary.csv", _csv(summarize(runs)))
        _write(out / "runs.csv", _csv(runs))
        caps = capability_table(runs)
        rows = [
            {
                "claim": cid,
                "runner": r,
                "verdict": c.verdict,
                "text": c.text,
                "run_dir": c.runs[0] if c.runs else "",
            }
            for cid, cells in caps.items()
            for r, c in cells.items()
        ]
        _write(out / "capabilities.csv", _csv(pd.DataFrame(rows)))
        if old is not None:
            _write(out / "compare.csv", _csv(compare(runs, old)))
    _write(out / "report.md", to_markdown(blocks))
    _write(out / "index.html", to_html(blocks, "orchbench report"))
    return out
