"""The ``airflow`` scale engine: the scale DAGs (``scale_dags/orchbench_scale.py``) on one real
Airflow 3 stack (``stack.AirflowStack``, profile ``default``: Airflow's defaults as
installed, LocalExecutor, SQLite). Only orchestration; shapes, task and metrics are
``orchbench.scale``'s.

The stack is started once per engine (``start``, outside every measured interval; it ends
with one unmeasured run of each DAG, so no point pays the fresh stack's first-task costs)
and every request goes through the public REST API (``/api/v2``), as a user's script would:

- ``fanout-N``: one ``POST /dags/orchbench_scale_fanout/dagRuns`` (logical date
  ``FIRST_DATE``, ``conf.n = N``); its ``items`` task returns ``range(N)`` and
  ``scale_task`` is mapped over it (``.expand``, dynamic task mapping). Parallelism:
  ``min(core.parallelism`` (the LocalExecutor's worker processes), the DAG's
  ``max_active_tasks`` (``core.max_active_tasks_per_dag``, a limit per dag run), the
  ``default_pool``'s slots). The run's wall time includes the ``items`` task before the
  fan-out (one task process, not journaled: it is how a mapped fan-out gets its items).
- ``backfill-D``: one ``POST /backfills`` over the D days of the ``@daily`` DAG
  ``orchbench_scale_daily`` (``airflow backfill create``), with the API's own default
  ``max_active_runs`` (``BackfillPostBody``); the backfill creates the D runs at once,
  queued, and the scheduler starts at most ``max_active_runs`` of them at a time.
  Parallelism: ``min(`` that, ``core.parallelism``, pool slots``)`` (one task per run).
- ``concurrent-K``: K ``POST /dags/orchbench_scale_daily/dagRuns``, one per logical
  date, sent back to back. Parallelism: ``min(`` the DAG's ``max_active_runs``
  (``core.max_active_runs_per_dag``), ``core.parallelism``, pool slots``)``.

Every limit is read from the stack as run: ``[core]`` options through
``airflow.configuration.conf`` in the stack's environment, the DAGs' ``max_active_*`` and
the pool's slots from the REST API, the backfill default from Airflow's own request model.

Wall time: ``time.time_ns()`` just before the first POST to the latest ``end_date`` of the
point's dag runs, Airflow's own timestamp (the scheduler sets it when it sees the run's
last task done), so it includes queueing, the scheduler's loop, one task process per task
(fork, supervisor, parse of the DAG file) and the run's state change. The harness polls
the run states every ``POLL_S`` only to know when to read them. After each sample the
point's runs are deleted (``DELETE /dags/{id}/dagRuns/{run_id}``) and the backfill is
cancelled if the scheduler has not marked it complete yet (it does so every 30 s, and a
DAG has at most one active backfill), so the next sample can reuse the logical dates.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from pathlib import Path
from typing import Any, ClassVar

from orchbench.runner import EnvironmentMissing
from orchbench.scale import PointContext, ScaleEngine, ScaleTimeout, Shape, Timing
from runners.airflow.adapter import AirflowRunner
from runners.airflow.api import AirflowAPI, APIError, q
from runners.airflow.native import to_ns
from runners.airflow.stack import PROFILES, AirflowStack

PROFILE = "default"
SCALE_DAGS = Path(__file__).resolve().parent / "scale_dags"  # deployed by this engine only
FANOUT_DAG = "orchbench_scale_fanout"
DAILY_DAG = "orchbench_scale_daily"
POLL_S = 0.5
PARSE_TIMEOUT_S = 180.0
TERMINAL = ("success", "failed")
VERSION_KEYS = ("apache-airflow", "apache-airflow-core", "apache-airflow-task-sdk", "python")
# The configuration as the stack's processes read it (run in the stack's environment).
CONFIG_PROBE = """
import json
from airflow.configuration import conf
from airflow.api_fastapi.core_api.datamodels.backfills import BackfillPostBody
print(json.dumps({
    "core.executor": conf.get("core", "executor"),
    "core.parallelism": conf.getint("core", "parallelism"),
    "core.max_active_tasks_per_dag": conf.getint("core", "max_active_tasks_per_dag"),
    "core.max_active_runs_per_dag": conf.getint("core", "max_active_runs_per_dag"),
    "backfill.max_active_runs": BackfillPostBody.model_fields["max_active_runs"].default,
}))
"""


def at_midnight(date: str) -> str:
    """``YYYY-MM-DD`` -> the UTC midnight the API takes as a logical date."""
    return f"{date}T00:00:00Z"


class AirflowScale(ScaleEngine):
    """Scale shapes on one Airflow 3 stack (LocalExecutor, SQLite) through its REST API."""

    name: ClassVar[str] = "airflow"
    system: ClassVar[str] = "Airflow"

    def __init__(self, repo_root: Path) -> None:
        super().__init__(repo_root)
        self.venv = repo_root / ".venvs" / "airflow"
        self.stack: AirflowStack | None = None
        self.limits: dict[str, Any] = {}
        self._dag: str | None = None  # the DAG of the current sample
        self._runs: list[str] = []  # its dag_run_ids
        self._backfill: int | None = None
        self.warm_up_s: dict[str, float] = {}

    def check_environment(self) -> None:
        if not (self.venv / "bin" / "airflow").is_file():
            raise EnvironmentMissing(f"{self.venv} not found: run `make setup`")

    def versions(self) -> dict[str, str]:
        v = AirflowRunner(PROFILE, self.repo_root).versions()
        return {k: v[k] for k in VERSION_KEYS if k in v}

    # --- services -------------------------------------------------------------------

    def start(self, work: Path) -> None:
        self.stack = AirflowStack(
            Path(work) / "airflow", PROFILE, self.venv, extra_dags=tuple(SCALE_DAGS.glob("*.py"))
        )
        try:
            self.stack.start()
            deadline = time.monotonic() + PARSE_TIMEOUT_S
            dags = {d: self.stack.wait_dag(d, deadline) for d in (FANOUT_DAG, DAILY_DAG)}
            self.limits = self._read_limits(dags)
            for dag in dags:
                if next(self._api().paged(f"/dags/{dag}/dagRuns", "dag_runs"), None):
                    raise RuntimeError(f"{dag} has runs nobody asked for")
            self._warm_up(Path(work) / "warm-up")
        except BaseException:
            self.abort()
            self.stop()
            raise

    def _warm_up(self, work: Path) -> None:
        """One run of each DAG, not measured: the first task of a fresh stack pays
        one-off costs (cold imports and caches) that a deployed Airflow has paid long ago."""
        work.mkdir(parents=True, exist_ok=True)
        for shape in (Shape("fanout", 1), Shape("concurrent", 1)):
            ctx = PointContext(
                engine=self.name,
                shape=shape,
                dir=work,
                journal=work / f"{shape.name}.jsonl",
                logs=work,
                work=work,
                deadline=time.monotonic() + PARSE_TIMEOUT_S,
            )
            timing = self.run(shape, ctx)
            self.warm_up_s[shape.name] = round((timing.end_ns - timing.start_ns) / 1e9, 3)

    def _read_limits(self, dags: dict[str, dict[str, Any]]) -> dict[str, Any]:
        assert self.stack is not None
        out = subprocess.run(
            [str(self.venv / "bin" / "python"), "-c", CONFIG_PROBE],
            env=self.stack.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        limits: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        limits["default_pool.slots"] = int(self._api().get("/pools/default_pool")["slots"])
        for dag, rec in dags.items():
            limits[f"{dag}.max_active_tasks"] = int(rec["max_active_tasks"])
            limits[f"{dag}.max_active_runs"] = int(rec["max_active_runs"])
        return limits

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.kill()
            self.stack = None

    def _api(self) -> AirflowAPI:
        if self.stack is None:
            raise RuntimeError("the airflow scale engine is not started")
        return self.stack.api()

    # --- configuration ---------------------------------------------------------------

    def parallelism(self, shape: Shape) -> tuple[int, str]:
        if not self.limits:
            raise RuntimeError("the airflow scale engine is not started")
        lim = self.limits
        slots = lim["core.parallelism"]
        pool = lim["default_pool.slots"]
        common = (
            f"core.parallelism {slots} (LocalExecutor worker processes), default_pool {pool} slots"
        )
        if shape.kind == "fanout":
            per_run = lim[f"{FANOUT_DAG}.max_active_tasks"]
            return min(slots, per_run, pool), (
                f"min of the DAG's max_active_tasks {per_run} (per dag run; "
                f"core.max_active_tasks_per_dag {lim['core.max_active_tasks_per_dag']}), " + common
            )
        if shape.kind == "backfill":
            runs = lim["backfill.max_active_runs"]
            return min(runs, slots, pool), (
                f"min of the backfill's max_active_runs {runs} (the API's default), "
                + common
                + "; one task per run"
            )
        runs = lim[f"{DAILY_DAG}.max_active_runs"]
        return min(runs, slots, pool), (
            f"min of the DAG's max_active_runs {runs} "
            f"(core.max_active_runs_per_dag {lim['core.max_active_runs_per_dag']}), "
            + common
            + "; one task per run"
        )

    def settings(self, shape: Shape) -> dict[str, Any]:
        how = {
            "fanout": f"one POST /dags/{FANOUT_DAG}/dagRuns, scale_task.expand(item=items)",
            "backfill": f"one POST /backfills of {DAILY_DAG} (default max_active_runs)",
            "concurrent": f"{shape.n} POST /dags/{DAILY_DAG}/dagRuns back to back",
        }[shape.kind]
        return {
            "profile": PROFILE,
            "profile_settings": PROFILES[PROFILE],
            "executor": "LocalExecutor",
            "metadata_db": "sqlite",
            "dag": FANOUT_DAG if shape.kind == "fanout" else DAILY_DAG,
            "submission": how,
            "limits": self.limits,
            "warm_up_wall_s": self.warm_up_s,  # in start(), not measured
            "poll_s": POLL_S,
        }

    # --- one sample -------------------------------------------------------------------

    def run(self, shape: Shape, point: PointContext) -> Timing:
        api = self._api()
        conf = {"journal": str(point.journal), "engine": self.name, "point": shape.name}
        dates = shape.dates()
        notes: list[str] = []
        self._runs, self._backfill = [], None
        if shape.kind == "fanout":
            self._dag = FANOUT_DAG
            body = {"logical_date": at_midnight(dates[0]), "conf": {**conf, "n": shape.n}}
            start = time.time_ns()
            self._runs.append(api.post(f"/dags/{FANOUT_DAG}/dagRuns", body)["dag_run_id"])
        elif shape.kind == "backfill":
            self._dag = DAILY_DAG
            body = {
                "dag_id": DAILY_DAG,
                "from_date": at_midnight(dates[0]),
                "to_date": at_midnight(dates[-1]),
                "dag_run_conf": conf,
            }
            start = time.time_ns()
            backfill = api.post("/backfills", body)
            self._backfill = int(backfill["id"])
            if backfill["max_active_runs"] != self.limits["backfill.max_active_runs"]:
                notes.append(f"backfill max_active_runs was {backfill['max_active_runs']}")
            self._runs = [
                r["dag_run_id"]
                for r in api.paged(f"/dags/{DAILY_DAG}/dagRuns", "dag_runs")
                if r["run_type"] == "backfill"
            ]
            if len(self._runs) != shape.runs:
                raise RuntimeError(f"the backfill created {len(self._runs)} runs, not {shape.runs}")
        else:
            self._dag = DAILY_DAG
            start = time.time_ns()
            for date in dates:
                body = {"logical_date": at_midnight(date), "conf": conf}
                self._runs.append(api.post(f"/dags/{DAILY_DAG}/dagRuns", body)["dag_run_id"])
        runs = self._wait(shape, point)
        end = max(to_ns(r["end_date"]) or 0 for r in runs)
        self._clean()
        return Timing(start, end, notes)

    def _wait(self, shape: Shape, point: PointContext) -> list[dict[str, Any]]:
        """Poll until every run of the sample is finished; their REST records."""
        assert self._dag is not None
        api = self._api()
        wanted = set(self._runs)
        while True:
            runs = [
                r
                for r in api.paged(f"/dags/{self._dag}/dagRuns", "dag_runs")
                if r["dag_run_id"] in wanted
            ]
            if len(runs) == len(wanted) and all(r["state"] in TERMINAL for r in runs):
                failed = [r["dag_run_id"] for r in runs if r["state"] == "failed"]
                if failed:
                    raise RuntimeError(
                        f"airflow {shape.name}: dag run(s) failed: {', '.join(failed[:5])}; "
                        f"see the task logs under {self._logs()}"
                    )
                return runs
            if point.remaining() <= 0:
                self.abort()
                done = sum(1 for r in runs if r["state"] in TERMINAL)
                raise ScaleTimeout(
                    f"airflow {shape.name}: {done} of {len(wanted)} runs finished at the deadline"
                )
            time.sleep(POLL_S)

    def _logs(self) -> Path | None:
        return None if self.stack is None else self.stack.home / "logs"

    def _clean(self) -> None:
        """Forget the sample: end its backfill, delete its dag runs (all must be finished)."""
        if self.stack is None or not self.stack.alive():
            self._runs, self._backfill, self._dag = [], None, None
            return
        api = self._api()
        if self._backfill is not None:
            with contextlib.suppress(APIError):  # 409: the scheduler marked it complete
                api.put(f"/backfills/{self._backfill}/cancel")
        if self._dag is not None:
            for rid in self._runs:
                with contextlib.suppress(APIError):  # 404: already gone
                    api.delete(f"/dags/{self._dag}/dagRuns/{q(rid)}")
        self._runs, self._backfill, self._dag = [], None, None

    def abort(self) -> None:
        """Stop the current sample's runs (cancel the backfill, mark runs failed, kill the
        task processes), then delete them."""
        if self.stack is None or self._dag is None:
            return
        if self.stack.alive():
            api = self._api()
            if self._backfill is not None:
                with contextlib.suppress(APIError):  # fails its queued runs
                    api.put(f"/backfills/{self._backfill}/cancel")
            for rid in self._runs:
                with contextlib.suppress(APIError):
                    path = f"/dags/{self._dag}/dagRuns/{q(rid)}"
                    if api.get(path)["state"] not in TERMINAL:
                        api.patch(path, {"state": "failed"})
        self.stack.kill_tasks()
        self._clean()
