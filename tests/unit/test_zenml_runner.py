"""The zenml runner's own code, without ZenML: the native trace from the plain data
``native.fetch`` hands over (our contract, built by hand here), the harness's timeout kill
of a run whose step hangs (a real process group, no ZenML in it), and the operator's
recovery commands per date.

``native.records`` and the adapter import no ZenML, so these run in the harness's venv.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from orchbench.contracts import RecoveryPlan
from orchbench.journal import Journal
from orchbench.procs import group_pids
from runners.zenml import native
from runners.zenml.adapter import HARNESS_KILL, ZenmlRunner
from tests.conftest import REPO, make_scenario, run_context

D1, D2 = "2026-01-01", "2026-01-02"


def av(ident: str, value: Any = None, uri: str | None = None) -> dict[str, Any]:
    """One artifact version as ``fetch`` gives it."""
    return {"id": ident, "uri": uri or f"/store/{ident}", "value": value}


def ref(name: str, path: str, sha: str, **more: Any) -> dict[str, Any]:
    """A reference artifact's value as ``task.run`` returns it."""
    return {"name": name, "uri": path, "sha256": sha, **more}


def step(name: str, status: str, version: int = 1, t: int = 0, **more: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": f"{name}-{status}-{version}-{t}",
        "name": name,
        "status": status,
        "version": version,
        "start_ns": t,
        "end_ns": t + 1,
        "created_ns": t,
        "original_step_run": None,
        "model_version": "mv1",
        "parameters": {"logical_date": D1},
        "code_hash": None,
        "source_code": f"def {name}(): ...",
        "inputs": {},
        "outputs": {},
        "config": {"retries": 2, "enable_cache": None, "outputs": {}},
    }
    base.update(more)
    return base


def snapshot(tmp_path: Path, deployed: bool = True) -> dict[str, Any]:
    deployment = tmp_path / "deployment.json"
    deployment.write_text(json.dumps({"deployed": deployed}))
    model = ref("model", "/files/model.pkl", "m" * 64)
    features = ref("features", "/files/features.parquet", "f" * 64)
    first = {
        "id": "run1",
        "name": "daily-retraining-2026-01-01-a",
        "status": "failed",
        "start_ns": 10,
        "end_ns": 20,
        "original_run": None,
        "parameters": {"logical_date": D1, "landing_sha256": "l" * 64},
        "steps": [
            step(
                "ingest",
                "completed",
                t=11,
                parameters={"logical_date": D1, "landing_sha256": "l" * 64},
                outputs={
                    "raw": [
                        av(
                            "a-raw",
                            ref(
                                "raw",
                                "/files/raw.parquet",
                                "r" * 64,
                                reads=[ref("landing", "/land/d1.csv", "l" * 64)],
                            ),
                        )
                    ]
                },
            ),
            step("featurize", "retried", version=1, t=12),
            step("featurize", "failed", version=2, t=13),
        ],
    }
    replay = {
        "id": "run2",
        "name": "daily-retraining-2026-01-01-b",
        "status": "completed",
        "start_ns": 30,
        "end_ns": 40,
        "original_run": "run1",
        "parameters": {"logical_date": D1},
        "steps": [
            step("ingest", "skipped", t=31, original_step_run="ingest-completed-1-11"),
            step(
                "featurize",
                "completed",
                t=32,
                outputs={"features": [av("a-feat", features)]},
            ),
            step(
                "train",
                "completed",
                t=33,
                code_hash="abc",
                inputs={"features": [av("a-feat", features)]},
                outputs={"model": [av("a-model", model)]},
                config={"retries": 2, "enable_cache": None, "outputs": {"model": "ModelArtifact"}},
            ),
            step(
                "canary",
                "completed",
                t=34,
                config={"retries": None, "enable_cache": False, "outputs": {"deployment": None}},
                outputs={"deployment": [av("a-dep", ref("deployment", str(deployment), "d"))]},
            ),
            step("some_helper", "completed", t=35),  # not a workflow step: left out
        ],
    }
    version = {
        "id": "mv1",
        "number": 1,
        "stage": "production",
        "metadata": {"model_sha256": "m" * 64},
        "artifacts": {"model": [av("a-model", model)], "features": [av("a-feat", features)]},
        "pipeline_runs": ["run1", "run2"],
    }
    return {"runs": [first, replay], "model_versions": [version]}


def by_kind(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in records if r["kind"] == kind]


def test_records_map_runs_and_every_attempt(tmp_path: Path) -> None:
    records = native.records(snapshot(tmp_path))
    runs = by_kind(records, "run_state")
    assert [(r["run"], r["state"], r["original_run"]) for r in runs] == [
        ("run1", "failed", None),
        ("run2", "success", "run1"),
    ]
    attempts = by_kind(records, "task_attempt")
    assert [(a["run"], a["step"], a["state"], a["attempt"]) for a in attempts] == [
        ("run1", "ingest", "success", 1),
        ("run1", "featurize", "failed", 1),  # ZenML's "retried": a failed try
        ("run1", "featurize", "failed", 2),
        ("run2", "ingest", "cached", 1),  # a replay's skipped step: reused, like a cache hit
        ("run2", "featurize", "success", 1),
        ("run2", "train", "success", 1),
        ("run2", "canary", "success", 1),
    ]
    assert all(a["logical_date"] == D1 and a["source"] == native.SOURCE for a in attempts)
    assert [a["zenml_status"] for a in attempts[1:3]] == ["retried", "failed"]


def test_records_keep_native_and_practiced_refs_apart(tmp_path: Path) -> None:
    attempts = by_kind(native.records(snapshot(tmp_path)), "task_attempt")
    ingest = attempts[0]
    raw = [o for o in ingest["outputs"] if o["name"] == "raw"]
    assert raw[0] == {
        "name": "raw",
        "uri": "/store/a-raw",
        "sha256": None,
        "artifact_version": "a-raw",
    }  # ZenML's own artifact version: no hash of ours
    assert raw[1]["practiced"] and raw[1]["sha256"] == "r" * 64
    landing = [i for i in ingest["inputs"] if i["name"] == "landing"]
    assert all(i.get("practiced") for i in landing) and {i["sha256"] for i in landing} == {
        "l" * 64
    }  # what the step read (our reads) and the cache-key parameter: both ours
    train = next(a for a in attempts if a["step"] == "train")
    assert train["code_version"] == "abc"  # ZenML's code_hash when it has one
    featurize = attempts[1]
    assert len(featurize["code_version"]) == 16  # else a hash of ZenML's stored source


def test_records_model_lineage_deployment_and_declared(tmp_path: Path) -> None:
    records = native.records(snapshot(tmp_path))
    (lineage,) = by_kind(records, "model_lineage")
    assert lineage["model_sha256"] == "m" * 64 and lineage["stage"] == "production"
    assert lineage["model_version"] == "mv1" and lineage["registered"] is True
    assert [t["artifact_version"] for t in lineage["training"] if not t.get("practiced")] == [
        "a-feat"
    ]
    (deployment,) = by_kind(records, "deployment")
    assert deployment["model_sha256"] == "m" * 64 and deployment["run"] == "run2"
    assert deployment["practiced"] is True and deployment["logical_date"] == D1
    (declared,) = by_kind(records, "declared")
    assert declared["retries"] == {"ingest": 2, "featurize": 2, "train": 2}
    assert declared["caching"] is True
    assert {"step": "train", "name": "model", "type": "ModelArtifact"} in declared[
        "typed_artifacts"
    ]
    assert {"step": "canary", "name": "deployment", "type": native.DATA} in declared[
        "typed_artifacts"
    ]


def test_a_canary_that_did_not_promote_is_no_deployment(tmp_path: Path) -> None:
    assert by_kind(native.records(snapshot(tmp_path, deployed=False)), "deployment") == []


def test_no_runs_no_records() -> None:
    assert native.records({"runs": [], "model_versions": []}) == []


# --- the adapter: the harness's timeout kill and the operator's commands ---------------


HANG = (
    "import sys, time; print('Step `train` has started.', flush=True); "
    "import subprocess; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
    "time.sleep(120)"
)


def test_a_hung_step_is_killed_with_its_whole_run_and_journaled(tmp_path: Path) -> None:
    """The run's process (and a child it started) printed that ``train`` started and
    hangs: after ``policy.timeout_s`` the adapter SIGKILLs the run's process group, journals
    a ``timeout_kill`` as harness help and appends the kill to the run's log."""
    scenario = make_scenario(policy={"timeout_s": 1.0, "retries": 0})
    ctx = run_context(tmp_path, scenario, "zenml")
    runner = ZenmlRunner(profile="default", repo_root=REPO)
    rc = runner._submit(ctx, D2, [sys.executable, "-c", HANG])
    assert rc == -9  # SIGKILLed, not ended by itself (it would sleep 120 s, then exit 0)
    journal = Journal.load(ctx.journal)
    (kill,) = [h for h in journal.assists if h["assist"] == "timeout_kill"]
    assert (kill["logical_date"], kill["step"], kill["timeout_s"]) == (D2, "train", 1.0)
    assert kill["pids"] and all(not Path(f"/proc/{p}").exists() or _zombie(p) for p in kill["pids"])
    assert all(not group_pids(p) for p in kill["pids"])
    log = next(ctx.logs.glob(f"zenml-run-*-{D2}.log")).read_text()
    assert HARNESS_KILL in log and "'train'" in log
    assert runner.settings()["timeout_kills"] == 1


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_step_that_ends_in_time_is_not_killed(tmp_path: Path) -> None:
    scenario = make_scenario(policy={"timeout_s": 30.0, "retries": 0})
    ctx = run_context(tmp_path, scenario, "zenml")
    runner = ZenmlRunner(profile="default", repo_root=REPO)
    quick = "print('Step `train` has started.'); print('Step `train` has finished in 0.1s.')"
    assert runner._submit(ctx, D1, [sys.executable, "-c", quick]) == 0
    assert Journal.load(ctx.journal).assists == []


def _trace_of(states: dict[tuple[str, str], str]) -> list[dict[str, Any]]:
    return [
        {"kind": "task_attempt", "logical_date": d, "step": s, "state": st}
        for (d, s), st in states.items()
    ]


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        ("failed", ["replay", "--logical-date", D2]),
        ("running", ["replay", "--logical-date", D2]),  # stuck after a kill
        ("success", ["replay", "--logical-date", D2, "--from", "train", "--no-cache"]),
        (None, ["run", "--logical-date", D2]),  # no run of the date
    ],
)
def test_recovery_command_per_last_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, last: str | None, expected: list[str]
) -> None:
    """Per date of the plan: a replay of what did not succeed, a replay from the step
    whose input the fix changed (the steps before it skipped, no cache), a new run of a
    date that never ran."""
    ctx = run_context(tmp_path, make_scenario(), "zenml")
    runner = ZenmlRunner(profile="default", repo_root=REPO)
    trace = _trace_of({(D2, "train"): last} if last else {})
    submitted: list[list[str]] = []
    monkeypatch.setattr(runner, "_trace", lambda ctx: trace)
    monkeypatch.setattr(runner, "_submit", lambda ctx, d, cmd: submitted.append(cmd) or 0)
    runner.recover(ctx, RecoveryPlan({D2: "train"}))
    assert [c[2:] for c in submitted] == [["runners.zenml", *expected]]
    (action,) = Journal.load(ctx.journal).operator_actions
    assert action["command"] == " ".join(["python", "-m", "runners.zenml", *expected])


def test_server_profile_processes_are_clients_of_the_runs_server(tmp_path: Path) -> None:
    """On ``server`` every ZenML process of the run (and the cron entry) gets the run's
    server as its store; without that server running, nothing is started against a
    store of its own."""
    from runners.zenml.server import LocalServer

    ctx = run_context(tmp_path, make_scenario(), "zenml")
    runner = ZenmlRunner(profile="server", repo_root=REPO)
    with pytest.raises(RuntimeError, match="not running"):
        runner.zenml_env(ctx)
    server = LocalServer(Path("zenml"), tmp_path / "server", tmp_path / "log", {})
    server.port = 4321
    runner._server, runner._server_run = server, ctx.work
    env = runner.zenml_env(ctx)
    assert env["ZENML_STORE_URL"] == "http://127.0.0.1:4321"
    assert env["ZENML_CONFIG_PATH"] == str(ctx.work / "zenml" / "config")
    assert "ZENML_STORE_URL=http://127.0.0.1:4321" in runner.crontab(ctx, D1, tmp_path / "l")
    assert "ZENML_STORE_URL" not in ZenmlRunner(profile="default").zenml_env(ctx)
