"""The Airflow trace converter's content-hash helpers on hand-made API records (no Airflow).

The records have the shape of Airflow 3's REST API v2 answers (``/assets/events``,
``.../taskInstances/{task}/tries``); what the DAG puts in an event's
``extra`` (``path``, ``sha256``) is this project's own contract.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runners.airflow.native import Collector, _Run, events_by_try, hash_before, to_ns, written

RUN = "scheduled__2026-01-02T00:00:00+00:00"


def ts(sec: str) -> str:
    return f"2026-12-04T05:16:{sec}Z"


def event(task: str, name: str, path: str, sha: str | None, at: str) -> dict[str, Any]:
    extra = {"path": path, "logical_date": "2026-01-02"}
    if sha is not None:
        extra["sha256"] = sha
    return {
        "name": f"retrain__x.{name}",
        "uri": f"file:///art/{name}",
        "extra": extra,
        "source_dag_id": "retrain__x",
        "source_run_id": RUN,
        "source_task_id": task,
        "timestamp": ts(at),
    }


def a_try(n: int, state: str, start: str) -> dict[str, Any]:
    return {"task_id": "ingest", "try_number": n, "state": state, "start_date": ts(start)}


def test_an_event_names_the_path_written_and_its_hash() -> None:
    e = event("ingest", "raw", "/art/2026-01-02/raw.csv", "aa", "10.0")
    assert written(e) == {
        "name": "raw",
        "uri": "/art/2026-01-02/raw.csv",
        "sha256": "aa",
        "practiced": ["sha256"],  # the DAG's hash; the path is Airflow's
    }
    bare = {"name": "retrain__x.champion", "uri": "file:///world/champion.json", "extra": {}}
    assert written(bare) == {"name": "champion", "uri": "/world/champion.json", "sha256": None}


def test_each_event_belongs_to_the_successful_try_that_emitted_it() -> None:
    """The schema break's day 2: ingest succeeded, was cleared and succeeded again; a failed
    try between them emitted nothing."""
    tries = [a_try(1, "success", "10.0"), a_try(2, "failed", "20.0"), a_try(3, "success", "30.0")]
    first = event("ingest", "raw", "/art/raw.csv", "aa", "11.0")
    second = event("ingest", "raw", "/art/raw.csv", "bb", "31.0")
    got = events_by_try([second, first], tries)
    assert {n: [e["extra"]["sha256"] for e in evs] for n, evs in got.items()} == {
        1: ["aa"],
        3: ["bb"],
    }
    # no start precedes the event (clock skew): the last successful try
    early = event("ingest", "raw", "/art/raw.csv", "cc", "09.0")
    assert list(events_by_try([early], tries)) == [3]
    assert events_by_try([first], [a_try(1, "failed", "10.0")]) == {}


def test_an_input_takes_the_hash_last_recorded_for_its_path_before_the_try() -> None:
    raw = "/art/2026-01-02/raw.csv"
    events = [
        event("ingest", "raw", raw, "aa", "11.0"),
        event("ingest", "raw", raw, "bb", "31.0"),  # the re-run rewrote the partition
        event("ingest", "raw", "/art/2026-01-03/raw.csv", "cc", "12.0"),  # another path
    ]
    assert hash_before(events, raw, to_ns(ts("15.0"))) == "aa"
    assert hash_before(events, raw, to_ns(ts("40.0"))) == "bb"
    assert hash_before(events, raw, to_ns(ts("05.0"))) is None  # nothing written yet
    assert hash_before(events, raw, None) is None
    # only events that recorded a hash count
    unhashed = [event("ingest", "raw", raw, None, "11.0")]
    assert hash_before(unhashed, raw, to_ns(ts("40.0"))) is None
    # a slot an earlier run's task updated (the champion register wrote yesterday)
    champion = event("register", "champion", "/world/champion.json", "dd", "01.0")
    champion["source_run_id"] = "scheduled__2026-01-01T00:00:00+00:00"
    assert hash_before([champion], "/world/champion.json", to_ns(ts("15.0"))) == "dd"


def test_every_successful_try_of_train_gets_its_model_lineage(tmp_path: Path) -> None:
    """Silent corruption's day 2: train succeeded on the bad features, the run was cleared,
    and train succeeded again on repaired ones; each model is tied to its own features."""
    model, features = "/art/2026-01-02/model.json", "/art/2026-01-02/features.csv"
    ti = {
        "task_id": "train",
        "state": "success",
        "try_number": 2,
        "rendered_fields": {"op_kwargs": {"model": model, "features": features}},
    }
    run = _Run(RUN, "2026-01-02", {"train": ti}, {"train": {}}, {}, [])
    tries = [
        {**a_try(1, "success", "10.0"), "task_id": "train"},
        {**a_try(2, "success", "30.0"), "task_id": "train"},
    ]

    def rec(model_sha: str, features_sha: str) -> dict[str, Any]:
        return {
            "inputs": [{"name": "features", "uri": features, "sha256": features_sha}],
            "outputs": [{"name": "model", "uri": model, "sha256": model_sha}],
        }

    collector = Collector(None, "retrain__x", tmp_path, [])  # type: ignore[arg-type]
    got = collector._derived(run, "train", tries, [rec("m1", "bad"), rec("m2", "good")])
    assert [(r["kind"], r["model_sha256"], r["training"]["sha256"]) for r in got] == [
        ("model_lineage", "m1", "bad"),
        ("model_lineage", "m2", "good"),
    ]
    # a failed try between them trained nothing that lasted: no record for it
    tries.insert(1, {**a_try(2, "failed", "20.0"), "task_id": "train"})
    got = collector._derived(run, "train", tries, [rec("m1", "bad"), {}, rec("m2", "good")])
    assert [r["model_sha256"] for r in got] == ["m1", "m2"]


def test_code_version_is_the_dag_version_and_the_runs_bundle_version(tmp_path: Path) -> None:
    """A try's code version is the DAG version it ran, per task; a versioned bundle adds
    the dag run's bundle version. The record itself is Airflow's (no practiced mark)."""
    ti = {
        "task_id": "train",
        "state": "success",
        "try_number": 1,
        "rendered_fields": {"op_kwargs": {"features": "/a/f.csv", "model": "/a/m.json"}},
    }
    a = {**ti, "start_date": ts("10.0"), "dag_version": {"version_number": 1}}
    collector = Collector(None, "retrain__x", tmp_path, [])  # type: ignore[arg-type]
    local = _Run(RUN, "2026-01-02", {"train": ti}, {}, {}, [])
    rec = collector._attempt(local, a, [])
    assert rec["code_version"] == "dag v1/train"
    assert "practiced" not in rec
    git = _Run(RUN, "2026-01-02", {"train": ti}, {}, {}, [], bundle_version="0d1cd13")
    assert collector._attempt(git, a, [])["code_version"] == "dag v1 (0d1cd13)/train"
