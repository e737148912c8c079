"""``orchbench publish``: the report of a full bench as a reference copy people can read
without running anything (``make publish`` writes ``docs/results/``).

The report is built from the runs as ``orchbench report`` builds it (no number is
recomputed), then made fit to commit:

- a stamp opens it: when it was published and by which commit, the bench's commit(s) and
  first and last run as their ``env.json`` and ``run.json`` say, the machine, and where
  the versions are (the Environment section);
- links into run directories become their text (the runs are not published);
- figures are re-encoded as palette PNGs (Pillow, octree, no dithering), at fewer colours
  and a smaller scale in turn (``SHRINK``) until the copy fits, and embedded in ``index.html`` only;
  ``report.md`` names each figure instead of linking a file;
- ``index.html``, ``report.md`` and the CSV files together stay under ``BUDGET`` bytes.

Refused, with one line per problem and nothing written, when a shipped scenario has no
run (not a full bench) or the copy would exceed the budget.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from orchbench.report.blocks import Block, Image, Link, Para, Table, to_html, to_markdown
from orchbench.report.load import load_env, load_runs

BUDGET = 2_000_000  # bytes: index.html, report.md and the CSV files together
# (palette colours, scale) tried in turn until the copy fits
SHRINK = ((64, 1.0), (64, 0.75), (32, 0.75), (32, 0.6), (16, 0.5))
FILES = ("index.html", "report.md", "summary.csv", "runs.csv", "capabilities.csv")


class PublishError(Exception):
    """The copy cannot be published; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def shipped_scenarios(scenarios_dir: Path) -> list[str]:
    return sorted(p.stem for p in scenarios_dir.glob("*.yaml"))


def publish(results: Path, out: Path, scenarios_dir: Path, repo: Path, note: str = "") -> Path:
    """Publish the report of the runs under ``results`` into ``out`` (replaced whole);
    ``note``: what the stamp should add about how the bench ran (e.g. the machine's load)."""
    from orchbench.report import build_report

    runs = load_runs(results)
    problems = [
        f"scenario {s}: no run under {results} (not a full bench)"
        for s in shipped_scenarios(scenarios_dir)
        if runs.empty or s not in set(runs["scenario"])
    ]
    if problems:
        raise PublishError(problems)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".publish-", dir=out.parent) as tmp:
        blocks: list[Block] = []
        built = build_report(results, Path(tmp) / "report", blocks_out=blocks)  # + CSV files
        blocks = [blocks[0], stamp(runs, repo, note), *_unlinked(blocks[1:])]
        staged = Path(tmp) / "published"
        staged.mkdir()
        for colours, scale in SHRINK:
            shown = [_palette(b, colours, scale) if isinstance(b, Image) else b for b in blocks]
            (staged / "index.html").write_text(to_html(shown, "orchbench report"))
            (staged / "report.md").write_text(to_markdown([_named(b) for b in shown]))
            for name in FILES[2:]:
                shutil.copy(built / name, staged / name)
            size = sum((staged / f).stat().st_size for f in FILES)
            if size <= BUDGET:
                break
        else:
            raise PublishError([f"the published copy is {size} bytes, over {BUDGET}"])
        if out.exists():
            shutil.rmtree(out)
        staged.rename(out)
    return out


def stamp(runs: pd.DataFrame, repo: Path, note: str = "") -> Para:
    """Who published this, when, from which bench and on what machine."""
    envs = [load_env(d) for d in runs["run_dir"]]
    commits = sorted({str((e.get("orchbench") or {}).get("git"))[:12] for e in envs if e})
    machine = next((e.get("machine") for e in envs if e.get("machine")), {}) or {}
    started = pd.to_datetime(runs.get("started_at"), errors="coerce", utc=True).dropna()
    span = (
        f"{started.min():%Y-%m-%d %H:%M}–{started.max():%Y-%m-%d %H:%M} UTC"
        if not started.empty
        else "unknown"
    )
    head = _git(repo, "rev-parse", "HEAD")[:12]
    now = datetime.now(UTC)
    return Para(
        f"Published {now:%Y-%m-%d %H:%M} UTC by `make publish` at commit `{head}`. "
        f"Bench: {len(runs)} runs started {span}, harness commit(s) "
        f"{', '.join(f'`{c}`' for c in commits)} (their `env.json`). Machine: "
        f"{machine.get('cores')} cores, {machine.get('memory_gib')} GiB, {machine.get('cpu')}, "
        f"Python {next((e.get('python') for e in envs if e.get('python')), '?')}. Every "
        "system's versions are in the Environment section. Run directories are not "
        "published, so cells that link to a run in a local report are plain text here."
        + (f" Note: {note}" if note else "")
    )


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def _unlinked(blocks: list[Block]) -> list[Block]:
    return [
        replace(b, rows=[[c.text if isinstance(c, Link) else c for c in r] for r in b.rows])
        if isinstance(b, Table)
        else b
        for b in blocks
    ]


def _palette(image: Image, colours: int, scale: float) -> Image:
    from PIL import Image as Pil

    picture = Pil.open(io.BytesIO(image.png)).convert("RGB")
    if scale < 1:
        size = (round(picture.width * scale), round(picture.height * scale))
        picture = picture.resize(size, Pil.Resampling.LANCZOS)
    buf = io.BytesIO()
    # octree without dithering keeps each plotted colour flat: 4-6x smaller than median cut
    # with dithering, whose noise PNG cannot compress (and 16 of those colours lost the
    # success/failure colours of the timelines)
    picture.quantize(colors=colours, method=Pil.Quantize.FASTOCTREE, dither=Pil.Dither.NONE).save(
        buf, "PNG", optimize=True
    )
    return replace(image, png=buf.getvalue())


def _named(block: Block) -> Block:
    if isinstance(block, Image):
        return Para(f"Figure `{block.name}` ({block.alt}): in `index.html`.")
    return block
