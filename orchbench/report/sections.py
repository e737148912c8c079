"""The report's sections, each a list of blocks built from the loaded runs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from orchbench.card import ASPECTS, NOT_DECLARED
from orchbench.claims import CLAIMS, Claim
from orchbench.report import capability, overhead
from orchbench.report import footprint as footprint_table
from orchbench.report.blocks import Block, Heading, Image, Link, Para, Table
from orchbench.report.load import ASSIST_PREFIX, load_env, load_run_json, system_version
from orchbench.report.plots import HEATMAPS, heatmap_png
from orchbench.report.scheduler import scheduler_table
from orchbench.report.tables import (
    HEADLINE,
    completed,
    deployments,
    headline,
    summarize,
    three,
    unstable,
)
from orchbench.report.timeline import timeline_png

VERDICT_CLASS = {"yes": "yes", "no": "no", "partial": "partial", capability.ASSISTED: "assisted"}
VERDICT_CLASS |= {capability.NOT_MEASURED: "na", capability.DECLARED_NOT_ENFORCED: "declared"}
VERDICT_CLASS[capability.NO_SCHEDULER] = "na"
VERDICT_CLASS |= {capability.NA: "na", capability.NOT_RUN: "na", capability.NOT_RECORDED: "na"}


def rel(path: str, out: Path) -> str:
    return os.path.relpath(path, out)


def table_of(df: pd.DataFrame) -> Table:
    return Table([str(c) for c in df.columns], [[str(v) for v in r] for r in df.to_numpy()])


def intro(runs: pd.DataFrame) -> list[Block]:
    return [
        Heading("orchbench report", 1),
        Para(
            f"{len(runs)} runs of {runs['scenario'].nunique()} scenarios on "
            f"{runs['runner'].nunique()} runners ({', '.join(sorted(runs['runner'].unique()))}). "
            "Every number is read from the runs' `run.json` (computed by `orchbench/metrics.py` "
            "from the step journal and the system's own trace); medians over repeats with "
            "min–max when they differ; only completed runs give numbers, other runs show "
            "their status and reason."
        ),
    ]


def headline_section(runs: pd.DataFrame) -> list[Block]:
    h = headline(runs)
    blocks: list[Block] = [Heading("Headline: runners across the fault scenarios")]
    if h.empty:
        return [*blocks, Para("No run of a scenario with a fault yet.")]
    return [
        *blocks,
        Para(
            "Each cell pools every completed run of every scenario that injects a fault "
            "(`runs` = completed/all). `alerted`: a message was pushed to a human (a mail, "
            "a callback, a hook), `alert s` after the fault on the real clock and "
            "`alert (production)` on the production clock the schedule stands for; "
            "`visible`: the failure showed in the system's own view (UI, API, CLI run "
            "listing; `no central view` for a system without one: a log file nobody is "
            "pointed to does not count); `misreported`: attempts whose state in the "
            "system's own records contradicts what ran (evidence below); "
            "`rerun ratio`: CPU of the recovery / CPU of the minimal re-execution (1 = "
            "ideal); `lineage`: share of the ground-truth lineage facts the system recorded."
        ),
        table_of(h),
    ]


def deployments_section(runs: pd.DataFrame) -> list[Block]:
    """Default vs production-like (or tuned) deployments of one system, side by side."""
    d = deployments(runs)
    if d.empty:
        return []
    return [
        Heading("What the deployment changes"),
        Para(
            "Runners benched under more than one profile, over the scenarios every one of "
            "its profiles completed: `default` is the system as installed (Airflow: SQLite "
            "and LocalExecutor; Prefect: SQLite server, flows in-process), `celery` and "
            "`pool` the production-like deployments (PostgreSQL, Celery workers on Redis; a "
            "process work pool served by separate workers), `tuned` the low-latency "
            "settings. Medians (min–max) per run; `make bench-production` adds the "
            "production-like runs to a results tree."
        ),
        table_of(d),
    ]


def _claims_by_runner(
    runs: pd.DataFrame,
    out: Path,
    head: Callable[[Claim], list[str]],
    text: Callable[[capability.Cell], str],
) -> tuple[list[str], list[list[str | Link]], list[list[str]]]:
    """The claims x runner columns: ``head`` gives a row's first cells, ``text`` each
    cell's words, linked to the latest run behind the cell and classed by its verdict."""
    runners = sorted(capability.columns(runs).unique())
    rows: list[list[str | Link]] = []
    classes: list[list[str]] = []
    for cid, cells in capability.capability_table(runs).items():
        first = head(CLAIMS[cid])
        row: list[str | Link] = [*first]
        cls = [""] * len(first)
        for r in runners:
            c = cells[r]
            row.append(Link(text(c), rel(c.runs[0], out)) if c.runs else text(c))
            cls.append(VERDICT_CLASS.get(c.verdict, ""))
        rows.append(row)
        classes.append(cls)
    return runners, rows, classes


def glance_section(runs: pd.DataFrame, out: Path) -> list[Block]:
    """The first screen: each of the article's claims x each system, the verdict and the
    measured figure, linked to the latest run behind it (details in the capability table)."""
    runners, rows, classes = _claims_by_runner(
        runs,
        out,
        lambda claim: [claim.title],
        lambda c: f"{c.verdict} {c.figure}".strip() if c.verdict != "info" else c.figure,
    )
    return [
        Heading("At a glance: which of the article's promises each system kept"),
        Para(
            "Each cell: the verdict of the claim's rule over the system's runs of the "
            "scenarios that test it, and `k/n`, the runs that pass the rule each on their "
            "own; `harness-assisted` passed only with our help (a kill, a restart). Rules, "
            "figures and scenarios are in the capability table below; each cell links to "
            "its latest run."
        ),
        Table(["claim", *runners], rows, classes),
    ]


def cards_section(runs: pd.DataFrame) -> list[Block]:
    """One configuration card per runner x profile, from the latest run's env.json."""
    rows: list[list[str | Link]] = []
    for (runner, profile), g in runs.groupby(["runner", "profile"], sort=True):
        card = load_env(g.sort_values("run_id")["run_dir"].iloc[-1]).get("card") or {}
        rows.append([runner, str(profile), *(card.get(a) or NOT_DECLARED for a in ASPECTS)])
    if not rows:
        return []
    legend = "; ".join(f"`{a}`: {what}" for a, what in ASPECTS.items())
    return [
        Heading("Configuration cards"),
        Para(
            "How each runner x profile was set up, as the runner recorded it in its latest "
            f"run's env.json (`orchbench/card.py`): {legend}. `{NOT_DECLARED}`: the runner "
            "recorded nothing for that aspect."
        ),
        Table(["runner", "profile", *ASPECTS], rows),
    ]


def capability_section(runs: pd.DataFrame, out: Path) -> list[Block]:
    runners, rows, classes = _claims_by_runner(
        runs,
        out,
        lambda claim: [f"{claim.title} — “{claim.quote}”", claim.measured_by],
        lambda c: (
            c.text
            if c.verdict == "info" or c.text.startswith(c.verdict)
            else f"{c.verdict}: {c.text}"
        ),
    )
    return [
        Heading("Capabilities: the article's claims, measured"),
        Para(
            "Rows are the seed article's claims; each cell applies the claim's rule "
            "(`orchbench/report/capability.py`) to the runner's runs of the scenarios tagged "
            "with the claim, and links to the latest run behind it. Static rows (typed "
            "artifacts, GPU control) read the `declared` record of the system's trace; "
            "`not recorded` means the runner's runs carry none."
        ),
        Table(["claim", "measured by", *runners], rows, classes),
    ]


def scheduler_section(runs: pd.DataFrame) -> list[Block]:
    """What each system's scheduler did when it fired the dates itself."""
    t = scheduler_table(runs)
    if t.empty:
        return []
    return [
        Heading("What the scheduler did"),
        Para(
            "Runs of missed_days, backfill_transient, late_data and scheduler_crash, whose "
            "dates a scheduler fired (`fired by`: the system's own, or cron for a system "
            "without one; the harness only moved the world and watched). Missed dates count "
            "when every step ran without any intervention after the scheduler came back; "
            "`catch-up wall` runs from then to the last missed date's end; `interventions`: "
            "the operator's decisions still needed. The late partition's extra wait: how much "
            "later after the date was due the ingest that read it started than on the other "
            "days (median). `the task in flight`: "
            "re-run by the system, adopted (ran on, the system's view agrees), orphaned (ran "
            "on, only its own log or nothing says so), crashed (killed, the system shows "
            "it), lost (killed, the system does not show it). Definitions: "
            "`orchbench/scheduling.py`."
        ),
        table_of(t),
    ]


def _days_of(runs: pd.DataFrame, scen: str) -> str:
    """`` (2 days)``: the days the scenario's runs cover, read from their ``scenario.yaml``
    copies (a quick bench or a notebook cuts a scenario short; its figures then cover
    fewer days than the shipped file's); ``""`` where no run says."""
    if "days" not in runs:
        return ""
    days = sorted({int(d) for d in runs.loc[runs["scenario"] == scen, "days"].dropna()})
    if not days:
        return ""
    span = str(days[0]) if len(days) == 1 else f"{days[0]}–{days[-1]}"
    return f" ({span} day{'' if days == [1] else 's'})"


def scenario_sections(runs: pd.DataFrame, out: Path) -> list[Block]:
    summary = summarize(runs)
    all_runners = sorted(runs["runner"].unique())
    blocks: list[Block] = [Heading("Scenarios")]
    for scen, g in summary.groupby("scenario", sort=True):
        blocks.append(Heading(f"{scen}{_days_of(runs, scen)}", 3))
        header = ["runner", "profile", "runs"] + [label for _, label in HEADLINE]
        rows: list[list[str | Link]] = []
        for _, r in g.iterrows():
            if r["completed"] == 0:
                cells: list[str | Link] = [r["runner"], r["profile"], str(r["runs"])]
                cells.append(f"**{r['not_completed']}**")
                cells += [""] * (len(header) - len(cells))
            else:
                cells = [r["runner"], r["profile"], f"{r['completed']}/{r['runs']}"]
                cells += [str(r[k]) for k, _ in HEADLINE]
            rows.append(cells)
        for missing in sorted(set(all_runners) - set(g["runner"])):
            rows.append([missing, "", "not run"] + [""] * (len(header) - 3))
        blocks.append(Table(header, rows))
        png = timeline_png(runs, scen)
        if png:
            blocks.append(
                Image(
                    f"timeline_{scen}.png",
                    png,
                    f"{scen}: every step attempt per runner, with the fault, the first native "
                    "signal, the fix and the recovery",
                )
            )
    return blocks


def heatmap_section(runs: pd.DataFrame) -> list[Block]:
    blocks: list[Block] = [Heading("Heatmaps (scenario x runner)")]
    for metric, (title, _, _) in HEATMAPS.items():
        png = heatmap_png(runs, metric)
        if png:
            blocks.append(Image(f"heatmap_{metric}.png", png, f"{title} per scenario and runner"))
    return blocks


def overhead_section(
    runs: pd.DataFrame, overhead_runs: pd.DataFrame, unmeasured: pd.DataFrame | None = None
) -> list[Block]:
    blocks: list[Block] = [Heading("Orchestration overhead")]
    probes = overhead.probes_table(overhead_runs)
    if probes.empty:
        blocks.append(Para("No overhead probe in `results/overhead/` (`make bench-overhead`)."))
    else:
        blocks += [
            Para(
                "Probes (`make bench-overhead`), probe time per task (median total of the "
                "probe runs / tasks), ms:"
            ),
            table_of(probes),
            Para(
                "What each system's probe takes as a task's queued, started and completed "
                "time (the `method` its results carry):"
            ),
            table_of(overhead.method_table(overhead_runs)),
        ]
    if unmeasured is not None and not unmeasured.empty:
        blocks += [
            Para(
                "Profiles the probes leave out, each with the reason (declared by the "
                "runner's probe, in its results file):"
            ),
            table_of(unmeasured),
        ]
    per_run = overhead.runs_table(runs)
    if not per_run.empty:
        blocks += [
            Para(
                "Our workflow runs, time outside steps per attempt ((days-phase wall − Σ "
                "attempt wall) / attempts), ms; cv = coefficient of variation over the runs:"
            ),
            table_of(per_run),
        ]
    blocks += [
        Para(f"Published figures. Method: {overhead.WINDMILL_METHOD}"),
        table_of(overhead.reference_table()),
        Para(overhead.METHOD_NOTES),
    ]
    return blocks


def footprint_section(cells: pd.DataFrame) -> list[Block]:
    blocks: list[Block] = [Heading("Operating cost")]
    rows = footprint_table.table(cells)
    if rows.empty:
        return [*blocks, Para("No footprint in `results/footprint/` (`make footprint`).")]
    machines = sorted(
        {f"{m.get('cores')} cores" for m in cells.get("machine", []) if isinstance(m, dict)}
    )
    when = sorted(str(t) for t in cells.get("measured_at", pd.Series(dtype=str)).dropna())
    said = ([f"on {', '.join(machines)}"] if machines else []) + (
        [f"{when[0]} – {when[-1]}"] if when else []
    )
    measured = f" Measured {', '.join(said)}." if said else ""
    return [
        *blocks,
        Para(f"{footprint_table.METHOD}{measured}"),
        table_of(rows),
        Para("The system concepts each pipeline uses:"),
        table_of(footprint_table.concepts(cells)),
    ]


def _latest_env(runs: pd.DataFrame) -> dict[str, dict[str, Any]]:
    out = {}
    for runner, g in runs.groupby("runner"):
        env = load_env(g.sort_values("run_id")["run_dir"].iloc[-1])
        if env:
            out[runner] = env
    return out


def environment_section(runs: pd.DataFrame) -> list[Block]:
    envs = _latest_env(runs)
    blocks: list[Block] = [Heading("Environment")]
    if not envs:
        return [*blocks, Para("No env.json in the runs.")]
    any_env = next(iter(envs.values()))
    m = any_env.get("machine", {})
    blocks.append(
        Para(
            f"Machine: {m.get('cores')} cores, {m.get('memory_gib')} GiB, {m.get('cpu')}, "
            f"{m.get('platform')}; Python {any_env.get('python')}; orchbench "
            f"{(any_env.get('orchbench') or {}).get('version')} "
            f"(git {(any_env.get('orchbench') or {}).get('git')})."
        )
    )
    rows: list[list[str | Link]] = []
    for runner, env in envs.items():
        versions = ", ".join(f"{k} {v}" for k, v in (env.get("versions") or {}).items())
        profiles = ", ".join(sorted(set(runs.loc[runs["runner"] == runner, "profile"])))
        rows.append([runner, env.get("system", ""), profiles, versions])
    blocks.append(Table(["runner", "system", "profiles run", "versions"], rows))
    images = _images(runs, envs)
    if images:
        blocks.append(Para("Container images the runs used (built here; tag = hash of inputs):"))
        blocks.append(Table(["runner", "image", "built from", "key packages"], images))
    return blocks


# Packages an image row names besides the system's own (its ``system_version``).
KEY_PACKAGES = ("numpy", "pandas", "pandera", "scikit-learn")


def _images(runs: pd.DataFrame, envs: dict[str, dict[str, Any]]) -> list[list[str | Link]]:
    """One row per step image (and per-step variant) a container runner's runs recorded."""
    rows: list[list[str | Link]] = []
    for runner, env in envs.items():
        if not (env.get("settings") or {}).get("image"):
            continue
        found: dict[str, Any] = {}
        for run_dir in runs.loc[runs["runner"] == runner, "run_dir"]:
            st = load_env(run_dir).get("settings") or {}
            if st.get("image"):
                found.setdefault(st["image"], st.get("image_manifest"))
            found.update(st.get("variant_images") or {})
        own = (system_version(env) or "").partition(" ")[0]
        keys = ((own,) if own else ()) + KEY_PACKAGES
        for tag, man in found.items():
            man = man or {}
            pins = [p for p in man.get("python_packages") or [] if p.split("==")[0] in keys]
            if man.get("requirements") and isinstance(man["requirements"], list):
                origin = f"{man.get('base')} + {', '.join(man['requirements'])}"
            else:
                pkgs = ", ".join(man.get("debian_packages") or [])
                origin = f"Debian {man.get('suite', '?')} ({pkgs}) + {man.get('requirements', '?')}"
            rows.append([runner, str(tag), origin, ", ".join(pins) or "not recorded"])
    return rows


def _runner_notes(runs: pd.DataFrame) -> list[str]:
    """The caveats each runner's ``plugin.py`` declares, as the latest run of each (runner,
    profile) recorded them in ``env.json`` (``notes``), each once, in runner order."""
    out: list[str] = []
    for _key, g in runs.groupby(["runner", "profile"]):
        env = load_env(g.sort_values("run_id")["run_dir"].iloc[-1])
        for note in env.get("notes") or ():
            if note not in out:
                out.append(note)
    return out


def clock_lines(runs: pd.DataFrame) -> list[str]:
    """One line per runner (and profile where they differ) on the clock its runs had:
    its speed and which waits were compressed, as the latest run's ``env.json`` recorded."""
    lines: dict[str, list[str]] = {}
    for (runner, profile), g in runs.groupby(["runner", "profile"]):
        clock = load_env(g.sort_values("run_id")["run_dir"].iloc[-1]).get("clock")
        if not clock:
            text = "clock not recorded (runs from before env.json /3)"
        else:
            speed = float(clock.get("speed") or 1.0)
            rate = "the real clock" if speed == 1.0 else f"a clock x{speed:g} the real one"
            compressed = "; ".join(clock.get("compressed") or ()) or "nothing"
            text = f"scheduler on {rate}; compressed: {compressed}"
        lines.setdefault(text, []).append(f"{runner}/{profile}")
    return [f"`{', '.join(who)}`: {text}." for text, who in lines.items()]


def assist_lines(runs: pd.DataFrame) -> list[str]:
    """Per runner, the help its system got from our harness in these runs (run.json's
    ``harness_assists``), with the scenarios it came in; runners that got none are named
    together."""
    cols = sorted(c for c in runs.columns if c.startswith(ASSIST_PREFIX))
    lines, none = [], []
    for runner, g in runs.groupby("runner"):
        got = []
        for col in cols:
            n = pd.to_numeric(g[col], errors="coerce").fillna(0)
            if n.sum() > 0:
                scen = ", ".join(sorted(set(g.loc[n > 0, "scenario"])))
                got.append(f"{col.removeprefix(ASSIST_PREFIX)} ×{int(n.sum())} ({scen})")
        if got:
            lines.append(f"Harness help to {runner}, never credited to it: {'; '.join(got)}.")
        else:
            none.append(str(runner))
    if none:
        lines.append(f"No harness help in these runs: {', '.join(none)}.")
    return lines


def threats_section(runs: pd.DataFrame) -> list[Block]:
    envs = _latest_env(runs)
    cores = {str((e.get("machine") or {}).get("cores")) for e in envs.values()}
    items = [
        "Compressed clocks. A day's runs follow each other in seconds, not a day apart, "
        "and cron's daemon runs on a sped-up clock. Times to alert, to visible and of "
        "recovery are also given on the production clock: the real seconds plus, for each "
        "compressed wait inside, the time it stands for. Each runner's clock follows.",
        *(f"Clock of {line}" for line in clock_lines(runs)),
    ]
    items += _runner_notes(runs)
    items += assist_lines(runs)
    items += [
        f"Everything shares one machine with {', '.join(sorted(cores))} cores: timings are "
        "noisy and orchestrator services compete with the steps for CPU.",
        "Small data and seconds-long steps: overhead weighs far more here than in a real "
        "training pipeline; ratios (rerun cost ratio, lineage) transfer better than seconds.",
        "Each runner is written the way we believe good users of that system write it; "
        "another team's pipeline may do better or worse (see each runner's README).",
    ]
    jobs = sorted({int(e.get("bench_jobs") or 1) for e in envs.values()})
    if jobs and jobs[-1] > 1:
        items.append(
            f"Runs were benched {jobs[-1]} runners at a time (`orchbench bench --jobs "
            f"{jobs[-1]}`): runs of different systems shared the CPU, so their seconds are "
            "taken under that load. `--jobs 1` gives each run the machine to itself."
        )
    return [Heading("Threats to validity"), *[Para(f"- {t}") for t in items]]


def unstable_section(runs: pd.DataFrame) -> list[Block]:
    """Cells whose repeats disagree on an outcome (``tables.unstable``), shown only when
    some cell was run more than once."""
    ok = completed(runs)
    if ok.empty or not (ok.groupby(["scenario", "runner", "profile"]).size() > 1).any():
        return []
    table = unstable(runs)
    blocks: list[Block] = [
        Heading("Unstable outcomes"),
        Para(
            "Outcome columns (who was alerted, what was recovered, interventions, "
            "misreports...) are expected to be the same in every repeat of a cell; "
            "timings are not. These cells' repeats disagreed, so one run of them says "
            "little: races in the system or the load of the machine decide them (each "
            "run's `env.json` records how many lanes shared it)."
        ),
    ]
    if table.empty:
        return [*blocks, Para("Every repeated cell gave the same outcomes.")]
    return [*blocks, table_of(table)]


def misreported_section(runs: pd.DataFrame, out: Path) -> list[Block]:
    """Per runner, the attempts whose state in the system's own records contradicts the
    journal, with both records side by side (``misreported`` in ``run.json``)."""
    if "misreported_attempts" not in runs:
        return []
    hit = completed(runs)
    hit = hit[pd.to_numeric(hit["misreported_attempts"], errors="coerce").fillna(0) > 0]
    blocks: list[Block] = [Heading("Misreported attempts")]
    if hit.empty:
        return [*blocks, Para("No system contradicted the journal in these runs.")]
    rows: list[list[str | Link]] = []
    for r in hit.sort_values(["runner", "scenario", "run_id"]).itertuples():
        evidence = (load_run_json(r.run_dir).get("metrics") or {}).get("misreported") or []
        for ev in evidence:
            journal, system = ev.get("journal") or {}, ev.get("system") or {}
            rows.append(
                [
                    str(r.runner),
                    str(r.scenario),
                    f"{ev.get('logical_date')} {ev.get('step')} #{ev.get('attempt')}",
                    str(ev.get("system_says")),
                    f"{journal.get('status')}"
                    + (f" ({journal['error']})" if journal.get("error") else ""),
                    f"{system.get('state')} ({system.get('source')})",
                    Link(str(r.run_id), rel(str(r.run_dir), out)),
                ]
            )
    return [
        *blocks,
        Para(
            "Attempts where the system said one thing and the step journal another (what "
            "ran). Counted, not corrected: the system is left as released."
        ),
        Table(
            ["runner", "scenario", "attempt", "the system says", "journal", "system record", "run"],
            rows,
        ),
    ]


def compare_section(table: pd.DataFrame, new_v: str, old_v: str) -> list[Block]:
    blocks: list[Block] = [
        Heading("Comparison with an older result set"),
        Para(f"Old: {old_v}. New: {new_v}. Changes beyond 10% or flipped booleans are marked."),
    ]
    changed = table[table["mark"] != ""]
    if changed.empty:
        return [*blocks, Para("No metric changed beyond the threshold.")]
    shown = changed.copy()
    for c in ("old", "new", "ratio"):
        shown[c] = shown[c].map(lambda v: "" if v is None or pd.isna(v) else three(v))
    return [*blocks, table_of(shown)]


def files_section() -> list[Block]:
    return [
        Heading("Files"),
        Para(
            "`summary.csv` (one row per scenario x runner x profile), `runs.csv` (one row "
            "per run, column `run_dir` points at the run directory behind every number), "
            "`capabilities.csv`, and the figures as PNG next to `report.md`."
        ),
    ]
