"""The ``prefect`` runner: the daily flow (``flow.py``) against a local Prefect 3 server.

- ``start`` launches one ``prefect server start`` per matrix (own ``PREFECT_HOME`` and
  SQLite database under the matrix directory, a free loopback port, analytics off) and
  waits for ``/api/health``; ``stop`` kills its process group. With
  ``ORCHBENCH_PREFECT_API_URL`` set, the runner uses that (already running) server instead.
- ``run_days``: one flow run per logical date, in date order, each as
  ``.venvs/prefect/bin/python -m runners.prefect --logical-date D`` (the way a
  scheduled deployment's process runs the flow), tagged with the run id.
- ``recover``: the operator re-runs the flow for each date of the plan with
  ``--refresh-from STEP``; Prefect's cache skips what is still valid (shown as ``Cached``).
  One command per date, journaled as an operator action.
- ``collect``: ``native.collect`` reads the API once its view is stable.

Flow processes run in their own process group and are killed at the run's deadline
(``RunTimeout``) or on ``abort``. The adapter only orchestrates; metrics are computed by
``orchbench.metrics`` from the journal and the trace.

Profile ``pool`` (production-like): the server's database is a throwaway PostgreSQL
cluster (``orchbench.postgres``, fsync off); the flow is a deployment on a process work
pool served by two ``prefect worker start --limit 1`` processes; each logical date (and
each recovery re-run) is a flow run created from the deployment over the REST API
(``POST /deployments/{id}/create_flow_run``, what ``run_deployment`` does) with the run's
variables as the job's ``env``, and awaited by polling its state. ``abort`` cancels the
awaited flow run and kills the workers and every flow-run process they started (they run
in sessions of their own; see ``pool.py``); the next run starts the workers again. With
``ORCHBENCH_PREFECT_API_URL`` set, ``pool`` uses that server's deployment and workers
(``export`` writes ``prefect.yaml`` and ``WORKERS.md`` for them) and starts nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shlex
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

from orchbench import postgres
from orchbench.procs import kill_group, venv_versions
from orchbench.runner import (
    EnvironmentMissing,
    NotApplicable,
    RecoveryPlan,
    RunContext,
    Runner,
    RunTimeout,
)
from runners.prefect import native
from runners.prefect.pool import (
    TERMINAL,
    PoolError,
    Workers,
    create_pool,
    kill_marked,
    register_deployment,
)
from runners.prefect.server import Api, ApiError, PrefectServer, ServerError

ENV_PYTHON = "ORCHBENCH_PREFECT_PYTHON"
ENV_API_URL = "ORCHBENCH_PREFECT_API_URL"
FLOW_MODULE = "runners.prefect"
# Imported once per matrix before the server and the first flow run start, with bytecode
# writing allowed: a deployed flow's environment is warm (pip compiles bytecode at install,
# uv does not), and neither the first date nor a PYTHONDONTWRITEBYTECODE in the caller's
# environment should make every flow process compile Prefect again.
WARM_IMPORTS = (
    "import runners.prefect.__main__, prefect.server.api.server, prefect.cli,"
    " pandera.pandas, sklearn.linear_model"
)
# What a pool worker and the flow-run processes it starts import on top.
POOL_WARM_IMPORTS = (
    "import prefect.workers.process, prefect.engine, prefect.runner._workspace_supervisor,"
    " runners.prefect.deploy, asyncpg"
)

# What every profile sets: the server is private to this matrix and phones nobody.
BASE_SERVER_ENV = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
PROFILES: dict[str, dict[str, dict[str, str]]] = {
    # Prefect as installed: every server service on, UI on, logs shipped to the API.
    "default": {"server": {}, "client": {}},
    # What a team tuning a single-machine Prefect for throughput would change: no UI, no
    # services this workflow does not use (scheduler, late runs, automations...), and the
    # flow process neither ships its logs to the API nor samples resource metrics. (Faster
    # event/task-run recorder flushes were tried and left out: on 2 cores runs with them
    # were slower, the server's flushes competing with the flow process for CPU.)
    "tuned": {
        "server": {
            "PREFECT_SERVER_UI_ENABLED": "false",
            "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
            "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_FOREMAN_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_REPOSSESSOR_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
        },
        "client": {
            "PREFECT_LOGGING_TO_API_ENABLED": "false",
            "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": "false",
        },
    },
    # Production-like: server and flow runs as installed, but the server's database is
    # PostgreSQL and the flow runs are deployment runs executed by process workers.
    "pool": {"server": {}, "client": {}},
}
POOL = "orchbench-process"  # the work pool's name
DEPLOYMENT = "orchbench"  # the deployment: daily-retraining/orchbench
WORKERS = 2
WORKER_LIMIT = 1
POLL_S = 0.5  # how often the state of an awaited flow run is read
DEFAULT_FLUSH_S = 5.0  # Prefect's event persister / task run recorder flush interval
COLLECT_MAX_WAIT_S = 60.0
SERVER = "prefect-server"  # what a scheduler_crash kills: the whole server process group
ENTRYPOINT = "runners.prefect.flow.daily_retraining"  # the deployment's (module path)
WORKERS_MD = """# Running orchbench's Prefect pool profile against your server

`orchbench run SCENARIO --runner prefect --profile pool --prefect-api-url URL` uses the
Prefect server at URL (`http://host:port/api`) instead of starting one: it creates one flow
run per logical date from deployment `daily-retraining/{deployment}` and waits for it. It
starts and stops nothing on that server. Before the first run:

1. Create the process work pool:

       PREFECT_API_URL=URL prefect work-pool create {pool} --type process

2. Deploy the flow with `prefect.yaml` (this directory), from the checkout, with the
   checkout's Prefect venv (it imports `runners.prefect.flow`):

       cd {repo}
       PREFECT_API_URL=URL {prefect} --no-prompt deploy --all --prefect-file {spec}

3. Start the workers ({count} in the harness's own `pool` stack, each with
   `--limit {limit}`), on machines where the checkout is at `{repo}` with its venv
   `.venvs/prefect` (`make setup`):

       PREFECT_API_URL=URL {prefect} worker start --pool {pool} --type process --limit {limit}

What the workers must see: each flow run's job `env` names absolute paths of the run
directory the harness writes (`ORCHBENCH_WORLD`, the journal, the results path, under
`--out`, `results/runs/` by default). The steps read and write there, so a worker must see
that directory **at the same path** as the harness (a shared filesystem mounted at the same
place, or workers on the harness's machine), and the checkout at `{repo}` (the deployment's
pull step sets the working directory there). The harness reads the run back from the API
and the run directory; nothing else is needed on the server.
"""


def deployment_run_command(logical_date: str, refresh_from: str | None) -> list[str]:
    """The CLI command that starts the deployment's run for one date."""
    cmd = ["prefect", "deployment", "run", f"daily-retraining/{DEPLOYMENT}"]
    cmd += ["--param", f"logical_date={logical_date}"]
    return cmd + (["--param", f"refresh_from={refresh_from}"] if refresh_from else [])


def _clean_env() -> dict[str, str]:
    """The harness's environment without any Prefect or orchbench settings of its own."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ORCHBENCH_"))}


class PrefectRunner(Runner):
    """Prefect 3: a flow of tasks calling the shared steps, against a local server."""

    name = "prefect"
    system = "Prefect"
    description = "Prefect 3 flow (retries, input-content cache, assets) on a local server"
    profiles: ClassVar[tuple[str, ...]] = ("default", "tuned", "pool")
    runner_faults: ClassVar[frozenset[str]] = frozenset({"missed_days", "scheduler_crash"})

    def __init__(self, profile: str = "default", repo_root: Path | None = None) -> None:
        super().__init__(profile, repo_root)
        self.server: PrefectServer | None = None
        self.api: Api | None = None
        self.home: Path | None = None
        self._flow: subprocess.Popen[bytes] | None = None
        self._flow_runs = 0
        self._versions: dict[str, str] | None = None
        self._server_info: dict[str, Any] = {}
        # pool profile
        self.pg: postgres.PostgresCluster | None = None
        self.workers: Workers | None = None
        self.deployment_id: str | None = None
        self.stack: str | None = None  # the value of pool.MARKER in the stack's processes
        self._awaited: str | None = None  # the flow run being awaited

    @property
    def pool(self) -> bool:
        return self.profile == "pool"

    # --- environment --------------------------------------------------------------------

    def python(self) -> Path:
        override = os.environ.get(ENV_PYTHON)
        if override:
            return Path(override)
        return self.repo_root / ".venvs" / "prefect" / "bin" / "python"

    def check_environment(self) -> None:
        py = self.python()
        if not os.access(py, os.X_OK):
            raise EnvironmentMissing(f"{py} not found: run `make setup` (builds .venvs/prefect)")
        if not (py.parent / "prefect").exists() and ENV_API_URL not in os.environ:
            raise EnvironmentMissing(
                f"the prefect CLI is not in {py.parent}: run `make setup` (builds .venvs/prefect)"
            )
        if self.pool and ENV_API_URL not in os.environ and (missing := postgres.available()):
            raise EnvironmentMissing(f"profile pool needs PostgreSQL: {missing}")

    def versions(self) -> dict[str, str]:
        if self._versions is None:
            wanted = ("prefect", "numpy", "pandas", "pandera", "pydantic", "scikit-learn")
            self._versions = venv_versions(self.python(), wanted)
        return self._versions

    def settings(self) -> dict[str, Any]:
        prof = PROFILES[self.profile]
        out: dict[str, Any] = {
            "profile": self.profile,
            "server_env": {**BASE_SERVER_ENV, **prof["server"]},
            "client_env": dict(prof["client"]),
            "flow_process": "one per logical date: python -m runners.prefect",
            "task_options": "retries/retry_delay_seconds/timeout_seconds from the scenario policy",
            "cache": "input file content (register, canary: no cache); results persisted as JSON",
            "server": dict(self._server_info),
        }
        if self.pool:
            out["flow_process"] = (
                f"one flow run per logical date from deployment daily-retraining/{DEPLOYMENT}, "
                "executed by a process worker (prefect.engine in a subprocess)"
            )
            out["work_pool"] = {"name": POOL, "type": "process"}
            out["workers"] = {
                "count": WORKERS,
                "limit": WORKER_LIMIT,
                "command": f"prefect worker start --pool {POOL} --type process "
                f"--limit {WORKER_LIMIT}",
                "poll": "as installed: PREFECT_WORKER_QUERY_SECONDS=10, PREFETCH_SECONDS=10",
            }
            out["deployment"] = {
                "name": f"daily-retraining/{DEPLOYMENT}",
                "id": self.deployment_id,
                "how": "flow.from_source(checkout, 'runners.prefect.flow.daily_retraining')"
                f".deploy({DEPLOYMENT!r}, work_pool_name={POOL!r})",
                "flow_run": "POST /deployments/{id}/create_flow_run with job_variables.env",
            }
        return out

    # --- services -----------------------------------------------------------------------

    def start(self, matrix_dir: Path) -> None:
        if self.api is not None:
            return
        self.home = Path(matrix_dir).resolve() / "prefect_home"
        self.home.mkdir(parents=True, exist_ok=True)
        self._warm()
        if self.pool and os.environ.get(ENV_API_URL):
            self._attach_remote_pool(os.environ[ENV_API_URL])
            return
        if self.pool:
            try:
                self._start_pool()
            except BaseException:  # a failed or interrupted start leaves nothing behind
                self.stop()
                raise
            return
        remote = os.environ.get(ENV_API_URL)
        if remote:
            self.api = Api(remote)
            if not self.api.healthy():
                raise EnvironmentMissing(f"{ENV_API_URL}={remote} does not answer /health")
            self._server_info = {"api_url": remote, "managed": False}
        else:
            env = {
                **_clean_env(),
                "PREFECT_HOME": str(self.home),
                **BASE_SERVER_ENV,
                **PROFILES[self.profile]["server"],
            }
            self.server = PrefectServer(self.python().parent / "prefect", self.home, env)
            try:
                self.api = self.server.start()
            except ServerError as e:
                self.server = None
                raise EnvironmentMissing(f"prefect server did not start: {e}") from e
            except BaseException:  # Ctrl-C while waiting for health: leave nothing behind
                self.server.stop()
                self.server = None
                raise
            self._server_info = {
                "api_url": self.api.url,
                "managed": True,
                "database": "SQLite in PREFECT_HOME",
                "startup_s": self.server.startup_s,
                "rss_mb_after_start": self.server.rss_mb,
            }

    def _start_pool(self) -> None:
        """PostgreSQL, the server on it, the work pool, the deployment, the workers."""
        assert self.home is not None
        self.stack = f"{self.home}#{uuid.uuid4().hex[:8]}"
        self.pg = postgres.PostgresCluster(fsync=False)  # in a temp dir of its own
        try:
            self.pg.start()
            self.pg.create_database("prefect")
        except (postgres.PostgresMissing, RuntimeError) as e:
            raise EnvironmentMissing(f"PostgreSQL for profile pool did not start: {e}") from e
        db_url = self.pg.url("prefect", "postgresql+asyncpg")
        env = {
            **_clean_env(),
            "PREFECT_HOME": str(self.home),
            **BASE_SERVER_ENV,
            **PROFILES[self.profile]["server"],
            "PREFECT_API_DATABASE_CONNECTION_URL": db_url,
        }
        self.server = PrefectServer(self.python().parent / "prefect", self.home, env)
        try:
            self.api = self.server.start()
        except ServerError as e:
            raise EnvironmentMissing(f"prefect server (PostgreSQL) did not start: {e}") from e
        self._server_info = {
            "api_url": self.api.url,
            "managed": True,
            "database": "PostgreSQL (orchbench.postgres, loopback, fsync off)",
            "database_url": db_url,
            "postgresql_version": postgres.version(),
            "fsync": False,
            "startup_s": self.server.startup_s,
            "rss_mb_after_start": self.server.rss_mb,
        }
        cli_env = self._client_env()
        try:
            create_pool(self.python().parent / "prefect", POOL, cli_env, self.home)
            self.deployment_id = register_deployment(
                self.python(), DEPLOYMENT, POOL, cli_env, self.repo_root
            )
            self._start_workers()
        except PoolError as e:
            raise EnvironmentMissing(f"prefect work pool set-up failed: {e}") from e

    def _attach_remote_pool(self, remote: str) -> None:
        """Use a server the user runs, with deployment ``daily-retraining/orchbench`` on pool
        ``orchbench-process`` and workers the user started (``orchbench export prefect DIR``
        says how). Nothing is started here, and ``stop`` stops nothing of it."""
        api = Api(remote)
        if not api.healthy():
            raise EnvironmentMissing(f"{ENV_API_URL}={remote} does not answer /health")
        how = "deploy it and start its workers as `orchbench export prefect DIR` describes"
        try:
            dep = api.get(f"deployments/name/daily-retraining/{DEPLOYMENT}")
        except ApiError as e:
            raise EnvironmentMissing(
                f"no deployment daily-retraining/{DEPLOYMENT} at {remote}: {how}"
            ) from e
        if dep.get("work_pool_name") != POOL:
            raise EnvironmentMissing(
                f"deployment daily-retraining/{DEPLOYMENT} at {remote} is on pool "
                f"{dep.get('work_pool_name')!r}, not {POOL!r}: {how}"
            )
        rows = api.post(f"work_pools/{POOL}/workers/filter", {}) or []
        online = sorted(w["name"] for w in rows if w.get("status") == "ONLINE")
        if not online:
            raise EnvironmentMissing(f"no worker of pool {POOL} is online at {remote}: {how}")
        self.api = api
        self.deployment_id = str(dep["id"])
        self._server_info = {"api_url": remote, "managed": False, "workers_online": online}

    def export(self, out_dir: Path) -> list[Path]:
        """For ``--prefect-api-url`` runs of profile ``pool`` on a server the user runs:
        ``prefect.yaml`` (the flow as deployment ``daily-retraining/orchbench`` on process
        pool ``orchbench-process``, for ``prefect deploy``) and ``WORKERS.md`` (how to create
        the pool, deploy, start the workers, and what they must see)."""
        import yaml

        out_dir.mkdir(parents=True, exist_ok=True)
        spec = {
            "name": "orchbench",
            "prefect-version": self.versions().get("prefect", "3"),
            "build": None,
            "push": None,
            "pull": [
                {
                    "prefect.deployments.steps.set_working_directory": {
                        "directory": str(self.repo_root)
                    }
                }
            ],
            "deployments": [
                {
                    "name": DEPLOYMENT,
                    "entrypoint": ENTRYPOINT,
                    "description": "orchbench daily retraining, one flow run per logical date",
                    "parameters": {},
                    "work_pool": {"name": POOL, "work_queue_name": None, "job_variables": {}},
                }
            ],
        }
        spec_path = out_dir / "prefect.yaml"
        spec_path.write_text(
            "# orchbench's daily retraining flow as a deployment on a process work pool.\n"
            "# Written by `orchbench export prefect`; WORKERS.md beside it says how to use it.\n"
            + yaml.safe_dump(spec, sort_keys=False)
        )
        workers = out_dir / "WORKERS.md"
        workers.write_text(
            WORKERS_MD.format(
                pool=POOL,
                deployment=DEPLOYMENT,
                limit=WORKER_LIMIT,
                count=WORKERS,
                spec=spec_path.resolve(),
                repo=self.repo_root,
                prefect=self.python().parent / "prefect",
            )
        )
        return [spec_path, workers]

    def _client_env(self) -> dict[str, str]:
        """What the harness's Prefect CLI calls and the workers run with."""
        assert self.api is not None and self.home is not None
        return {
            **_clean_env(),
            "PREFECT_API_URL": self.api.url,
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }

    def _start_workers(self) -> None:
        """(Re)start the pool's workers; they are gone after an ``abort``."""
        if self.server is None:
            return  # a remote server: its workers are the user's
        assert self.api is not None and self.home is not None and self.stack is not None
        if self.workers is not None and self.workers.alive():
            return
        self.workers = Workers(
            self.python().parent / "prefect",
            POOL,
            self._client_env(),
            self.home / "workers",
            self.stack,
            count=WORKERS,
            limit=WORKER_LIMIT,
        )
        self.workers.start(self.api)

    def _warm(self) -> None:
        env = {k: v for k, v in _clean_env().items() if k != "PYTHONDONTWRITEBYTECODE"}
        imports = WARM_IMPORTS + (", " + POOL_WARM_IMPORTS[len("import ") :] if self.pool else "")
        subprocess.run(
            [str(self.python()), "-c", imports],
            env={**env, "PREFECT_HOME": str(self.home or "")},
            cwd=self.repo_root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=300,
            check=False,
        )

    def stop(self) -> None:
        self.abort()
        if self.server is not None:
            self.server.stop()
            self.server = None
        self.api = None
        if self.pg is not None:
            self.pg.remove()
            self.pg = None

    def abort(self) -> None:
        if self._flow is not None:
            kill_group(self._flow, grace_s=0.0)
            self._flow = None
        if self._awaited is not None and self.api is not None:
            # what an operator does with a run that must stop: cancel it (best effort; the
            # API may be the thing that is down)
            with contextlib.suppress(OSError, ApiError, ValueError):
                Api(self.api.url, timeout=5, retries=0).post(
                    f"flow_runs/{self._awaited}/set_state",
                    {"state": {"type": "CANCELLED", "message": "aborted"}, "force": True},
                )
        self._awaited = None
        if self.workers is not None:
            self.workers.stop()
        if self.stack is not None:
            kill_marked(self.stack)

    # --- runs ---------------------------------------------------------------------------

    def _quiet_s(self) -> float:
        """How long the API's view must stay unchanged: one recorder flush and a margin."""
        flush = PROFILES[self.profile]["server"].get(
            "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL", DEFAULT_FLUSH_S
        )
        return float(flush) + 1.0

    def run_env(self, ctx: RunContext) -> dict[str, str]:
        """What one scenario run's flow runs need on top of their process's environment
        (the ``env`` job variable of a deployment run)."""
        return {
            **ctx.step_env(),
            "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(ctx.work / "prefect" / "results"),
            **PROFILES[self.profile]["client"],
            "ORCHBENCH_POLICY": ctx.scenario.policy.model_dump_json(),
        }

    def flow_env(self, ctx: RunContext) -> dict[str, str]:
        if self.api is None or self.home is None:
            raise RuntimeError("the prefect runner was not started")
        return {
            **_clean_env(),
            "PREFECT_API_URL": self.api.url,
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            **self.run_env(ctx),
        }

    def flow_command(
        self, ctx: RunContext, logical_date: str, refresh_from: str | None
    ) -> list[str]:
        cmd = [str(self.python()), "-m", FLOW_MODULE, "--logical-date", logical_date]
        if refresh_from:
            cmd += ["--refresh-from", refresh_from]
        return [*cmd, "--tag", native.run_tag(ctx.run_id)]

    def _flow_run(self, ctx: RunContext, logical_date: str, refresh_from: str | None = None) -> int:
        """Run the flow for one date in its own process group; returns its exit code."""
        remaining = ctx.remaining()
        if remaining <= 0:
            raise RunTimeout(f"deadline reached before the flow run for {logical_date}")
        self._flow_runs += 1
        ctx.logs.mkdir(parents=True, exist_ok=True)
        log = ctx.logs / f"prefect-flow-{self._flow_runs:02d}-{logical_date}.log"
        with log.open("wb") as out:
            self._flow = subprocess.Popen(
                self.flow_command(ctx, logical_date, refresh_from),
                env=self.flow_env(ctx),
                cwd=self.repo_root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            rc = self._wait_flow(ctx, logical_date)
        kill_group(self._flow, grace_s=0.0)  # nothing it started may outlive it
        self._flow = None
        return rc

    def _wait_flow(self, ctx: RunContext, logical_date: str) -> int:
        """Wait for the flow process; the base runner's ``watch`` meanwhile (a crashed
        server is restarted, the deadline)."""
        assert self._flow is not None
        poll = 0.1 if ctx.scheduler_faults else None  # None: block until the deadline
        while True:
            try:
                return self._flow.wait(timeout=poll or max(ctx.remaining(), 0.01))
            except subprocess.TimeoutExpired:
                pass
            self.watch(ctx, f"flow run for {logical_date}")

    def _deployment_run(
        self, ctx: RunContext, logical_date: str, refresh_from: str | None = None
    ) -> str:
        """One flow run of the deployment for ``logical_date``, awaited until it is final
        (what ``run_deployment`` does); returns its final state type."""
        if ctx.remaining() <= 0:
            raise RunTimeout(f"deadline reached before the flow run for {logical_date}")
        if self.api is None or self.deployment_id is None:
            raise RuntimeError("the prefect runner was not started")
        self._start_workers()
        self._flow_runs += 1
        params: dict[str, Any] = {"logical_date": logical_date}
        if refresh_from:
            params["refresh_from"] = refresh_from
        run = self.api.post(
            f"deployments/{self.deployment_id}/create_flow_run",
            {
                "parameters": params,
                "state": {"type": "SCHEDULED"},
                "tags": [native.run_tag(ctx.run_id)],
                "job_variables": {"env": self.run_env(ctx)},
            },
        )
        self._awaited = str(run["id"])
        ctx.logs.mkdir(parents=True, exist_ok=True)
        with (ctx.logs / "prefect-flow-runs.log").open("a") as f:
            f.write(f"{self._flow_runs:02d} {logical_date} from {refresh_from}: {run['id']}\n")
        state = self._await(ctx, self._awaited, logical_date)
        self._awaited = None
        return state

    def _await(self, ctx: RunContext, flow_run_id: str, logical_date: str) -> str:
        """Poll the flow run's state until it is final; the base runner's ``watch`` meanwhile
        (a crashed server is restarted: the API does not answer until then)."""
        assert self.api is not None
        while True:
            try:
                run = self.api.get(f"flow_runs/{flow_run_id}")
                kind = str((run.get("state") or {}).get("type"))
                if kind in TERMINAL:
                    return kind
            except (OSError, ApiError, ValueError):
                pass  # the server is down or restarting: keep waiting until the deadline
            self.watch(ctx, f"flow run for {logical_date}")
            time.sleep(POLL_S)

    # --- hooks of the base runner's day loop --------------------------------------------

    def run_date(self, ctx: RunContext, date: dt.date) -> None:
        """One flow run for the date (pool: created from the deployment), awaited."""
        if self.pool:
            self._deployment_run(ctx, date.isoformat())
        else:
            self._flow_run(ctx, date.isoformat())

    def scheduler_processes(self, ctx: RunContext) -> dict[str, list[int]]:
        """The server's processes (its scheduling services run inside it)."""
        if self.server is None:
            raise NotApplicable(
                f"scheduler_crash needs a server this runner manages ({ENV_API_URL} is set)"
            )
        return {SERVER: self.server.pids()}

    def restart_scheduler(self, ctx: RunContext, crash: dict[str, Any]) -> None:
        """The server comes back on the same port and database, as under a supervisor."""
        if self.server is None:
            return
        self.api = self.server.restart()
        with (ctx.logs / "prefect-server-restarts.log").open("a") as f:
            f.write(f"{crash}: restarted, pids {self.server.pids()}\n")

    def recover(self, ctx: RunContext, plan: RecoveryPlan) -> None:
        for logical_date, step in sorted(plan.restart_from.items()):
            if self.pool:
                # What the operator types: a run of the deployment from the broken step.
                ctx.operator(shlex.join(deployment_run_command(logical_date, step)))
                self._deployment_run(ctx, logical_date, refresh_from=step)
                continue
            cmd = self.flow_command(ctx, logical_date, step)
            # What the operator types: re-run the flow for that date from the broken step.
            ctx.operator(shlex.join(["python", *cmd[1:]]))
            self._flow_run(ctx, logical_date, refresh_from=step)

    def collect(self, ctx: RunContext) -> list[dict[str, Any]]:
        if self.api is None:
            raise RuntimeError("the prefect runner was not started")
        records, stable = native.collect(
            self.api,
            ctx.run_id,
            ctx.world.alerts,
            ctx.world,
            quiet_s=self._quiet_s(),
            max_wait_s=COLLECT_MAX_WAIT_S,
        )
        if not stable:
            (ctx.logs / "prefect-collect.log").write_text(
                f"API view still changing after {COLLECT_MAX_WAIT_S:.0f} s; trace may be partial\n"
            )
        decl = self._declared(ctx)
        return records if decl is None else [decl, *records]

    def _declared(self, ctx: RunContext) -> dict[str, Any] | None:
        """The flow's task options, read in the flow's environment (scenario policy)."""
        res = subprocess.run(
            [str(self.python()), "-m", FLOW_MODULE, "--declare"],
            env=self.flow_env(ctx),
            cwd=self.repo_root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if res.returncode != 0:
            (ctx.logs / "prefect-declare.log").write_text(res.stdout + res.stderr)
            return None
        return json.loads(res.stdout.strip().splitlines()[-1])
