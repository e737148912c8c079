"""A remote Airflow deployment the user runs (``--airflow-url http://user:password@host:port``).

The harness starts and stops nothing: it talks to the deployment's REST API (logging in with
the URL's credentials) and publishes each scenario run's deployment file into the DAG
bundle's ``orchbench_deployments/`` folder. It finds that folder from the bundle itself:
``orchbench export airflow DIR`` writes the DAG files (including the probe's
``orchbench_overhead_40x_fibo10``) to deploy into the deployment's dags folder, and the REST
API's ``fileloc`` of that DAG says where it lives. So the deployment must see the same paths
as the harness (a shared filesystem): its dags folder, and the run directories (world,
journal, artifacts), which its task processes read and write.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from runners.airflow.api import AirflowAPI, APIError, split_url
from runners.airflow.stack import AirflowStack

ENV_URL = "ORCHBENCH_AIRFLOW_URL"
# the short shape's probe DAG, in the exported bundle: its fileloc locates the folder
PROBE_DAG = "orchbench_overhead_40x_fibo10"
FIND_TIMEOUT_S = 60.0


class RemoteAirflow:
    """The parts of ``AirflowStack`` the adapter uses, for a deployment it does not own."""

    procs: dict[str, Any] = {}  # noqa: RUF012 (no process of ours)
    startup: dict[str, float] = {}  # noqa: RUF012
    pss_idle_mb: float | None = None
    processes_idle: int | None = None
    home: Path | None = None

    def __init__(self, url: str) -> None:
        self.root, auth = split_url(url)
        self._api = AirflowAPI(f"{self.root}/api/v2", auth=auth)
        self.dags = Path()

    # the deployment helpers are the stack's own: they only use api(), dags, deployments
    deploy = AirflowStack.deploy
    touch_dags = AirflowStack.touch_dags
    wait_dag = AirflowStack.wait_dag

    @property
    def deployments(self) -> Path:
        return self.dags / "orchbench_deployments"

    def api(self) -> AirflowAPI:
        return self._api

    def start(self) -> None:
        """Check the API answers and find the exported bundle's folder (raises RuntimeError)."""
        end = time.monotonic() + FIND_TIMEOUT_S
        while True:
            try:
                fileloc = self._api.get(f"/dags/{PROBE_DAG}")["fileloc"]
                break
            except APIError as e:
                if e.status not in (404, None) or time.monotonic() > end:
                    raise RuntimeError(
                        f"airflow at {self.root}: no DAG {PROBE_DAG} ({e}); deploy the bundle "
                        "of `orchbench export airflow DIR` into its dags folder"
                    ) from None
            time.sleep(1.0)
        self.dags = Path(fileloc).parent
        if not (self.dags / "orchbench_retrain.py").is_file():
            raise RuntimeError(
                f"airflow at {self.root} parses {fileloc}, but {self.dags} is not visible here "
                "with orchbench_retrain.py in it: the harness and the deployment must share "
                "the filesystem (same paths)"
            )
        self.deployments.mkdir(exist_ok=True)

    def alive(self) -> bool:
        try:
            self._api.get("/monitor/health")
        except APIError:
            return False
        return True

    def kill_tasks(self) -> int:
        """Nothing to kill here: Airflow stops the tasks of runs marked failed."""
        return 0

    def kill(self) -> None:
        """The deployment is not ours: nothing is stopped."""

    def pss_mb(self) -> float | None:
        return None

    def settings(self) -> dict[str, str]:
        return {"remote_url": self.root, "dags_folder": str(self.dags)}
