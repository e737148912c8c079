"""runners.metaflow.records.convert on hand-made Client API lines (the shape client.py
writes; no Metaflow needed): attempt states (failed, killed, retried, cloned by resume),
the switch's skipped steps, run states, file refs (Metaflow's ``<name>_uri`` artifacts
native, our sha256 practiced) and the ``declared`` record read from the flow Metaflow
stored (``_graph_info``), not from the scenario's policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchbench import trace
from runners.metaflow import records

FLOW = "DailyRetrainingFlow"
DATE = "2026-01-02"
ART = "/w/artifacts/metaflow/2026-01-02"
T0 = 1_000_000_000_000


def meta(name: str, value: Any, t: int) -> dict[str, Any]:
    return {"name": name, "value": value, "t_ns": T0 + t}


def node(retry: int | None, timeout: dict[str, int] | None, **more: Any) -> dict[str, Any]:
    decos = []
    if retry is not None:
        decos.append(
            {"name": "retry", "attributes": {"times": retry, "minutes_between_retries": 0}}
        )
    if timeout is not None:
        decos.append({"name": "timeout", "attributes": timeout})
    return {"type": "linear", "decorators": decos, "next": [], **more}


def graph(run: str, retries: int = 2, seconds: int = 6) -> dict[str, Any]:
    steps = {
        name: node(retries, {"seconds": seconds, "minutes": 0, "hours": 0})
        for name in records.STEP_NAMES
    }
    steps["evaluate"].update(
        type="split-switch", condition="route", switch_cases={"deploy": "register", "hold": "hold"}
    )
    steps["start"] = node(None, None)
    steps["hold"] = node(None, None)
    steps["end"] = node(None, None)
    return {
        "line": "graph",
        "run": run,
        "graph": {"file": "daily_retraining_flow.py", "steps": steps},
    }


def run_line(run: str, t: int, finished: bool, successful: bool) -> dict[str, Any]:
    return {
        "line": "run",
        "run": run,
        "pathspec": f"{FLOW}/{run}",
        "logical_date": DATE,
        "created_ns": T0 + t,
        "finished": finished,
        "successful": successful,
        "finished_ns": T0 + t + 100 if finished else None,
        "tags": [],
    }


def uri(name: str, sha: str) -> dict[str, Any]:
    return {"sha": sha, "data": f"{ART}/{name}.csv"}


def attempt(
    run: str,
    step: str,
    task: str,
    k: int,
    t: int,
    metadata: list[dict[str, Any]],
    artifacts: dict[str, Any] | None = None,
    handed: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "line": "attempt",
        "run": run,
        "logical_date": DATE,
        "step": step,
        "task": task,
        "pathspec": f"{FLOW}/{run}/{step}/{task}",
        "attempt": k,
        "created_ns": T0 + t,
        "metadata": metadata,
        "artifacts": artifacts or {},
        "handed": handed or {},
    }


def manifest(side: str, *refs: tuple[str, str, str]) -> dict[str, Any]:
    return {"sha": "m", "data": [{"name": n, "uri": u, "sha256": h} for n, u, h in refs]}


RAW = uri("raw", "a-raw")
VALIDATED = uri("validated", "a-validated")


def lines() -> list[dict[str, Any]]:
    """Run 1: validate fails (attempt 0), is killed (attempt 1, no attempt_ok), fails
    again (attempt 2); the run stays unfinished. Run 2 resumes it: ingest cloned, validate
    and the rest succeed, the switch holds."""
    ingest_arts = {
        "raw_uri": RAW,
        "ingest_inputs": manifest("inputs", ("landing", "/w/world/landing/p.csv", "h-landing")),
        "ingest_outputs": manifest("outputs", ("raw", RAW["data"], "h-raw")),
        "ingest_code_version": {"sha": "c", "data": "code-ingest"},
    }
    return [
        run_line("1", 0, finished=False, successful=False),
        graph("1"),
        attempt("1", "start", "1", 0, 1, [meta("attempt", 0, 1), meta("attempt_ok", "True", 2)]),
        attempt(
            "1",
            "ingest",
            "2",
            0,
            3,
            [meta("attempt", 0, 3), meta("attempt_ok", "True", 4)],
            ingest_arts,
        ),
        attempt(
            "1",
            "validate",
            "3",
            0,
            5,
            [meta("attempt", 0, 5), meta("attempt_ok", "False", 6)],
            handed={"raw_uri": RAW},
        ),
        attempt("1", "validate", "3", 1, 7, [meta("attempt", 1, 7)], handed={"raw_uri": RAW}),
        attempt(
            "1",
            "validate",
            "3",
            2,
            9,
            [meta("attempt", 2, 9), meta("attempt_ok", "False", 10)],
            handed={"raw_uri": RAW},
        ),
        run_line("2", 20, finished=True, successful=True),
        graph("2"),
        attempt(
            "2",
            "ingest",
            "12",
            0,
            21,
            [
                meta("attempt", 0, 21),
                meta("origin-run-id", "1", 21),
                meta("origin-task-id", "2", 21),
            ],
            ingest_arts,
        ),
        attempt(
            "2",
            "validate",
            "13",
            0,
            22,
            [meta("attempt", 0, 22), meta("attempt_ok", "True", 23)],
            {
                "validated_uri": VALIDATED,
                "raw_uri": RAW,
                "validate_inputs": manifest(
                    "inputs",
                    ("raw", RAW["data"], "h-raw"),
                    ("reference", "/w/world/ref.json", "h-ref"),
                ),
                "validate_outputs": manifest("outputs", ("validated", VALIDATED["data"], "h-val")),
            },
            handed={"raw_uri": {**RAW, "task": f"{FLOW}/2/ingest/12"}},
        ),
        attempt("2", "hold", "17", 0, 30, [meta("attempt", 0, 30), meta("attempt_ok", "True", 31)]),
    ]


def by(out: list[dict[str, Any]], kind: str, **match: Any) -> list[dict[str, Any]]:
    return [r for r in out if r["kind"] == kind and all(r.get(k) == v for k, v in match.items())]


def test_every_record_fits_the_trace_schema() -> None:
    for r in records.convert(lines(), None):
        trace.check(r, "convert")


def test_failed_killed_and_retried_attempts() -> None:
    out = records.convert(lines(), None)
    tries = by(out, "task_attempt", run=f"{FLOW}/1", step="validate")
    # attempt_ok False: failed; no attempt_ok but a later attempt: killed (crashed)
    assert [(r["attempt"], r["state"]) for r in tries] == [
        (1, "failed"),
        (2, "crashed"),
        (3, "failed"),
    ]
    failed, killed, _ = tries
    assert failed["start_ns"] == T0 + 5 and failed["end_ns"] == T0 + 6
    assert "inferred" in killed and "inferred" not in failed
    assert failed["metaflow_attempt"] == 0 and killed["metaflow_attempt"] == 1
    # the last attempt of an unfinished run that never said how it ended: still running
    cut = [ln for ln in lines() if not (ln["line"] == "attempt" and ln["attempt"] == 2)]
    tries = by(records.convert(cut, None), "task_attempt", run=f"{FLOW}/1", step="validate")
    assert [r["state"] for r in tries] == ["failed", "running"]
    assert tries[-1]["end_ns"] is None


def test_cloned_task_is_cached_with_its_origin_and_the_run_states() -> None:
    out = records.convert(lines(), None)
    (ingest,) = by(out, "task_attempt", run=f"{FLOW}/2", step="ingest")
    assert (
        ingest["state"] == "cached" and ingest["origin_run"] == "1" and ingest["origin_task"] == "2"
    )
    states = [(r["run"], r["state"], r["finished"]) for r in by(out, "run_state")]
    assert states == [(f"{FLOW}/1", "unknown", False), (f"{FLOW}/2", "success", True)]
    skipped = by(out, "task_attempt", state="skipped")
    assert sorted(r["step"] for r in skipped) == ["canary", "register"]


def test_refs_native_from_metaflow_artifacts_hashes_practiced() -> None:
    out = records.convert(lines(), None)
    (ok,) = by(out, "task_attempt", run=f"{FLOW}/2", step="validate")
    raw = next(r for r in ok["inputs"] if r["name"] == "raw")
    assert raw == {
        "name": "raw",
        "uri": RAW["data"],
        "sha256": "h-raw",
        "artifact_sha": "a-raw",
        "practiced": ["sha256"],
    }
    reference = next(r for r in ok["inputs"] if r["name"] == "reference")
    assert reference["practiced"] is True  # the world's file: only our manifest names it
    (validated,) = ok["outputs"]
    assert validated["uri"] == VALIDATED["data"] and validated["sha256"] == "h-val"
    # what Metaflow records by itself: the paths, no file hash, not the world's files
    (native,) = [r for r in trace.native_only(out) if r.get("task") == ok["task"]]
    assert [(r["name"], r["uri"], r["sha256"]) for r in native["inputs"]] == [
        ("raw", RAW["data"], None)
    ]
    # a failed attempt's inputs: the path its parent handed it; no outputs
    failed = by(out, "task_attempt", run=f"{FLOW}/1", step="validate", state="failed")[0]
    assert [(r["name"], r["uri"], r["sha256"]) for r in failed["inputs"]] == [
        ("raw", RAW["data"], None)
    ]
    assert failed["outputs"] == []


def test_declared_is_what_metaflow_stored_not_the_policy() -> None:
    out = records.convert(lines(), None)
    (declared,) = by(out, "declared")
    assert declared["retries"] == {s: 2 for s in records.STEP_NAMES}
    assert declared["timeouts"] == {s: 6.0 for s in records.STEP_NAMES}
    assert "condition='route'" in declared["deploy_condition"]
    assert "'hold': hold" in declared["deploy_condition"]
    # a flow stored with other settings shows them, whatever the scenario asked for
    changed = [ln for ln in lines() if ln["line"] != "graph"] + [graph("1", retries=0, seconds=90)]
    (declared,) = by(records.convert(changed, None), "declared")
    assert declared["retries"] == {s: 0 for s in records.STEP_NAMES}
    assert declared["timeouts"] == {s: 90.0 for s in records.STEP_NAMES}
    # a step that lost its decorators is absent, not filled in from the policy
    lost = graph("1")
    lost["graph"]["steps"]["train"]["decorators"] = []
    other = [ln for ln in lines() if ln["line"] != "graph"] + [lost, graph("2")]
    (declared,) = by(records.convert(other, None), "declared")
    assert "train" not in declared["retries"] and "train" not in declared["timeouts"]
    assert "runs 2 stored other settings" in declared["source"]


def test_no_graph_declares_nothing() -> None:
    (declared,) = by(
        records.convert([ln for ln in lines() if ln["line"] != "graph"], None), "declared"
    )
    assert declared["retries"] == {} and declared["timeouts"] == {}


def test_exit_hook_alerts_from_the_sink(tmp_path: Path) -> None:
    message = {
        "t_ns": T0 + 50,
        "subject": "[metaflow] run failed",
        "logical_date": DATE,
        "step": "validate",
    }
    (tmp_path / "metaflow-1.json").write_text(json.dumps(message))
    (tmp_path / "other-1.json").write_text(json.dumps(message))  # another runner's
    (alert,) = by(records.convert(lines(), tmp_path), "alert")
    assert alert["step"] == "validate" and alert["logical_date"] == DATE
