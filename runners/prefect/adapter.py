"""The ``prefect`` runner: the daily flow (``flow.py``) against a local Prefect 3 server.

- ``start`` launches one ``prefect server start`` per matrix (own ``PREFECT_HOME`` and
  SQLite database under the matrix directory, a free loopback port, analytics off) and
  waits for ``/api/health``; ``stop`` kills its process group. With
  ``ORCHBENCH_PREFECT_API_URL`` set, the runner uses that (already running) server instead.
- ``prepare_days`` (profiles default, tuned): the scenario run's ``flow.serve()`` process
  (``serve.py``), serving deployment ``daily-retraining/orchbench-<run id>``; it is stopped
  once the run was collected, on ``abort`` and on ``stop``.
- ``run_date`` (called by the base runner's day loop): one flow run per logical date,
  tagged with the run id: a flow run of the deployment created over the API, which the
  serve process starts and supervises (default, tuned), or a pool worker (pool); or a
  bare ``.venvs/prefect/bin/python -m runners.prefect --logical-date D`` process that
  nothing supervises (profile ``script``).
- ``recover``: the operator re-runs the flow for each date of the plan from the broken
  step (``refresh_from``; ``prefect deployment run ... --param refresh_from=STEP``, or
  ``--refresh-from STEP`` for ``script``); Prefect's cache skips what is still valid
  (shown as ``Cached``). One command per date, journaled as an operator action.
- ``collect``: ``native.collect`` reads the API once its view is stable.
- System-scheduled runs (``fired_by`` is ``"prefect"``: scenarios with a scheduler fault):
  ``schedule_days`` gives the deployment an RRule schedule of the run's day clock
  (``clock.py``; the serve process's on default, the pool's deployment on pool), Prefect's
  scheduler service creates the runs and the serve process or the workers start them;
  ``run_date`` and ``settle`` only await them (``scheduled.py``); ``stop_scheduler`` and
  ``start_scheduler`` kill and restart the server with the serve process or the workers.
  On ``tuned`` (scheduler service off) such a run is not applicable.

Flow processes run in their own process group and are killed at the run's deadline
(``RunTimeout``) or on ``abort``. The adapter only orchestrates; metrics are computed by
``orchbench.metrics`` from the journal and the trace.

Which services are ours and how a date runs is the runner's mode, a strategy object
(``modes.py``): ``Served``, ``LocalServer``, ``RemoteServer``, ``PoolStack``,
``RemotePool``.

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

import datetime as dt
import json
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any, ClassVar

from orchbench.card import short_class, source_keyword, source_strings
from orchbench.contracts import RecoveryPlan
from orchbench.overhead import probe_entry
from orchbench.procs import venv_versions
from orchbench.runner import (
    HARNESS,
    SYSTEM,
    DayClock,
    EnvironmentMissing,
    NotApplicable,
    RunContext,
    Runner,
)
from runners.prefect import clock, native, scheduled
from runners.prefect.modes import (
    ENV_API_URL,
    LocalServer,
    Mode,
    PoolStack,
    RemotePool,
    clock_path,
    mode_for,
)
from runners.prefect.pool import DEPLOYMENT, POOL, WORKER_LIMIT, WORKERS
from runners.prefect.server import Api, PrefectServer

ENV_PYTHON = "ORCHBENCH_PREFECT_PYTHON"
FLOW_MODULE = "runners.prefect"
# Imported once per matrix before the server and the first flow run start, with bytecode
# writing allowed: a deployed flow's environment is warm (pip compiles bytecode at install,
# uv does not), and neither the first date nor a PYTHONDONTWRITEBYTECODE in the caller's
# environment should make every flow process compile Prefect again.
WARM_IMPORTS = (
    "import runners.prefect.__main__, prefect.server.api.server, prefect.cli,"
    " pandera.pandas, sklearn.linear_model"
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
    # A flow run as a bare script: no supervisor (not how a scheduled Prefect deployment
    # runs). Server and flow process as installed.
    "script": {"server": {}, "client": {}},
}
DEFAULT_FLUSH_S = 5.0  # Prefect's event persister / task run recorder flush interval
COLLECT_MAX_WAIT_S = 60.0
SERVER = "prefect-server"  # what a scheduler_crash kills: the whole server process group
# ... and, on default/tuned, the serve process (modes.Served.scheduler_processes)
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


SCHEDULER_SETTING = "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED"
# The flow's options as env.json and the card state them (flow.py sets them)
TASK_OPTIONS = "retries/retry_delay_seconds/timeout_seconds from the scenario policy"
CACHE = "input file content (register, canary: no cache); results persisted as JSON"
# The pipeline's files, read (never imported) for the card: they import prefect
FLOW_FILE = Path(__file__).resolve().parent / "flow.py"
SERVE_FILE = Path(__file__).resolve().parent / "__main__.py"
# System-scheduled mode. One simulated day: DAY_S real seconds (measured: see the README).
# The first date fires SCHEDULE_LEAD_S after the schedule is installed: the serve process
# starts and registers the deployment with its schedule, and the server's recent-
# deployments scheduler (every 5 s as installed) creates the runs; a run is only created
# for a time still ahead, so the first date must not fire before that.
DAY_S = 20.0
SCHEDULE_LEAD_S = 15.0


def _clean_env() -> dict[str, str]:
    """The harness's environment without any Prefect or orchbench settings of its own."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ORCHBENCH_"))}


class PrefectRunner(Runner):
    """Prefect 3: a flow of tasks calling the shared steps, against a local server."""

    name = "prefect"
    system = "Prefect"
    description = "Prefect 3 flow (retries, input-content cache, assets) on a local server"
    profiles: ClassVar[tuple[str, ...]] = ("default", "tuned", "pool", "script")
    runner_faults = frozenset({"scheduler_crash"})
    day_s: ClassVar[float | None] = DAY_S  # system-scheduled mode (``fired_by``)
    schedule_lead_s: ClassVar[float] = SCHEDULE_LEAD_S

    def __init__(self, profile: str = "default", repo_root: Path | None = None) -> None:
        super().__init__(profile, repo_root)
        self.server: PrefectServer | None = None  # set by the mode when the server is ours
        self.api: Api | None = None
        self.home: Path | None = None
        self.flow_runs = 0  # flow runs started by this runner (numbers their logs)
        self._versions: dict[str, str] | None = None
        self.server_info: dict[str, Any] = {}
        self._mode: Mode | None = None

    @property
    def mode(self) -> Mode:
        """The deployment mode (``modes.py``), chosen on first use."""
        if self._mode is None:
            self._mode = mode_for(self)
        return self._mode

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
        self.mode.check_environment()

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
            "task_options": TASK_OPTIONS,
            "cache": CACHE,
            "server": dict(self.server_info),
        }
        out.update(self.mode.settings())
        # python -m runners.prefect.overhead: the short shape's entry for this profile
        probe = probe_entry(self.repo_root / "results" / "overhead" / "prefect.json", self.profile)
        if probe is not None:
            out["probe_s_per_task"] = probe
        return out

    def card(self) -> dict[str, str]:
        """The profile's card, from its mode (``modes.py``: served deployment, process
        pool, bare script), the profile's server settings (``PROFILES``) and the flow's
        own options (``flow.py``: ``NOT_TRANSIENT``; the scheduled deployment's
        ``concurrency_limit``)."""
        mode = self.mode
        scheduler_off = PROFILES[self.profile]["server"].get(SCHEDULER_SETTING) == "false"
        runs = "one flow run at a time"
        if isinstance(mode, LocalServer):
            scheduler = "harness starts each date's flow process; no deployment schedule"
            executor = "a bare python script per date, unsupervised"
            alerting = "task on_failure hook to the alert sink; no on_crashed (no supervisor)"
        else:
            if scheduler_off:
                scheduler = "harness creates flow runs; scheduler service off in this profile"
            elif os.environ.get(ENV_API_URL):
                scheduler = "harness creates flow runs; no schedule on a remote server"
            else:
                scheduler = "harness creates flow runs; scheduler service when scheduler-fired"
                limit = source_keyword(SERVE_FILE, "concurrency_limit")
                runs += f" (concurrency_limit={limit} when scheduled)"
            if isinstance(mode, RemotePool):
                executor = "the remote process pool's workers, flow run subprocess"
            elif isinstance(mode, PoolStack):
                executor = (
                    f"process pool: {WORKERS} workers --limit {WORKER_LIMIT}, flow run subprocess"
                )
            else:
                executor = "flow.serve() process: a subprocess per flow run"
            alerting = "task on_failure and flow on_crashed hooks to the alert sink"
        if os.environ.get(ENV_API_URL):
            database = "the remote server's"
        elif isinstance(mode, PoolStack) and not isinstance(mode, RemotePool):
            database = "PostgreSQL (fsync off), the server's"
        else:
            database = "SQLite (the server's, in PREFECT_HOME)"
        not_retried = "/".join(short_class(c) for c in source_strings(FLOW_FILE, "NOT_TRANSIENT"))
        return {
            "scheduler": scheduler,
            "executor": f"{executor}; tasks in the flow's main thread",
            "database": database,
            "retries": "task retries/retry_delay_seconds from the scenario policy",
            "timeouts": "task timeout_seconds from the policy (SIGALRM in the flow thread)",
            "fail_fast": f"retry_condition_fn: no retry on {not_retried}",
            "alerting": alerting,
            "caching": f"task cache on {CACHE}",
            "parallelism": f"{runs}; tasks in sequence",
        }

    # --- services -----------------------------------------------------------------------

    def start(self, matrix_dir: Path) -> None:
        if self.api is not None:
            return
        self.home = Path(matrix_dir).resolve() / "prefect_home"
        self.home.mkdir(parents=True, exist_ok=True)
        self._warm()
        self.mode.start()

    def server_env(self) -> dict[str, str]:
        """What a server of our own runs with (the profile's server settings)."""
        return {
            **_clean_env(),
            "PREFECT_HOME": str(self.home),
            **BASE_SERVER_ENV,
            **PROFILES[self.profile]["server"],
        }

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

    def client_env(self) -> dict[str, str]:
        """What the harness's Prefect CLI calls and the workers run with."""
        assert self.api is not None and self.home is not None
        return {
            **_clean_env(),
            "PREFECT_API_URL": self.api.url,
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }

    def _warm(self) -> None:
        env = {k: v for k, v in _clean_env().items() if k != "PYTHONDONTWRITEBYTECODE"}
        extra = self.mode.warm_imports
        imports = WARM_IMPORTS + (f", {extra}" if extra else "")
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
        self.mode.stop()

    def abort(self) -> None:
        self.mode.abort()

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
            clock.ENV_CLOCK: str(clock_path(ctx)),
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

    # --- hooks of the base runner's day loop --------------------------------------------

    def fired_by(self, ctx: RunContext) -> str:
        """Prefect's own scheduler (the server's scheduler service, from the deployment's
        schedule) fires the dates of a system-scheduled run; the harness otherwise."""
        return self.system if ctx.scheduling == SYSTEM else HARNESS

    def _system(self, ctx: RunContext) -> bool:
        return self.fired_by(ctx) != HARNESS

    def prepare_days(self, ctx: RunContext) -> None:
        """The mode's per-run set-up (default, tuned: the run's serve process). A
        system-scheduled run's serve process starts in ``schedule_days``, with the
        schedule; on ``tuned`` the scheduler services are off (``NotApplicable``)."""
        if not self._system(ctx):
            self.mode.prepare(ctx)
        elif PROFILES[self.profile]["server"].get(SCHEDULER_SETTING) == "false":
            raise NotApplicable(
                f"profile {self.profile} turns Prefect's scheduler service off "
                f"({SCHEDULER_SETTING}=false, and the late-runs service): no deployment "
                "schedule fires a flow run there"
            )

    def schedule_days(self, ctx: RunContext, day_clock: DayClock) -> None:
        """Write the run's day clock (the flow maps a run's scheduled start time to its
        date with it) and give the deployment its schedule: the mode's way."""
        clock.write(
            clock_path(ctx),
            day_clock.start,
            day_clock.day_s,
            [d.isoformat() for d in day_clock.dates],
            [native.run_tag(ctx.run_id)],
        )
        ctx.logs.mkdir(parents=True, exist_ok=True)
        self.mode.schedule(ctx)

    def settle(self, ctx: RunContext) -> None:
        """Wait for every flow run of the scenario run still queued or running."""
        scheduled.await_rest(self, ctx)

    def stop_scheduler(self, ctx: RunContext) -> None:
        self.mode.stop_scheduler(ctx)

    def start_scheduler(self, ctx: RunContext) -> None:
        self.mode.start_scheduler(ctx)

    def deploy_code(self, ctx: RunContext, step: str, revision: int) -> None:
        """New code in the team's repository: the mode deploys it as its users do
        (default, tuned: re-serve, so the deployment's version is the new revision)."""
        done = self.mode.deploy_code(ctx) or "nothing to do: the next flow run imports it"
        ctx.logs.mkdir(parents=True, exist_ok=True)
        with (ctx.logs / "prefect-deploys.log").open("a") as f:
            f.write(f"{step} revision {revision}: {done}\n")

    def run_date(self, ctx: RunContext, date: dt.date) -> None:
        """One flow run for the date, the mode's way, awaited; in system-scheduled mode
        the run Prefect's scheduler fired for it, awaited (never created here)."""
        if self._system(ctx):
            scheduled.await_date(self, ctx, date)
        else:
            self.mode.run(ctx, date.isoformat())

    def scheduler_processes(self, ctx: RunContext) -> dict[str, list[int]]:
        """The server's processes (its scheduling services run inside it) and, on default
        and tuned, the serve process, which polls the server for the deployment's runs and
        starts and supervises them (not the flow-run process it started: that one runs
        the steps)."""
        if self.server is None:
            raise NotApplicable(
                f"scheduler_crash needs a server this runner manages ({ENV_API_URL} is set)"
            )
        return {SERVER: self.server.pids(), **self.mode.scheduler_processes()}

    def restart_scheduler(self, ctx: RunContext, crash: dict[str, Any]) -> bool:
        """The server comes back on the same port and database, as under a supervisor.
        False when this run has no server of its own to restart."""
        if self.server is None:
            return False
        self.api = self.server.restart()
        self.mode.restart(ctx)  # the serve process, once the server answers again
        with (ctx.logs / "prefect-server-restarts.log").open("a") as f:
            f.write(f"{crash}: restarted, pids {self.scheduler_processes(ctx)}\n")
        return True

    def recover(self, ctx: RunContext, plan: RecoveryPlan) -> None:
        for logical_date, step in sorted(plan.restart_from.items()):
            # what the operator types: re-run the date from the broken step
            # a re-run that trusts the cache (recovery action rerun_date) refreshes nothing
            refresh = None if ctx.scenario.recovery.action == "rerun_date" else step
            ctx.operator(shlex.join(self.mode.operator_command(ctx, logical_date, refresh)))
            self.mode.run(ctx, logical_date, refresh_from=refresh)

    def collect(self, ctx: RunContext) -> list[dict[str, Any]]:
        if self.api is None:
            raise RuntimeError("the prefect runner was not started")
        try:
            records, stable = native.collect(
                self.api,
                ctx.run_id,
                ctx.world.alerts,
                ctx.world,
                quiet_s=self._quiet_s(),
                max_wait_s=COLLECT_MAX_WAIT_S,
            )
        finally:
            # read as it stands while the supervisor still runs (a run it shows Running
            # is recorded so); then the run's serve process goes
            self.mode.finish()
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
