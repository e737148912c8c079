"""The one loader of results: the report and the notebooks read runs only through here.

``load_runs`` gives one row per published run directory (identity, every metric from
``run.json``, the scenario's capability tags from its ``scenario.yaml`` copy, the system's
version from ``env.json``). ``load_attempts``/``load_events`` read one run's journal and
native trace for the timeline; ``load_declared`` its ``declared`` trace record;
``load_overhead`` the overhead probes in ``results/overhead/``; ``load_scale`` the
cost-growth points in ``results/scale/``. Nothing here computes a metric: numbers and
each attempt's classification are copied from ``run.json`` (``point.json``) as the
harness wrote them. ``run.json`` and ``env.json`` are read through ``orchbench.records``:
an older version is migrated, an unknown one refused with a ``SchemaError``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from orchbench.journal import Journal
from orchbench.point import Point, load_points
from orchbench.records import RunRecord, SchemaError, as_dict, read_env, read_run
from orchbench.rundir import TMP_PREFIX
from orchbench.trace import TRACE_NAME, read_trace

ID_COLUMNS = ["scenario", "runner", "system", "profile", "run_id", "status", "reason"]
EXTRA_COLUMNS = [
    "started_at",
    "capabilities",
    "days",
    "faults",
    "version",
    "central_view",
    "clock_speed",
    "fired_by",
    "run_dir",
]
# list metrics the report counts: ``<name>_n`` columns (``orchbench.scheduling``)
COUNTED = ("missed_dates", "backfilled_dates", "skipped_dates", "duplicate_dates")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def scenario_of(run_dir: Path | str) -> dict[str, Any]:
    """The scenario file copied into the run directory, as plain data ({} if unreadable)."""
    try:
        data = yaml.safe_load((Path(run_dir) / "scenario.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"


def capabilities_of(scen: dict[str, Any]) -> tuple[str, ...]:
    """The capability tags of a run's scenario copy; a copy from before scenarios were
    tagged (no ``capabilities`` key) takes the tags of ``scenarios/<name>.yaml``."""
    if "capabilities" in scen:
        return tuple(scen.get("capabilities") or ())
    current = SCENARIO_DIR / f"{scen.get('name')}.yaml"
    if scen.get("name") and current.is_file():
        try:
            data = yaml.safe_load(current.read_text()) or {}
        except yaml.YAMLError:
            return ()
        return tuple(data.get("capabilities") or ())
    return ()


def system_version(record: dict[str, Any]) -> str | None:
    """The system's own version (``"apache-airflow 3.3.2"``) as an ``env.json``,
    ``point.json`` or overhead probe records it (the runner's plugin names its key); files
    written before 2026-12-05 recorded none and show no version."""
    return str(record["system_version"]) if record.get("system_version") else None


ASSIST_PREFIX = "assist."  # load_runs' columns of run.json's harness_assists, per kind


def load_runs(results: Path | str) -> pd.DataFrame:
    """One row per run: identity columns, every scalar metric, tags, and the run directory.

    ``lineage_by_fact`` becomes ``lineage.<fact>`` columns. Unfinished (temporary) and
    unreadable run directories are skipped; a ``run.json`` of a version this orchbench
    cannot read raises ``SchemaError``.
    """
    rows = []
    for run_json in sorted(Path(results).glob("*/*/*/run.json")):
        if run_json.parent.name.startswith(TMP_PREFIX):
            continue
        run = _read_run(run_json)
        if run is None:
            continue
        row: dict[str, Any] = {k: getattr(run, k) for k in ID_COLUMNS}
        metrics = run.metrics.model_dump(exclude_unset=True) if run.metrics else {}
        for k, v in metrics.items():
            if k == "lineage_by_fact":
                for fact, frac in (v or {}).items():
                    row[f"lineage.{fact}"] = frac
            elif k == "harness_assists":
                for kind, n in (v or {}).items():
                    row[f"{ASSIST_PREFIX}{kind}"] = n
            elif k in COUNTED and isinstance(v, list):
                row[f"{k}_n"] = len(v)
            elif not isinstance(v, (list, dict)):
                row[k] = v
        scen = scenario_of(run_json.parent)
        env = load_env(run_json.parent)
        row["started_at"] = run.started_at
        row["capabilities"] = capabilities_of(scen)
        row["days"] = scen.get("days")
        row["faults"] = len(scen.get("faults") or ())
        row["version"] = system_version(env)
        # the system's central view: its name, "" for none (env.json /3 on), None when an
        # older env.json did not say
        recorded = env.get("clock") is not None
        row["central_view"] = (env.get("central_view") or "") if recorded else None
        row["clock_speed"] = (env.get("clock") or {}).get("speed")
        # who fired the dates: the system's own scheduler (its name), another one
        # ("cron"), or the harness (also for env.json files from before it was recorded)
        row["fired_by"] = (env.get("clock") or {}).get("fired_by") or "harness"
        row["run_dir"] = str(run_json.parent)
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=[*ID_COLUMNS, *EXTRA_COLUMNS])
    return pd.DataFrame(rows)


def _read_run(path: Path) -> RunRecord | None:
    """The run record; None when the file is missing or not JSON; SchemaError propagates."""
    try:
        return read_run(path)
    except SchemaError:
        raise
    except (OSError, ValueError):
        return None


def load_env(run_dir: Path | str) -> dict[str, Any]:
    """A run's ``env.json`` at the current version, as plain data ({} if missing or not
    JSON; SchemaError if of a version this orchbench cannot read)."""
    try:
        env = read_env(Path(run_dir) / "env.json")
    except SchemaError:
        raise
    except (OSError, ValueError):
        return {}
    return as_dict(env)


def load_run_json(run_dir: Path | str) -> dict[str, Any]:
    """A run's ``run.json`` at the current version, as plain data ({} if missing)."""
    run = _read_run(Path(run_dir) / "run.json")
    return {} if run is None else as_dict(run)


def load_trace(run_dir: Path | str) -> list[dict[str, Any]]:
    try:
        return read_trace(Path(run_dir) / TRACE_NAME)
    except ValueError:
        return []


def load_declared(run_dir: Path | str) -> dict[str, Any] | None:
    """The native trace's ``declared`` record, or None when the run carries none."""
    for r in load_trace(run_dir):
        if r.get("kind") == "declared":
            return r
    return None


def load_journal(run_dir: Path | str) -> Journal:
    return Journal.load(Path(run_dir) / "journal.jsonl")


def load_attempts(run_dir: Path | str) -> pd.DataFrame:
    """One row per journaled step attempt: date, step, attempt, status, start/end seconds.

    Times are seconds from the journal's ``run_started`` record (or its first record). A
    killed attempt (start without end) has ``end_s`` NaN and status ``killed``. ``stale``
    and ``tainted`` are the classification ``run.json`` records for the attempt
    (``attempts``, the same one the metrics count); None where it records none (a run
    before ``orchbench.run/2``, or a directory without ``run.json``).
    """
    j = load_journal(run_dir)
    t0 = _t0(j)
    run = _read_run(Path(run_dir) / "run.json")
    classified = {c.attempt_id: c for c in (run.attempts if run and run.attempts else [])}
    rows = []
    for a in j.attempts:
        c = classified.get(a.attempt_id)
        rows.append(
            {
                "attempt_id": a.attempt_id,
                "logical_date": a.logical_date,
                "step": a.step,
                "attempt": a.attempt,
                "status": a.status,
                "start_s": (a.start_ns - t0) / 1e9,
                "end_s": None if a.end_ns is None else (a.end_ns - t0) / 1e9,
                "cpu_s": a.cpu_s,
                "error_type": a.error_type,
                "stale": None if c is None else c.stale,
                "tainted": None if c is None else c.tainted,
            }
        )
    cols = ["attempt_id", "logical_date", "step", "attempt", "status", "start_s", "end_s"]
    return pd.DataFrame(rows, columns=None if rows else cols)


def _t0(j: Journal) -> int:
    t = j.harness_time("run_started")
    if t is not None:
        return t
    starts = [a.start_ns for a in j.attempts] + [int(h["t_ns"]) for h in j.harness]
    return min(starts) if starts else 0


def load_events(run_dir: Path | str) -> pd.DataFrame:
    """The moments a timeline marks, each read from a record (seconds from run start).

    - ``fault``: every ``fault_activated`` journal record;
    - ``visible``: the first failure the system's own view showed, placed at the earliest
      activation + ``visible_s`` from ``run.json`` (the metric the harness computed;
      absent when ``visible`` is false);
    - ``alert``: every non-passive ``alert`` record of the native trace;
    - ``fix``/``recovery_started``/``recovery_finished``: the harness's records;
    - ``operator``: every ``operator_action`` (a command a human typed).
    """
    j = load_journal(run_dir)
    t0 = _t0(j)
    rows: list[dict[str, Any]] = []
    for f in j.faults:
        rows.append(
            {
                "kind": "fault",
                "t_s": (int(f["t_ns"]) - t0) / 1e9,
                "label": f"{f.get('kind')} ({f.get('logical_date')}, {f.get('step')})",
            }
        )
    metrics = load_run_json(run_dir).get("metrics") or {}
    if j.faults and metrics.get("visible") and metrics.get("visible_s") is not None:
        act = min(int(f["t_ns"]) for f in j.faults)
        rows.append(
            {
                "kind": "visible",
                "t_s": (act - t0) / 1e9 + float(metrics["visible_s"]),
                "label": f"visible in the system's view (+{metrics['visible_s']:.1f} s)",
            }
        )
    for r in load_trace(run_dir):
        if r.get("kind") == "alert" and not r.get("passive") and r.get("t_ns"):
            rows.append(
                {
                    "kind": "alert",
                    "t_s": (int(r["t_ns"]) - t0) / 1e9,
                    "label": f"{r.get('channel')}: {r.get('subject')}",
                }
            )
    names = {"fix_applied": "fix", "recovery_started": "recovery_started"}
    names["recovery_finished"] = "recovery_finished"
    for h in j.harness:
        if h.get("event") in names:
            rows.append(
                {
                    "kind": names[h["event"]],
                    "t_s": (int(h["t_ns"]) - t0) / 1e9,
                    "label": h["event"].replace("_", " "),
                }
            )
    for op in j.operator_actions:
        rows.append(
            {
                "kind": "operator",
                "t_s": (int(op["t_ns"]) - t0) / 1e9,
                "label": str(op.get("command", "")),
            }
        )
    return pd.DataFrame(rows, columns=["kind", "t_s", "label"])


def load_overhead(overhead_dir: Path | str) -> pd.DataFrame:
    """Overhead probes (``results/overhead/<system>.json``: ``{profile: {shape: entry}}``,
    ``orchbench.overhead.probe_main``), one row per system x profile x shape. A file
    written before the shapes holds ``{profile: entry}`` for the short shape; one measured
    before ``probe_s_per_task`` had its name holds it as ``per_task_s``."""
    from orchbench.overhead import SHORT

    rows = []
    for path in sorted(Path(overhead_dir).glob("*.json")):
        data = _read_json(path)
        for profile, by_shape in data.items():
            if not isinstance(by_shape, dict):
                continue
            if "probe_s_per_task" in by_shape or "per_task_s" in by_shape:
                by_shape = {SHORT.name: by_shape}
            for shape, entry in by_shape.items():
                per_task = (
                    entry.get("probe_s_per_task", entry.get("per_task_s"))
                    if isinstance(entry, dict)
                    else None
                )
                if per_task is None:
                    continue
                rows.append(
                    {
                        "system": path.stem,
                        "profile": profile,
                        "shape": shape,
                        "tasks": entry.get("tasks"),
                        "runs": entry.get("runs"),
                        "probe_s_per_task": per_task,
                        "median_total_s": entry.get("median_total_s"),
                        "min_total_s": entry.get("min_total_s"),
                        "max_total_s": entry.get("max_total_s"),
                        "cv_total": entry.get("cv_total"),
                        "version": system_version(entry),
                        "settings": entry.get("profile_settings") or {},
                        "method": entry.get("method"),
                        "measured_at": entry.get("measured_at"),
                        "cores": (entry.get("machine") or {}).get("cores"),
                    }
                )
    return pd.DataFrame(rows)


def load_overhead_unmeasured(overhead_dir: Path | str) -> pd.DataFrame:
    """The profiles each probe file declares unprobed (``{profile: {"unmeasured": why}}``,
    ``orchbench.overhead.probe_main``), one row per system x profile with the reason."""
    from orchbench.overhead import unmeasured_reasons

    rows = [
        {"system": path.stem, "profile": profile, "why not probed": reason}
        for path in sorted(Path(overhead_dir).glob("*.json"))
        for profile, reason in unmeasured_reasons(path).items()
    ]
    return pd.DataFrame(rows, columns=["system", "profile", "why not probed"])


def load_footprint(footprint_dir: Path | str) -> pd.DataFrame:
    """Operating-cost cells (``results/footprint/<runner>.json``, one entry per profile, as
    ``orchbench footprint`` writes them), one row each."""
    rows = []
    for path in sorted(Path(footprint_dir).glob("*.json")):
        for profile, entry in _read_json(path).items():
            if isinstance(entry, dict) and "cold_start_s" in entry:
                rows.append({**entry, "runner": entry.get("runner", path.stem), "profile": profile})
    return pd.DataFrame(rows)


def load_scale(scale_dir: Path | str) -> tuple[list[Point], list[str]]:
    """The cost-growth points in ``results/scale/<engine>/<shape>-<n>/point.json``
    (``orchbench.point``, older versions migrated), as written by ``orchbench scale``, and
    one message per point file refused."""
    return load_points(scale_dir)
