"""runners.kfp.native on hand-written kfp.local output: console logs, a run directory,
cache entries and a small compiled spec (no kfp needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from orchbench import trace
from runners.kfp import native
from runners.kfp.adapter import _follow, _succeeded

CYAN, GREEN, RED, RESET = "\x1b[96m", "\x1b[92m", "\x1b[91m", "\x1b[0m"
RUN = "daily-retraining-2026-11-25-08-00-00-100000"

SPEC: dict[str, Any] = {
    "components": {
        "comp-ingest": {
            "executorLabel": "exec-ingest",
            "outputDefinitions": {
                "artifacts": {"raw": {"artifactType": {"schemaTitle": "system.Dataset"}}}
            },
        },
        "comp-validate": {
            "executorLabel": "exec-validate",
            "inputDefinitions": {
                "artifacts": {"raw": {"artifactType": {"schemaTitle": "system.Dataset"}}}
            },
            "outputDefinitions": {
                "artifacts": {"validated": {"artifactType": {"schemaTitle": "system.Dataset"}}}
            },
        },
        "comp-register": {"executorLabel": "exec-register"},
        "comp-condition-1": {
            "dag": {
                "tasks": {
                    "register": {
                        "componentRef": {"name": "comp-register"},
                        "inputs": {
                            "artifacts": {
                                "validated": {
                                    "componentInputArtifact": "pipelinechannel--validate-validated"
                                }
                            }
                        },
                        "retryPolicy": {"maxRetryCount": 2},
                        "cachingOptions": {},
                    }
                }
            }
        },
    },
    "deploymentSpec": {
        "executors": {
            "exec-ingest": {"container": {"image": "img", "command": ["a"], "args": ["1"]}},
            "exec-validate": {
                "container": {
                    "image": "img",
                    "command": ["b"],
                    "resources": {
                        "resourceCpuRequest": "1",
                        "resourceMemoryLimit": "512M",
                        "accelerator": {"resourceType": "nvidia.com/gpu", "resourceCount": "1"},
                    },
                }
            },
            "exec-register": {"container": {"image": "img", "command": ["c"]}},
        }
    },
    "root": {
        "dag": {
            "tasks": {
                "ingest": {
                    "componentRef": {"name": "comp-ingest"},
                    "retryPolicy": {"maxRetryCount": 2},
                    "cachingOptions": {"enableCache": True},
                },
                "validate": {
                    "componentRef": {"name": "comp-validate"},
                    "inputs": {
                        "artifacts": {
                            "raw": {
                                "taskOutputArtifact": {
                                    "producerTask": "ingest",
                                    "outputArtifactKey": "raw",
                                }
                            }
                        }
                    },
                    "retryPolicy": {"maxRetryCount": 2},
                    "cachingOptions": {"enableCache": True},
                },
                "condition-1": {
                    "componentRef": {"name": "comp-condition-1"},
                    "inputs": {
                        "artifacts": {
                            "pipelinechannel--validate-validated": {
                                "taskOutputArtifact": {
                                    "producerTask": "validate",
                                    "outputArtifactKey": "validated",
                                }
                            }
                        }
                    },
                    "triggerPolicy": {"condition": "inputs.parameter_values['x'] > 0.9"},
                },
            }
        }
    },
}


def write_spec(tmp_path: Path) -> Path:
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump(SPEC))
    return p


def artifact(uri: str, sha: str, **meta: Any) -> dict[str, Any]:
    return {"name": Path(uri).name, "uri": uri, "metadata": {"sha256": sha, **meta}}


def test_spec_resolves_inputs_through_condition_groups(tmp_path: Path) -> None:
    spec = native.Spec.load(write_spec(tmp_path))
    assert spec.groups == {"condition-1": ["register"]}
    assert spec.feeds["validate"] == {"raw": ("ingest", "raw")}
    assert spec.feeds["register"] == {"validated": ("validate", "validated")}
    assert spec.code["ingest"] != spec.code["validate"]


def test_declared_reads_types_condition_retries_caching_resources(tmp_path: Path) -> None:
    d = native.declared_from_spec(write_spec(tmp_path))
    assert d["kind"] == "declared"
    assert {"step": "validate", "name": "raw", "type": "system.Dataset", "direction": "input"} in (
        d["typed_artifacts"]
    )
    assert d["deploy_condition"] == "condition-1: inputs.parameter_values['x'] > 0.9"
    assert d["retries"] == {"ingest": 2, "validate": 2, "register": 2}
    assert d["caching"] is True
    assert d["caching_by_step"]["register"] is False
    assert d["resources"] == {
        "validate": {
            "cpu": "1",
            "memory": None,
            "memory_limit": "512M",
            "accelerator_type": "nvidia.com/gpu",
            "accelerator_limit": "1",
            "enforced": [],  # kfp.local ignores every resource field
        }
    }
    assert "task_executor.py" in d["enforced_note"]
    cluster = native.declared_from_spec(write_spec(tmp_path), enforces=None)
    assert "enforced" not in cluster["resources"]["validate"]  # a cluster: not said
    assert d["timeouts"] == {}


def failing_log(tmp_path: Path) -> Path:
    """validate fails twice (the second attempt killed by the harness), then the pipeline
    fails; ingest is a cache hit; the condition group is skipped as upstream-failed."""
    lines = [
        '2026-11-25 08:00:00.000 - orchbench-kfp: submitting {"logical_date": "2026-01-02",'
        ' "min_accuracy": 0.0} caching=True',
        "08:00:00.100 - INFO - Running pipeline: \x1b[95m'daily-retraining'\x1b[0m",
        "2026-11-25 08:00:00,200 - INFO - Task ingest cache hit (key=abc123def456); skipping"
        " execution.",
        f"08:00:00.300 - INFO - Executing task {CYAN}'validate'{RESET}",
        "    some streamed output of the step",
        f"08:00:01.300 - ERROR - Task {CYAN}'validate'{RESET} finished with status {RED}FAILURE"
        f"{RESET}",
        "2026-11-25 08:00:01,301 - INFO - Task validate failed (attempt 1/2). Retrying in 1.0s...",
        f"08:00:02.300 - INFO - Executing task {CYAN}'validate'{RESET}",
        "2026-11-25 08:00:05.300 - orchbench-harness: timeout killed task 'validate' after 3 s",
        f"08:00:05.400 - ERROR - Task {CYAN}'validate'{RESET} finished with status {RED}FAILURE"
        f"{RESET}",
        "2026-11-25 08:00:05,401 - INFO - Skipping task condition-1: upstream task(s)"
        " ['validate'] failed.",
        "2026-11-25 08:00:05.402 - orchbench-kfp: pipeline run FAILURE: Pipeline failed",
    ]
    p = tmp_path / "logs" / "kfp-submission-01-2026-01-02.log"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("\n".join(lines) + "\n")
    return p


def test_parse_log_events_and_state(tmp_path: Path) -> None:
    sub = native.parse_log(failing_log(tmp_path))
    assert sub.logical_date == "2026-01-02"
    assert sub.state == "failed"
    kinds = [(e.kind, e.task) for e in sub.events]
    assert kinds == [
        ("started", None),
        ("running", None),
        ("hit", "ingest"),
        ("exec", "validate"),
        ("done", "validate"),
        ("exec", "validate"),
        ("kill", "validate"),
        ("done", "validate"),
        ("upstream", "condition-1"),
        ("ended", None),
    ]
    # time-only lines take the date of the last full timestamp
    ex = next(e for e in sub.events if e.kind == "exec")
    assert ex.t_ns - sub.events[0].t_ns == 300_000_000


def test_convert_failed_submission(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / RUN / "validate").mkdir(parents=True)  # a failed task leaves no executor output
    cache = root / ".kfp_cache"
    cache.mkdir()
    raw = artifact(str(root / "older-run" / "ingest" / "raw"), "r" * 64)
    (cache / ("abc123def456" + "0" * 52 + ".json")).write_text(
        json.dumps({"raw": {"__kfp_artifact__": True, **raw}})
    )
    spec = native.Spec.load(write_spec(tmp_path))
    records = native.convert([native.parse_log(failing_log(tmp_path))], root, spec)
    tasks = [(r["step"], r["state"], r["attempt"]) for r in records if r["kind"] == "task_attempt"]
    assert tasks == [
        ("ingest", "cached", None),
        ("validate", "failed", 1),
        ("validate", "failed", 2),
        ("register", "upstream_failed", None),
    ]
    attempts = [r for r in records if r["kind"] == "task_attempt"]
    assert all(r["run"] == RUN for r in attempts)
    hashed = {"name": "raw", "uri": raw["uri"], "sha256": "r" * 64, "practiced": ["sha256"]}
    assert attempts[0]["outputs"] == [hashed]  # the hash is task.py's, the uri KFP's
    # the failed validate read the cached raw: lineage through the cache entry
    assert attempts[1]["inputs"] == [hashed]
    assert attempts[2]["killed_by"] == "harness-timeout"
    assert "killed_by" not in attempts[1]
    (state,) = [r for r in records if r["kind"] == "run_state"]
    assert state["state"] == "failed" and state["logical_date"] == "2026-01-02"
    # kfp.local's console is a log nobody is pointed to: nothing from it is a live signal
    assert records and all(r.get("passive") is True for r in records)


def test_exit_handler_messages_become_alerts_and_other_files_do_not(tmp_path: Path) -> None:
    sink = tmp_path / "alerts"
    sink.mkdir()
    message = {
        "t_ns": 5,
        "channel": "exit-handler",
        "subject": "[kfp] daily-retraining FAILED for 2026-01-02: Task exit-handler-1 failed.",
        "logical_date": "2026-01-02",
        "step": None,
    }
    (sink / "kfp-1.json").write_text(json.dumps(message))
    (sink / "kfp-2.json").write_text("{not json")  # a half-written file is skipped
    (sink / "prefect-1.json").write_text(json.dumps({**message, "t_ns": 1}))
    spec = write_spec(tmp_path)
    records = native.collect([failing_log(tmp_path)], tmp_path / "root", spec, sink)
    (alert,) = [r for r in records if r["kind"] == "alert"]
    assert alert["t_ns"] == 5 and alert["logical_date"] == "2026-01-02"
    assert alert["channel"] == "exit-handler" and not alert.get("passive")
    assert native.read_alerts(tmp_path / "missing") == []


def test_convert_success_with_metadata_and_skipped_gate(tmp_path: Path) -> None:
    root = tmp_path / "root"
    run = root / RUN
    raw = artifact(
        str(run / "ingest" / "raw"),
        "a" * 64,
        reads=[{"name": "landing", "uri": "/w/landing/d.csv", "sha256": "l" * 64}],
    )
    validated = artifact(str(run / "validate" / "validated"), "b" * 64)
    for task, key, art in (("ingest", "raw", raw), ("validate", "validated", validated)):
        (run / task).mkdir(parents=True)
        (run / task / "executor_output.json").write_text(
            json.dumps({"artifacts": {key: {"artifacts": [art]}}})
        )
    log = tmp_path / "ok.log"
    log.write_text(
        '2026-11-25 08:00:00.000 - orchbench-kfp: submitting {"logical_date": "2026-01-01"}\n'
        "08:00:00.100 - INFO - Running pipeline: 'daily-retraining'\n"
        f"08:00:00.200 - INFO - Executing task {CYAN}'ingest'{RESET}\n"
        f"08:00:00.500 - INFO - Task {CYAN}'ingest'{RESET} finished with status {GREEN}SUCCESS"
        f"{RESET}\n"
        "08:00:00.600 - INFO - Executing task 'validate'\n"
        "08:00:00.900 - INFO - Task 'validate' finished with status SUCCESS\n"
        "2026-11-25 08:00:01,000 - INFO - Skipping conditional task condition-1 (condition"
        " evaluated to False)\n"
        "2026-11-25 08:00:01.100 - orchbench-kfp: pipeline run SUCCESS\n"
    )
    spec = native.Spec.load(write_spec(tmp_path))
    records = native.convert([native.parse_log(log)], root, spec)
    by_step = {r["step"]: r for r in records if r["kind"] == "task_attempt"}
    assert by_step["ingest"]["state"] == "success"
    landing = {"name": "landing", "uri": "/w/landing/d.csv", "sha256": "l" * 64}
    assert by_step["ingest"]["inputs"] == [{**landing, "practiced": True}]  # task.py's reads
    raw_ref = {"name": "raw", "uri": raw["uri"], "sha256": "a" * 64, "practiced": ["sha256"]}
    assert by_step["validate"]["inputs"] == [raw_ref]
    assert by_step["validate"]["outputs"][0]["sha256"] == "b" * 64
    # natively: KFP's artifact URIs stay, task.py's hashes and its external files go
    native_steps = {r["step"]: r for r in trace.native_only(records) if r.get("step")}
    assert native_steps["ingest"]["inputs"] == []
    assert native_steps["validate"]["inputs"] == [{**raw_ref, "sha256": None}]
    assert native_steps["validate"]["outputs"][0]["uri"] == validated["uri"]
    assert native_steps["validate"]["outputs"][0]["sha256"] is None
    assert by_step["register"]["state"] == "skipped"
    assert by_step["ingest"]["code_version"] == spec.code["ingest"]
    (state,) = [r for r in records if r["kind"] == "run_state"]
    assert state["state"] == "success"


def test_driver_without_last_line_is_crashed(tmp_path: Path) -> None:
    log = tmp_path / "died.log"
    log.write_text(
        '2026-11-25 23:59:59.900 - orchbench-kfp: submitting {"logical_date": "2026-01-03"}\n'
        "23:59:59.950 - INFO - Running pipeline: 'daily-retraining'\n"
        "00:00:00.100 - INFO - Executing task 'ingest'\n"
    )
    sub = native.parse_log(log)
    assert sub.state == "crashed"
    # past midnight: the time-only line belongs to the next day
    assert sub.events[-1].t_ns > sub.events[0].t_ns
    records = native.convert([sub], tmp_path / "root", native.Spec.load(write_spec(tmp_path)))
    (attempt,) = [r for r in records if r["kind"] == "task_attempt"]
    # what kfp.local last said of the task (it was executing), not a state we infer
    assert attempt["state"] == "running" and attempt["end_ns"] is None


def test_adapter_follow_tracks_running_tasks(tmp_path: Path) -> None:
    log = tmp_path / "live.log"
    log.write_text("08:00:00.200 - INFO - Executing task 'train'\n08:00:00.300 - INFO - Exec")
    running: dict[str, float] = {}
    offset, started = _follow(log, 0, running)
    assert set(running) == {"train"} and started == ["train"]
    with log.open("a") as f:
        f.write(
            "uting task 'x'\n08:00:01.000 - ERROR - Task 'train' finished with status FAILURE\n"
        )
    _, started = _follow(log, offset, running)
    assert set(running) == {"x"} and started == ["x"]  # the half line counted once


def test_recovery_caching_decision() -> None:
    trace = [
        {"kind": "task_attempt", "logical_date": "d", "step": "ingest", "state": "success"},
        {"kind": "task_attempt", "logical_date": "d", "step": "train", "state": "failed"},
    ]
    assert _succeeded(trace, "d", "ingest") is True  # its cache entry is stale after a fix
    assert _succeeded(trace, "d", "train") is False
    assert _succeeded(trace, "d", "canary") is False


def test_docker_race_success_is_kept_as_kfp_printed_it(tmp_path: Path) -> None:
    """kubeflow/pipelines#13332: the DockerRunner turns a vanished container into exit 0,
    so kfp.local prints SUCCESS for a train whose step failed, then dies resolving its
    missing output. The trace keeps KFP's word; the journal says failed."""
    log = tmp_path / "race.log"
    log.write_text(
        '2026-11-25 08:00:00.000 - orchbench-kfp: submitting {"logical_date": "2026-01-02"}\n'
        "08:00:00.100 - INFO - Running pipeline: 'daily-retraining'\n"
        "08:00:00.200 - INFO - Executing task 'train'\n"
        "    ValueError: Input X contains NaN.\n"
        f"08:00:01.200 - INFO - Task {CYAN}'train'{RESET} finished with status {GREEN}SUCCESS"
        f"{RESET}\n"
        "08:00:01.201 - INFO - Task 'train' has no outputs\n"
        "Traceback (most recent call last):\n"
        "ValueError: Tried to get output 'model' from task 'train', but task 'train' not"
        " found.\n"
    )
    records = native.convert(
        [native.parse_log(log)], tmp_path / "root", native.Spec.load(write_spec(tmp_path))
    )
    (train,) = [r for r in records if r["kind"] == "task_attempt" and r["step"] == "train"]
    assert train["state"] == "success" and train["outputs"] == []
    (state,) = [r for r in records if r["kind"] == "run_state"]
    assert state["state"] == "crashed"  # the driver died on the ValueError, no last line
