"""The report's "Cost growth" section: per engine, wall time and overhead per task against
the size of the work, with the ideal line, and the fitted growth in words.

Reads only the ``point.json`` files (``orchbench.report.load.load_scale``): the numbers are
the points' own, and the fit of an engine and shape is the one its most recently measured
point recorded (``orchbench.point.latest_growth``); nothing is recomputed here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from orchbench.point import (
    CONSTANT_BELOW,
    LINEAR_BELOW,
    SCHEMA_V1,
    SHAPES,
    Point,
    PointGrowth,
    latest_growth,
    series_dir,
)
from orchbench.report.blocks import Block, Heading, Image, Para, Table
from orchbench.report.load import system_version
from orchbench.report.plots import to_png
from orchbench.report.tables import three

AXIS = {
    "fanout": "N: parallel tasks in one run",
    "backfill": "D: missed days caught up",
    "concurrent": "K: runs started at once",
}
TITLE = {"fanout": "fan-out", "backfill": "backfill", "concurrent": "concurrent runs"}


def by_engine(points: Sequence[Point]) -> dict[str, dict[str, list[Point]]]:
    """engine (``engine/profile`` beside the default profile) -> shape -> points sorted
    by N."""
    out: dict[str, dict[str, list[Point]]] = defaultdict(lambda: defaultdict(list))
    for p in points:
        out[p.series][p.shape].append(p)
    for shapes in out.values():
        for pts in shapes.values():
            pts.sort(key=lambda p: p.n)
    return {e: {k: shapes[k] for k in SHAPES if k in shapes} for e, shapes in out.items()}


NO_FIT = "no fit recorded"  # the class shown for points of a version that recorded none


def _version(pts: list[Point]) -> str:
    record = {"system_version": pts[0].system_version, "versions": pts[0].versions}
    return system_version(record) or "?"


def _classes(fit: PointGrowth | None) -> tuple[str, str]:
    """The growth classes of wall time and total overhead, as the plots title them."""
    return (fit.wall.cls, fit.overhead.cls) if fit is not None else (NO_FIT, NO_FIT)


def growth_png(engine: str, shapes: dict[str, list[Point]]) -> bytes:
    """Two rows per engine: wall time with the ideal line, and overhead per task; one
    column per shape; log N axes."""
    kinds = list(shapes)
    fig, axes = plt.subplots(
        2, len(kinds), figsize=(max(4.2 * len(kinds), 6.5), 6.8), dpi=100, squeeze=False
    )
    first = next(iter(shapes.values()))
    fig.suptitle(
        f"{first[0].system} ({_version(first)}), profile {first[0].profile}: cost growth"
        "\ntask = "
        f"{first[0].task.sleep_s:g} s sleep",
        fontsize=11,
    )
    for j, kind in enumerate(kinds):
        pts = shapes[kind]
        ok = [p for p in pts if p.completed]
        wall_cls, overhead_cls = _classes(latest_growth(pts))
        top, bottom = axes[0][j], axes[1][j]
        ns = [p.n for p in ok]
        if ok:
            top.plot(ns, [p.wall_s for p in ok], "o-", color="#c0392b", label="wall (measured)")
            top.plot(
                ns,
                [p.ideal_s for p in ok],
                "--",
                color="#555555",
                label="ideal = Σ task / parallelism",
            )
            for p in ok:
                if p.min_wall_s != p.max_wall_s:
                    top.vlines(p.n, p.min_wall_s, p.max_wall_s, color="#c0392b")
            bottom.plot(
                ns, [(p.overhead_s_per_task or 0.0) * 1000 for p in ok], "o-", color="#2471a3"
            )
            par = sorted({p.parallelism or 0 for p in ok})
            top.set_title(
                f"{TITLE[kind]}: wall {wall_cls}\nparallelism "
                f"{', '.join(map(str, par)) if len(par) <= 4 else f'{par[0]}–{par[-1]}'}",
                fontsize=9,
            )
        else:
            top.set_title(f"{TITLE[kind]}: no completed point", fontsize=9)
        for p in pts:
            if not p.completed:
                top.annotate(p.status, (p.n, 1), fontsize=7, color="#888888")
        bottom.set_title(f"overhead per task (total overhead {overhead_cls})", fontsize=9)
        for ax in (top, bottom):
            ax.set_xscale("log")
            ax.grid(True, which="both", alpha=0.3)
            ax.set_xticks(ns or [1], [str(n) for n in ns or [1]])
            ax.minorticks_off()
        top.set_yscale("log")
        top.set_ylabel("seconds")
        bottom.set_ylabel("ms per task")
        bottom.set_xlabel(AXIS[kind])
        bottom.axhline(0, color="#999999", linewidth=0.8)
        if j == 0 and ok:
            top.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return to_png(fig)


def _fmt(v: float | None, unit: str = "") -> str:
    return "–" if v is None else f"{three(v)}{unit}"


def _fmt_per_task(seconds: float) -> str:
    """Overhead per task: milliseconds below one second, seconds above."""
    return _fmt(seconds, " s") if abs(seconds) >= 1 else _fmt(seconds * 1000, " ms")


def _source(p: Point, previous: Point | None) -> str:
    """Where the parallelism comes from; "″" when the row above says the same."""
    text = p.parallelism_source
    return "″" if previous is not None and previous.parallelism_source == text else text


def describe_growth(fit: PointGrowth | None) -> str:
    """A recorded fit in words."""
    if fit is None:
        return (
            f"{NO_FIT} (the points were written under {SCHEMA_V1}, before point.json "
            "carried its fit; measure one of them again to record one)"
        )
    w, o = fit.wall, fit.overhead
    if w.slope is None or o.slope is None or fit.per_task_slope is None:
        return "not enough completed points to fit"
    per_task = {
        "roughly constant": "falls as 1/N (a fixed cost, amortised)",
        "linear": "stays roughly constant",
        "worse than linear": "grows with N",
    }[o.cls]
    return (
        f"wall time {w.cls} in N (log-log slope {w.slope:.2f}); total overhead {o.cls} "
        f"(slope {o.slope:.2f}), so overhead per task {per_task} "
        f"(slope {fit.per_task_slope:.2f}); fitted on N = {', '.join(map(str, o.ns))}"
    )


def growth_section(points: Sequence[Point], refused: Sequence[str] = ()) -> list[Block]:
    """The section; ``refused``: one message per point file that could not be read."""
    blocks: list[Block] = [Heading("Cost growth")]
    if refused:
        blocks.append(Para("Point files not shown: " + "; ".join(refused) + "."))
    if not points:
        return [*blocks, Para("No cost-growth point in `results/scale/` (`make bench-scale`).")]
    blocks.append(
        Para(
            "Each point runs n copies of one synthetic task (a fixed sleep that journals its "
            "start and end; `orchbench/scale.py`): `fanout` = one run whose task fans out "
            "into N parallel tasks, `backfill` = D missed days caught up the engine's way, "
            "`concurrent` = K runs started at once. Wall time is from handing the work to "
            "the engine until it shows it done; ideal = Σ task time / parallelism, where "
            "parallelism is what the engine as configured runs at once (source in the "
            "table); overhead per task = (wall − ideal) / tasks. Growth: least-squares slope "
            f"of log(y) on log(N) over the points with N > 1; slope < {CONSTANT_BELOW:g}"
            f" roughly constant, < {LINEAR_BELOW:g} linear, else worse than linear. "
            "Timings are single runs unless min–max is shown; the machine is shared."
        )
    )
    for engine, shapes in by_engine(points).items():
        first = next(iter(shapes.values()))[0]
        blocks.append(Heading(f"{first.system} (`{engine}`)", 3))
        rows: list[list[str]] = []
        for kind, pts in shapes.items():
            for i, p in enumerate(pts):
                if not p.completed:
                    rows.append([kind, str(p.n), f"**{p.status}**: {p.reason}"])
                    rows[-1] += [""] * 5
                    continue
                rows.append(
                    [
                        kind,
                        str(p.n),
                        _fmt(p.wall_s, " s"),
                        _fmt(p.ideal_s, " s"),
                        _fmt_per_task(p.overhead_s_per_task or 0.0),
                        f"{p.parallelism} / {p.observed_parallelism}",
                        _source(p, pts[i - 1] if i else None),
                        str(p.tasks),
                    ]
                )
        blocks.append(
            Table(
                [
                    "shape",
                    "N",
                    "wall",
                    "ideal",
                    "overhead / task",
                    "parallelism declared / observed",
                    "parallelism from",
                    "tasks",
                ],
                rows,  # type: ignore[arg-type]
            )
        )
        for kind, pts in shapes.items():
            words = describe_growth(latest_growth(pts))
            blocks.append(Para(f"- {TITLE[kind]}: {words}."))
        blocks.append(
            Image(
                f"growth_{series_dir(first.engine, first.profile)}.png",
                growth_png(engine, shapes),
                f"{engine}: wall time against N with the ideal line (top), overhead per task "
                "(bottom)",
            )
        )
    return blocks
