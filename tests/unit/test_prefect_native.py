"""The Prefect trace converter on hand-made API answers (no Prefect needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchbench import trace as tr
from runners.prefect import native
from runners.prefect.native import Snapshot, attempts, convert, ts_ns


def state(kind: str, name: str, t: str, **kw: Any) -> dict[str, Any]:
    return {"type": kind, "name": name, "timestamp": f"2026-11-25T06:40:{t}Z", **kw}


def test_timestamps_are_exact_nanoseconds() -> None:
    assert ts_ns("1970-01-01T00:00:01.000001Z") == 1_000_001_000
    assert ts_ns("2026-11-25T06:40:19.221450+00:00") == ts_ns("2026-11-25T06:40:19.221450Z")
    assert ts_ns(None) is None


def test_state_history_splits_into_attempts() -> None:
    history = [
        state("PENDING", "Pending", "19.20"),
        state("RUNNING", "Running", "19.22"),
        state("SCHEDULED", "AwaitingRetry", "19.23"),
        state("RUNNING", "Retrying", "20.23"),
        state("FAILED", "TimedOut", "21.00", message="timeout"),
    ]
    got = [(a["state"], a["native"]) for a in attempts(history)]
    assert got == [("failed", "AwaitingRetry"), ("failed", "TimedOut")]
    cached = [
        state("PENDING", "Pending", "01.0"),
        state("RUNNING", "Running", "01.1"),
        state("COMPLETED", "Cached", "01.2"),
    ]
    assert [a["state"] for a in attempts(cached)] == ["cached"]
    killed = [state("PENDING", "Pending", "01.0"), state("RUNNING", "Running", "01.1")]
    assert [(a["state"], a["end"]) for a in attempts(killed)] == [("running", None)]
    no_delay = [
        state("RUNNING", "Running", "02.0"),
        state("RUNNING", "Retrying", "02.5"),
        state("COMPLETED", "Completed", "03.0"),
    ]
    got = [(a["state"], a["native"], a["end"]) for a in attempts(no_delay)]
    assert got == [
        ("failed", "Retrying", "2026-11-25T06:40:02.5Z"),
        ("success", "Completed", "2026-11-25T06:40:03.0Z"),
    ]


def test_what_the_api_still_shows_running_is_written_running() -> None:
    """A flow process killed with nothing watching it: its flow run and task run stay
    Running in the API, and the trace says so (the metrics compare it with the journal)."""
    snap = Snapshot(
        flow_runs=[{"id": "fr1", "name": "retrain-2026-01-02", "parameters": {}}],
        flow_states={"fr1": [state("RUNNING", "Running", "10.0")]},
        task_runs=[_task_run("t1", "featurize", "fr1")],
        task_states={"t1": [state("RUNNING", "Running", "10.5")]},
    )
    recs = convert(snap)
    (attempt,) = [r for r in recs if r["kind"] == "task_attempt"]
    (run,) = [r for r in recs if r["kind"] == "run_state"]
    assert (attempt["state"], attempt["end_ns"]) == ("running", None)
    assert (run["state"], run["native_state"]) == ("running", "Running")
    assert not any(r.get("passive") for r in recs)


def _task_run(tid: str, step: str, flow_run: str, **kw: Any) -> dict[str, Any]:
    return {
        "id": tid,
        "task_key": f"{step}-0a1b2c3d",
        "flow_run_id": flow_run,
        "task_version": f"v-{step}",
        "task_inputs": {},
        "state": None,
        **kw,
    }


def _event(
    task_run: str, key: str, sha: str, t: str, upstream: tuple[str, ...] = ()
) -> dict[str, Any]:
    related = [{"prefect.resource.id": k, "prefect.resource.role": "asset"} for k in upstream]
    related.append(
        {"prefect.resource.id": f"prefect.task-run.{task_run}", "prefect.resource.role": "task-run"}
    )
    return {
        "event": "prefect.asset.materialization.succeeded",
        "occurred": f"2026-11-25T06:40:{t}Z",
        "resource": {"prefect.resource.id": key},
        "related": related,
        "payload": {"sha256": sha},
    }


def test_convert_links_inputs_through_upstream_task_runs(tmp_path: Path) -> None:
    fr = "flow-1"
    raw = "file:///w/artifacts/prefect/2026-01-02/raw.csv"
    landing = "file:///w/world/landing/2026-01-02.csv"
    snap = Snapshot(
        flow_runs=[{"id": fr, "parameters": {"logical_date": "2026-01-02"}, "name": "r"}],
        flow_states={fr: [state("FAILED", "Failed", "30.0")]},
        task_runs=[
            _task_run("t1", "ingest", fr),
            _task_run(
                "t2", "validate", fr, task_inputs={"raw": [{"input_type": "task_run", "id": "t1"}]}
            ),
        ],
        task_states={
            "t1": [state("RUNNING", "Running", "10.0"), state("COMPLETED", "Completed", "11.0")],
            "t2": [state("RUNNING", "Running", "12.0"), state("FAILED", "Failed", "13.0")],
        },
        events=[_event("t1", raw, "abc", "11.0", upstream=(landing,))],
    )
    records = convert(snap, alerts_dir=tmp_path)
    ingest, validate = (r for r in records if r["kind"] == "task_attempt")
    sha_ours = {"practiced": ["sha256"]}  # the flow's hash in asset metadata
    assert ingest["outputs"] == [{"name": "raw", "uri": raw[7:], "sha256": "abc", **sha_ours}]
    assert {"uri": landing[7:], "sha256": None}.items() <= ingest["inputs"][0].items()
    assert validate["state"] == "failed" and validate["run"] == fr
    assert validate["inputs"] == [{"name": "raw", "uri": raw[7:], "sha256": "abc", **sha_ours}]
    assert validate["code_version"] == "v-validate"
    (run_state,) = (r for r in records if r["kind"] == "run_state")
    assert run_state["state"] == "failed" and run_state["logical_date"] == "2026-01-02"
    assert native.run_tag("x") == "orchbench-run:x"


def test_run_state_names_the_pool_and_the_worker_that_submitted_it() -> None:
    snap = Snapshot(
        flow_runs=[
            {"id": "fr1", "name": "retrain-2026-01-01", "work_pool_name": "p", "parameters": {}},
            {"id": "fr2", "name": "retrain-2026-01-02", "parameters": {}},
        ],
        flow_states={"fr1": [state("COMPLETED", "Completed", "30.0")]},
        worker_events=[
            {
                "event": "prefect.worker.submitted-flow-run",
                "resource": {"prefect.resource.name": "w-2"},
                "related": [
                    {
                        "prefect.resource.id": "prefect.flow-run.fr1",
                        "prefect.resource.role": "flow-run",
                    },
                    {
                        "prefect.resource.id": "prefect.work-pool.x",
                        "prefect.resource.role": "work-pool",
                    },
                ],
            },
        ],
    )
    states = {r["run"]: r for r in convert(snap) if r["kind"] == "run_state"}
    assert (states["fr1"]["work_pool"], states["fr1"]["worker"]) == ("p", "w-2")
    assert (states["fr2"]["work_pool"], states["fr2"]["worker"]) == (None, None)


def test_code_version_is_the_flow_runs_deployment_version_per_task(tmp_path: Path) -> None:
    """Without a task ``version``, a task run's code version is its flow run's deployment
    version (the git revision served), else the flow version."""
    runs = [
        {
            "id": "f1",
            "parameters": {"logical_date": "2026-01-01"},
            "name": "a",
            "deployment_version": "5a08691",
            "flow_version": "filehash",
        },
        {
            "id": "f2",
            "parameters": {"logical_date": "2026-01-02"},
            "name": "b",
            "deployment_version": None,
            "flow_version": "filehash",
        },
    ]
    done = [state("RUNNING", "Running", "10.0"), state("COMPLETED", "Completed", "11.0")]
    task_runs = [
        {**_task_run("t1", "train", "f1"), "task_version": None},
        {**_task_run("t2", "train", "f2"), "task_version": None},
    ]
    snap = Snapshot(flow_runs=runs, task_runs=task_runs, task_states={"t1": done, "t2": done})
    records = [r for r in convert(snap, alerts_dir=tmp_path) if r["kind"] == "task_attempt"]
    assert [r["code_version"] for r in records] == [
        "deployment 5a08691/train",
        "flow filehash/train",
    ]
    # the deployment version is the git revision our code set: practiced, and the flow's
    # own version is what Prefect recorded by itself in its place
    assert [r["practiced"] for r in records] == [["code_version"], None]
    assert [r["code_version"] for r in tr.native_only(records)] == [
        "flow filehash/train",
        "flow filehash/train",
    ]
