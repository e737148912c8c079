"""OpenLineage events from hand-made native traces: what maps to what, the practiced cut,
determinism, untimed records, and the shipped spec catching a broken event."""

from __future__ import annotations

from typing import Any

from orchbench import trace as tr
from orchbench.lineage_events import export, read, validate

S = 1_000_000_000


def _trace() -> list[dict[str, Any]]:
    ref = {"name": "raw", "uri": "/w/raw.csv", "sha256": "ab" * 32}
    out = {"name": "features", "uri": "/w/f.parquet", "sha256": "cd" * 32, "practiced": ["sha256"]}
    return [
        tr.task_attempt(logical_date="2026-01-01", step="featurize", state="failed", source="t",
                        run="r1", start_ns=10 * S, end_ns=11 * S, inputs=[ref]),
        tr.task_attempt(logical_date="2026-01-01", step="featurize", state="success", source="t",
                        run="r1", start_ns=12 * S, end_ns=13 * S, inputs=[ref], outputs=[out],
                        code_version="v2"),
        tr.task_attempt(logical_date="2026-01-01", step="train", state="upstream_failed",
                        source="t", run="r1", start_ns=14 * S, end_ns=14 * S),
        tr.task_attempt(logical_date="2026-01-01", step="canary", state="unknown", source="t"),
        tr.record("run_state", run="r1", logical_date="2026-01-01", state="failed", t_ns=15 * S),
        tr.record("model_lineage", model_sha256="ef" * 32, model_uri="/w/m.pkl",
                  training={"uri": "/w/f.parquet", "sha256": "cd" * 32}),
    ]  # fmt: skip


def test_each_attempt_is_a_start_and_its_end_under_the_run_of_its_date() -> None:
    made = export(_trace(), "sys", "run-1", end_ns=20 * S)
    kinds = [(e["job"]["name"].split(".")[-1], e["eventType"]) for e in made.events]
    assert kinds == [
        ("featurize", "START"), ("featurize", "FAIL"), ("featurize", "START"),
        ("featurize", "COMPLETE"), ("train", "START"), ("train", "ABORT"),
        ("daily_retraining", "FAIL"), ("model_lineage", "COMPLETE"),
    ]  # fmt: skip
    assert made.untimed == 1  # the canary record has no time
    fail, done = made.events[1], made.events[3]
    assert fail["outputs"] == [] and fail["inputs"][0]["facets"]["version"]["datasetVersion"]
    (written,) = done["outputs"]
    assert written["name"] == "/w/f.parquet"
    assert written["facets"]["version"]["datasetVersion"] == "cd" * 32
    assert done["job"]["facets"]["sourceCodeLocation"]["version"] == "v2"
    assert done["run"]["facets"]["nominalTime"]["nominalStartTime"] == "2026-01-01T00:00:00Z"
    parents = {e["run"]["facets"]["parent"]["run"]["runId"] for e in made.events[:6]}
    assert parents == {made.events[6]["run"]["runId"]}  # one run of the date, r1
    assert made.events[0]["run"]["runId"] == made.events[1]["run"]["runId"]
    assert made.events[1]["run"]["runId"] != made.events[2]["run"]["runId"]
    assert made.events[-1]["eventTime"] == "1970-01-01T00:00:20Z"  # the run's end
    assert export(_trace(), "sys", "run-1", end_ns=20 * S).events == made.events
    assert all(validate(e) == [] for e in made.events)


def test_the_native_view_drops_what_our_lineage_code_added() -> None:
    made = export(_trace(), "sys", "run-1", end_ns=20 * S, native=True)
    (done,) = [e for e in made.events if e["eventType"] == "COMPLETE" and e["outputs"]
               and e["job"]["name"].endswith("featurize")]  # fmt: skip
    assert done["outputs"][0]["facets"] == {}  # the system recorded the uri, we the hash


def test_the_shipped_spec_catches_a_broken_event() -> None:
    event = export(_trace(), "sys", "run-1", end_ns=20 * S).events[3]
    assert validate(event) == []
    bad = {**event, "eventType": "DONE", "producer": 7}
    del bad["outputs"][0]["facets"]["version"]["datasetVersion"]
    problems = validate(bad)
    assert any(p.startswith("eventType") for p in problems), problems
    assert any(p.startswith("producer") for p in problems), problems
    assert any("outputs.0.facets.version" in p and "datasetVersion" in p for p in problems)


def test_reading_the_events_back_gives_the_records_lineage_is_scored_on() -> None:
    made = export(_trace(), "sys", "run-1", end_ns=20 * S)
    back = read(made.events)
    attempts = [r for r in back if r["kind"] == "task_attempt"]
    assert [(r["step"], r["state"]) for r in attempts] == [
        ("featurize", "failed"), ("featurize", "success"), ("train", "upstream_failed"),
    ]  # fmt: skip  # the untimed canary is gone: the export cannot place it
    done = attempts[1]
    assert done["logical_date"] == "2026-01-01" and done["code_version"] == "v2"
    assert (done["start_ns"], done["end_ns"]) == (12 * S, 13 * S)
    assert done["inputs"] == [{"uri": "/w/raw.csv", "sha256": "ab" * 32}]
    assert done["outputs"] == [{"uri": "/w/f.parquet", "sha256": "cd" * 32}]
    assert attempts[0]["outputs"] == []  # a failed attempt's outputs are not exported
    (lineage,) = [r for r in back if r["kind"] == "model_lineage"]
    assert lineage["model_sha256"] == "ef" * 32
    assert lineage["training"] == [{"uri": "/w/f.parquet", "sha256": "cd" * 32}]
    native = read(export(_trace(), "sys", "run-1", end_ns=20 * S, native=True).events)
    assert [r for r in native if r.get("step") == "featurize"][1]["outputs"] == [
        {"uri": "/w/f.parquet", "sha256": None}
    ]


def test_a_ref_recorded_by_its_hash_alone_survives_the_round_trip() -> None:
    hashed = {"name": None, "uri": None, "sha256": "ab" * 32}
    rec = tr.task_attempt(logical_date="2026-01-01", step="ingest", state="cached", source="t",
                          attempt=3, start_ns=S, end_ns=2 * S, outputs=[hashed])  # fmt: skip
    made = export([rec], "sys", "run-1", end_ns=None)
    assert all(validate(e) == [] for e in made.events)
    (back,) = read(made.events)
    assert (back["attempt"], back["state"]) == (3, "cached")  # no OpenLineage state says so
    assert back["outputs"] == [{"uri": None, "sha256": "ab" * 32}]
