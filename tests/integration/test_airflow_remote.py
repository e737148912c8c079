"""``--airflow-url``: the airflow runner drives a deployment it did not start.

The "remote" deployment is this project's loopback stack, started in a separate process
(its own sessions) with real users (``SIMPLE_AUTH_MANAGER_ALL_ADMINS`` off, so the API needs
a token) and no DAG files of its own: its dags folder holds only what
``orchbench export airflow DIR`` wrote. A 2-day schema break run through it must have the
default profile's outcome, and the harness must neither start nor stop any of it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orchbench import harness
from orchbench.trace import read_trace
from runners.airflow.api import AirflowAPI, APIError
from runners.airflow.stack import session_processes
from tests.integration.test_airflow_celery import _descendants, _schema_break_2d, _title

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venvs" / "airflow"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (VENV / "bin" / "airflow").is_file(), reason="no .venvs/airflow"),
]

REMOTE = """
import json, signal, sys, time
from pathlib import Path
import runners.airflow.stack as st

home, venv = Path(sys.argv[1]), Path(sys.argv[2])
st.DAGS_SRC = home / "no-dags"  # the DAGs come from `orchbench export`, not from the stack
(home / "passwords.json").write_text(json.dumps({"user": "password"}))

class Remote(st.AirflowStack):
    def settings(self):
        return {**super().settings(),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "user:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json")}

stack = Remote(home, "tuned", venv)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
try:
    stack.start()
    print(json.dumps({"port": stack.port, "sessions": sorted(stack.sessions)}), flush=True)
    while True:
        time.sleep(1)
finally:
    stack.kill()
"""


def _ours(root: int, remote: int) -> list[str]:
    """Orchestrator processes below ``root`` that are not the remote deployment's."""
    theirs = set(_descendants(remote))
    kinds = ("airflow", "celeryd", "redis-server", "postgres")
    return [
        f"{p} {_title(p)[:80]}"
        for p in _descendants(root)
        if p not in theirs and p != root and any(k in _title(p) for k in kinds)
    ]


def test_remote_deployment_is_driven_not_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "remote"
    (home / "no-dags").mkdir(parents=True)
    out = subprocess.run(
        [sys.executable, "-m", "orchbench", "export", "airflow", str(home / "dags")],
        cwd=REPO, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    exported = sorted(Path(p).name for p in out.stdout.split())
    assert exported == ["orchbench_overhead.py", "orchbench_retrain.py"]
    assert (home / "dags" / "orchbench_deployments").is_dir()

    remote = subprocess.Popen(
        [sys.executable, "-c", REMOTE, str(home), str(VENV)],
        cwd=REPO, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        assert remote.stdout is not None
        info: dict[str, Any] = json.loads(remote.stdout.readline() or "null")
        assert info, "the remote stack did not start"
        sessions = set(info["sessions"])
        before = sorted(p.pid for p in session_processes(sessions))
        url = f"http://user:password@127.0.0.1:{info['port']}"
        base = f"http://127.0.0.1:{info['port']}/api/v2"
        api = AirflowAPI(base, auth=("user", "password"))
        with pytest.raises(APIError) as denied:  # the deployment wants a token
            AirflowAPI(base).get("/dags")
        assert denied.value.status == 401

        monkeypatch.setenv("ORCHBENCH_AIRFLOW_URL", url)
        scenario = _schema_break_2d(tmp_path)
        run_dir = harness.run_scenario(scenario, "airflow", "default", tmp_path / "runs")

        # the harness started nothing of its own and stopped nothing of the deployment
        assert _ours(os.getpid(), remote.pid) == []
        after = {p.pid for p in session_processes(sessions)}
        components = [p for p in before if "worker --" not in _title(p)]
        assert set(components) <= after
        assert remote.poll() is None
        assert api.get("/monitor/health")["scheduler"]["status"] == "healthy"
    finally:
        if remote.poll() is None:
            os.killpg(remote.pid, signal.SIGTERM)
            remote.wait(timeout=60)
    assert session_processes(sessions) == [], "the remote stack's own cleanup failed"

    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "completed", run["reason"]
    assert run["recovery_plan"] == {"2026-01-02": "ingest"}
    m = run["metrics"]
    # the default profile's outcome (tests/integration/test_airflow_celery.py measures it)
    assert m["visible"] and m["alerted"] and m["recovered"]
    assert (m["stale_executions"], m["failed_attempts"], m["human_actions"]) == (0, 1, 1)
    assert m["bad_model_deployed"] is False and m["final_state_correct"] is True
    env = json.loads((run_dir / "env.json").read_text())
    assert env["settings"]["remote"] is True
    assert env["settings"]["airflow_config"]["dags_folder"] == str(home / "dags")
    assert "password" not in json.dumps(env)
    trace = read_trace(run_dir / "native.jsonl")  # read back from the remote's REST API
    assert any(r["kind"] == "task_attempt" and r["state"] == "failed" for r in trace)
