"""Result files are typed and versioned: an older file loads through its migration, an
unknown version is refused with a message naming it, and writing keeps the byte layout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from orchbench import records
from orchbench.records import SchemaError, read_env, read_run
from orchbench.report import build_report
from orchbench.report.load import load_attempts, load_runs
from orchbench.trace import SCHEMA_ID, read_trace, task_attempt, write_trace

# A run directory written by orchbench before this change (run.json orchbench.run/1,
# env.json without a schema key): the in-process runner's 2-day schema break.
V1_RESULTS = Path(__file__).resolve().parents[1] / "fixtures" / "run-v1"
V1_RUN = next(V1_RESULTS.glob("*/*/*/run.json")).parent


def test_run_json_v1_loads_through_its_migration() -> None:
    raw = json.loads((V1_RUN / "run.json").read_text())
    assert raw["schema"] == "orchbench.run/1"
    run = read_run(V1_RUN / "run.json")
    assert run.schema_id == records.RUN_SCHEMA == "orchbench.run/6"
    assert run.attempts is None  # /1 recorded no classification
    assert run.metrics is not None
    got = run.metrics.model_dump(exclude_unset=True)
    # renamed keys keep their value and their place (/2: the overhead's name; /4:
    # alert_delivered is alerted); detected and detection_s, which mixed an alert with
    # what the system's view showed, are dropped (/4); every other key is as written
    assert got["outside_steps_s_per_attempt"] == raw["metrics"]["overhead_s_per_task"]
    assert got["alerted"] == raw["metrics"]["alert_delivered"]
    # /5: human_actions counted commands (operator_commands), rerun_ratio is dropped, the
    # whole-trace lineage is lineage_practiced
    names = {
        "overhead_s_per_task": "outside_steps_s_per_attempt",
        "alert_delivered": "alerted",
        "human_actions": "operator_commands",
    }
    dropped = ("detected", "detection_s", "rerun_ratio")
    renamed = [names.get(k, k) for k in raw["metrics"] if k not in dropped]
    assert got.pop("lineage_practiced") == raw["metrics"]["lineage_completeness"]
    assert list(got) == renamed
    assert {k: v for k, v in got.items() if k not in names.values()} == {
        k: v for k, v in raw["metrics"].items() if k not in (*names, *dropped)
    }
    assert run.status == "completed" and run.recovery_plan == raw["recovery_plan"]


def test_env_json_v1_without_schema_loads_through_its_migration() -> None:
    raw = json.loads((V1_RUN / "env.json").read_text())
    assert "schema" not in raw
    env = read_env(V1_RUN / "env.json")
    assert env.schema_id == "orchbench.env/4"
    assert records.as_dict(env) == {"schema": "orchbench.env/4", **raw}
    assert env.system_version is None and env.notes is None


def test_report_reads_a_v1_run_and_shows_the_renamed_overhead(tmp_path: Path) -> None:
    runs = load_runs(V1_RESULTS)
    assert len(runs) == 1 and "overhead_s_per_task" not in runs
    assert runs["outside_steps_s_per_attempt"].iloc[0] > 0
    att = load_attempts(V1_RUN)
    assert len(att) == 16 and att["stale"].isna().all()  # not recorded, not guessed
    out = build_report(V1_RESULTS, tmp_path / "report")
    assert "outside steps" in (out / "report.md").read_text()


@pytest.mark.parametrize("name", ["run.json", "env.json"])
def test_an_unknown_version_is_refused_with_its_name(tmp_path: Path, name: str) -> None:
    data = json.loads((V1_RUN / name).read_text())
    fmt = "orchbench.run" if name == "run.json" else "orchbench.env"
    data["schema"] = f"{fmt}/0"
    path = tmp_path / name
    path.write_text(json.dumps(data))
    read = read_run if name == "run.json" else read_env
    with pytest.raises(SchemaError) as e:
        read(path)
    readable = "/1, /2, /3, /4, /5, /6" if name == "run.json" else "/1, /2, /3, /4"
    assert str(e.value) == (
        f"{path}: schema {fmt}/0 is not supported (this orchbench reads {fmt}{readable})"
    )


def test_a_newer_version_is_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"schema": "orchbench.run/7", "scenario": "s"}))
    with pytest.raises(SchemaError, match=r"schema orchbench.run/7 is not supported"):
        read_run(path)


def test_the_report_refuses_a_results_tree_with_an_unknown_run_version(tmp_path: Path) -> None:
    res = tmp_path / "results"
    shutil.copytree(V1_RESULTS, res)
    run_json = next(res.glob("*/*/*/run.json"))
    data = json.loads(run_json.read_text())
    run_json.write_text(json.dumps({**data, "schema": "orchbench.run/0"}))
    with pytest.raises(SchemaError, match=r"run.json: schema orchbench.run/0 is not supported"):
        load_runs(res)


def test_content_that_does_not_fit_the_model_is_named(tmp_path: Path) -> None:
    data = json.loads((V1_RUN / "run.json").read_text())
    data["status"] = "finished"
    data["metrics"]["steps_executed"] = "two"
    path = tmp_path / "run.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SchemaError) as e:
        read_run(path)
    assert "status" in str(e.value) and "metrics.steps_executed" in str(e.value)


def test_writing_a_migrated_record_keeps_the_layout_of_existing_fields(tmp_path: Path) -> None:
    """Key order, number types and indentation are those the file was written with."""
    raw_text = (V1_RUN / "run.json").read_text()
    run = read_run(V1_RUN / "run.json")
    records.write_record(tmp_path / "run.json", run)
    again = (tmp_path / "run.json").read_text()
    expected = (
        raw_text.replace('"orchbench.run/1"', '"orchbench.run/6"')
        .replace("overhead_s_per_task", "outside_steps_s_per_attempt")
        .replace('    "detected": true,\n    "detection_s": 0.117516443,\n', "")
        .replace('"alert_delivered"', '"alerted"')
        .replace('"human_actions"', '"operator_commands"')
        .replace('    "rerun_ratio": 1.0654451763650494,\n', "")
        .replace(
            '"code_version": 0.0\n    },\n',
            '"code_version": 0.0\n    },\n    "lineage_practiced": 0.16666666666666666,\n',
        )
    )
    assert again == expected.rstrip("\n").removesuffix("}").rstrip() + ',\n  "attempts": null\n}\n'
    env = read_env(V1_RUN / "env.json")
    records.write_record(tmp_path / "env.json", env)
    env_text = (V1_RUN / "env.json").read_text()
    assert (tmp_path / "env.json").read_text() == env_text.replace(
        "{\n", '{\n  "schema": "orchbench.env/4",\n', 1
    )


def test_trace_records_of_another_version_are_refused(tmp_path: Path) -> None:
    rec = task_attempt(logical_date="2026-01-01", step="ingest", state="success", source="t")
    path = tmp_path / "native.jsonl"
    write_trace(path, [rec])
    assert read_trace(path) == [rec] and rec["schema"] == SCHEMA_ID
    path.write_text(json.dumps({**rec, "schema": "orchbench.trace/0"}) + "\n")
    with pytest.raises(SchemaError) as e:
        read_trace(path)
    assert str(e.value) == (
        f"{path}: schema orchbench.trace/0 is not supported (this orchbench reads "
        "orchbench.trace/1)"
    )


def test_a_trace_record_that_does_not_fit_its_kind_is_not_written(tmp_path: Path) -> None:
    bad = {"schema": SCHEMA_ID, "kind": "container", "oom_killed": "maybe"}
    with pytest.raises(SchemaError, match="container record"):
        write_trace(tmp_path / "native.jsonl", [bad])
    with pytest.raises(SchemaError, match="unknown trace record kind 'weather'"):
        write_trace(tmp_path / "native.jsonl", [{"schema": SCHEMA_ID, "kind": "weather"}])
    assert not (tmp_path / "native.jsonl").exists()


def test_the_v1_fixture_trace_fits_the_trace_models() -> None:
    assert len(read_trace(V1_RUN / "native.jsonl")) > 0


def test_sink_alerts_read_one_systems_messages_in_time_order(tmp_path: Path) -> None:
    from orchbench.trace import sink_alerts

    sink = tmp_path / "alerts"
    sink.mkdir()
    msg = {"t_ns": 20, "subject": "train failed", "logical_date": "2026-01-02"}
    (sink / "x-2.json").write_text(json.dumps({**msg, "step": "train", "dag_id": "d1"}))
    (sink / "x-1.json").write_text(json.dumps({**msg, "t_ns": 10, "step": "exit-handler-1"}))
    (sink / "x-3.json").write_text("{torn")  # a message cut short is no message
    (sink / "y-1.json").write_text(json.dumps(msg))  # another system's
    got = sink_alerts(sink, "x-*.json", "hook", {"train"})
    assert [(a["t_ns"], a["step"], a["channel"]) for a in got] == [
        (10, None, "hook"),  # no workflow step: null
        (20, "train", "hook"),
    ]
    assert sink_alerts(sink, "x-*.json", "hook", {"train"}, keep=lambda m: "dag_id" in m) == [
        got[1]
    ]
    assert sink_alerts(tmp_path / "missing", "*.json", "hook", set()) == []


def test_run_json_v5_loads_with_the_scheduler_figures_not_measured() -> None:
    """A make bench run of 2026-12-05 (run/5): its days were fired by the harness, so the
    scheduler's figures (run/6) read as not measured, not as zero."""
    path = next((V1_RESULTS.parent / "run-v5").glob("*/*/*/run.json"))
    assert json.loads(path.read_text())["schema"] == "orchbench.run/5"
    run = read_run(path)
    assert run.schema_id == "orchbench.run/6" and run.metrics is not None
    assert run.metrics.missed_dates is None and run.metrics.in_flight is None
    assert run.metrics.human_actions is not None  # what /5 measured is kept
