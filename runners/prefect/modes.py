"""The prefect runner's deployment modes: which services are ours and how a date runs.

``PrefectRunner`` holds one mode, chosen by profile and ``ORCHBENCH_PREFECT_API_URL``:

- ``Served`` (profiles default, tuned): a ``prefect server start`` of our own (SQLite in
  ``PREFECT_HOME``; the user's server with the URL) and, per scenario run, a
  ``flow.serve()`` process of our own serving the run's deployment (``serve.py``); each
  date is a flow run of that deployment (``POST /deployments/{id}/create_flow_run``),
  started and supervised by the serve process, awaited.
- ``LocalServer`` (profile script): the server of our own; each date is a bare flow
  process ``python -m runners.prefect`` that nothing supervises.
- ``RemoteServer`` (script with the URL): the same flow processes against the user's
  server; nothing is started or stopped there.
- ``PoolStack`` (profile pool): PostgreSQL, a server on it, a process work pool, the
  deployment and its workers, all ours; each date is a flow run of the deployment
  (``POST /deployments/{id}/create_flow_run``), executed by a worker and awaited.
- ``RemotePool`` (pool with the URL): the user's server, deployment and workers.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from orchbench import postgres
from orchbench.procs import kill_group
from orchbench.runner import EnvironmentMissing, NotApplicable, RunContext, RunTimeout
from orchbench.workflow.repo import revision
from runners.prefect import clock, native, scheduled
from runners.prefect.pool import (
    DEPLOYMENT,
    POOL,
    TERMINAL,
    WORKER_LIMIT,
    WORKERS,
    PoolError,
    Workers,
    create_pool,
    kill_marked,
    register_deployment,
)
from runners.prefect.serve import POLL_S as SERVE_POLL_S
from runners.prefect.serve import ServeError, ServeProcess, deployment_name
from runners.prefect.server import Api, ApiError, PrefectServer, ServerError

if TYPE_CHECKING:
    from pathlib import Path


class PrefectRunner(Protocol):
    """What a mode uses of the runner that holds it (``adapter.PrefectRunner``; named here
    as a protocol, since the adapter imports this module)."""

    profile: str
    api: Api | None
    server: PrefectServer | None
    home: Path | None
    flow_runs: int
    repo_root: Path
    server_info: dict[str, Any]

    def python(self) -> Path: ...

    def flow_command(
        self, ctx: RunContext, logical_date: str, refresh_from: str | None
    ) -> list[str]: ...

    def watch(self, ctx: RunContext, running: str | None = ...) -> None: ...

    def stop(self) -> None: ...

    def server_env(self) -> dict[str, str]: ...

    def flow_env(self, ctx: RunContext) -> dict[str, str]: ...

    def run_env(self, ctx: RunContext) -> dict[str, str]: ...


ENV_API_URL = "ORCHBENCH_PREFECT_API_URL"
POLL_S = 0.5  # how often the state of an awaited flow run is read
# What a pool worker and the flow-run processes it starts import on top.
POOL_WARM_IMPORTS = (
    "prefect.workers.process, prefect.engine, prefect.runner._workspace_supervisor,"
    " runners.prefect.deploy, asyncpg"
)


# What the serve process and the flow-run processes it starts import on top.
SERVED_WARM_IMPORTS = "prefect.runner, prefect.flow_engine"


def scheduled_worker_env(day_clock: dict[str, Any]) -> dict[str, str]:
    """What the pool's workers run with while Prefect's scheduler fires the dates: the
    prefetch window compressed with the day (``clock.prefetch_s``), and a poll of the
    serve process's (``serve.POLL_S``; 10 s as installed, half a compressed day)."""
    return {
        "PREFECT_WORKER_PREFETCH_SECONDS": f"{clock.prefetch_s(day_clock):.4f}",
        "PREFECT_WORKER_QUERY_SECONDS": str(SERVE_POLL_S),
    }


def clock_of(ctx: RunContext) -> dict[str, Any]:
    """The run's day clock as the flow reads it (``clock.py``); written by the adapter."""
    found = clock.read(clock_path(ctx))
    if found is None:
        raise RuntimeError("the run's day clock was not written")
    return found


def clock_path(ctx: RunContext) -> Path:
    """Where a scenario run's day clock is (``clock.ENV_CLOCK`` names it to the flow)."""
    return clock.path_in(ctx.work)


def deployment_run_command(
    logical_date: str, refresh_from: str | None, deployment: str = DEPLOYMENT
) -> list[str]:
    """The CLI command that starts the deployment's run for one date."""
    cmd = ["prefect", "deployment", "run", f"daily-retraining/{deployment}"]
    cmd += ["--param", f"logical_date={logical_date}"]
    return cmd + (["--param", f"refresh_from={refresh_from}"] if refresh_from else [])


def mode_for(runner: PrefectRunner) -> Mode:
    """The mode of the runner's profile, on the server ``ORCHBENCH_PREFECT_API_URL`` names
    if it is set."""
    remote = os.environ.get(ENV_API_URL) or None
    if runner.profile == "pool":
        return RemotePool(runner, remote) if remote else PoolStack(runner)
    if runner.profile == "script":
        return RemoteServer(runner, remote) if remote else LocalServer(runner)
    return Served(runner, remote)


def start_local_server(r: PrefectRunner) -> None:
    """A ``prefect server start`` of our own (SQLite in ``PREFECT_HOME``): ``r.server``,
    ``r.api``, ``r.server_info``; nothing left behind if it does not come up."""
    assert r.home is not None
    r.server = PrefectServer(r.python().parent / "prefect", r.home, r.server_env())
    try:
        r.api = r.server.start()
    except ServerError as e:
        r.server = None
        raise EnvironmentMissing(f"prefect server did not start: {e}") from e
    except BaseException:  # Ctrl-C while waiting for health: leave nothing behind
        r.server.stop()
        r.server = None
        raise
    r.server_info = {
        "api_url": r.api.url,
        "managed": True,
        "database": "SQLite in PREFECT_HOME",
        "startup_s": r.server.startup_s,
        "rss_mb_after_start": r.server.rss_mb,
    }


def use_remote_server(r: PrefectRunner, url: str) -> Api:
    """The user's server at ``url`` (checked once); nothing of it is ours."""
    api = Api(url)
    if not api.healthy():
        raise EnvironmentMissing(f"{ENV_API_URL}={url} does not answer /health")
    return api


def kill_server(r: PrefectRunner) -> None:
    """SIGKILL the server's process group (the API and its services: scheduler, late
    runs), as a host outage does; ``r.server.restart`` brings it back."""
    if r.server is None or r.server.proc is None:
        raise NotApplicable("the Prefect server is not this runner's to stop")
    kill_group(r.server.proc, grace_s=0.0)


def await_first_run(r: PrefectRunner, ctx: RunContext, log: str) -> None:
    """Wait (until the first date fires at the latest) for the scheduler service to have
    created the schedule's first run; log how long it took."""
    assert ctx.clock is not None
    t0 = time.monotonic()
    while not scheduled.runs(r, ctx) and time.time() < ctx.clock.start:
        time.sleep(0.2)
    found = scheduled.runs(r, ctx) or []
    with (ctx.logs / "prefect-schedule.log").open("a") as f:
        f.write(
            f"{log}; {len(found)} scheduled run(s) created after "
            f"{time.monotonic() - t0:.1f} s, {ctx.clock.start - time.time():.1f} s before "
            "the first date fires\n"
        )


def _need_cli(runner: PrefectRunner) -> None:
    py = runner.python()
    if not (py.parent / "prefect").exists():
        raise EnvironmentMissing(
            f"the prefect CLI is not in {py.parent}: run `make setup` (builds .venvs/prefect)"
        )


class Mode:
    """One way to deploy the daily flow: ``start`` sets the runner's ``api`` (and
    ``server`` when the server is ours); ``run`` runs one date and waits for it."""

    warm_imports: ClassVar[str] = ""  # imported on top of the runner's WARM_IMPORTS

    def __init__(self, runner: PrefectRunner) -> None:
        self.runner = runner

    def check_environment(self) -> None:
        """What the mode needs beyond the flow's venv."""

    def start(self) -> None:
        raise NotImplementedError

    def prepare(self, ctx: RunContext) -> None:
        """Before a scenario run's first date (the day loop's ``prepare_days``)."""

    def finish(self) -> None:
        """After a scenario run was collected: stop what ``prepare`` started for it."""

    def scheduler_processes(self) -> dict[str, list[int]]:
        """What a scheduler crash kills besides the server (name -> pids)."""
        return {}

    def restart(self, ctx: RunContext) -> None:
        """After a scheduler crash, once the server is back: restart what else died."""

    def schedule(self, ctx: RunContext) -> None:
        """System-scheduled mode: give the deployment the schedule of the run's day clock
        (the clock file is written) and make sure what serves it runs."""
        raise NotApplicable(
            "Prefect's own scheduler fires the dates only on a server and deployment this "
            f"runner manages (profiles default and pool without {ENV_API_URL})"
        )

    def stop_scheduler(self, ctx: RunContext) -> None:
        """A host outage: SIGKILL the server (its scheduler and late-runs services run in
        its process) and what serves the deployment, with whatever runs under them."""
        raise NotApplicable("the scheduler is not this runner's to stop")

    def start_scheduler(self, ctx: RunContext) -> None:
        """The host is back: the server on the same port and database, then what serves
        the deployment, as the host's boot starts them."""
        raise NotApplicable("the scheduler is not this runner's to start")

    def deploy_code(self, ctx: RunContext) -> str | None:
        """New code was committed to the world's code repository: deploy it the way this
        mode's users do; what was done (None: nothing, the next flow run imports it)."""
        return None

    def stop(self) -> None:
        """Stop what ``start`` started besides the server (the runner stops that)."""

    def abort(self) -> None:
        """Stop the date being run and whatever it started."""

    def settings(self) -> dict[str, Any]:
        return {}

    def run(self, ctx: RunContext, logical_date: str, refresh_from: str | None = None) -> None:
        raise NotImplementedError

    def operator_command(self, ctx: RunContext, logical_date: str, step: str | None) -> list[str]:
        """What the operator types to re-run ``logical_date`` from ``step`` (None: the
        whole date on the cache, refreshing nothing)."""
        raise NotImplementedError


class LocalServer(Mode):
    """A server of our own (SQLite); each date a flow process in its own process group."""

    def __init__(self, runner: PrefectRunner) -> None:
        super().__init__(runner)
        self._flow: subprocess.Popen[bytes] | None = None

    def check_environment(self) -> None:
        _need_cli(self.runner)

    def start(self) -> None:
        start_local_server(self.runner)

    def settings(self) -> dict[str, Any]:
        return {
            "flow_process": "one per logical date: python -m runners.prefect (a bare "
            "script: nothing supervises it)",
        }

    def abort(self) -> None:
        if self._flow is not None:
            kill_group(self._flow, grace_s=0.0)
            self._flow = None

    def operator_command(self, ctx: RunContext, logical_date: str, step: str | None) -> list[str]:
        # re-run the flow for that date from the broken step
        return ["python", *self.runner.flow_command(ctx, logical_date, step)[1:]]

    def run(self, ctx: RunContext, logical_date: str, refresh_from: str | None = None) -> None:
        """Run the flow for one date in its own process group."""
        r = self.runner
        if ctx.remaining() <= 0:
            raise RunTimeout(f"deadline reached before the flow run for {logical_date}")
        r.flow_runs += 1
        ctx.logs.mkdir(parents=True, exist_ok=True)
        log = ctx.logs / f"prefect-flow-{r.flow_runs:02d}-{logical_date}.log"
        with log.open("wb") as out:
            self._flow = subprocess.Popen(
                r.flow_command(ctx, logical_date, refresh_from),
                env=r.flow_env(ctx),
                cwd=r.repo_root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self._wait_flow(ctx, logical_date)
        kill_group(self._flow, grace_s=0.0)  # nothing it started may outlive it
        self._flow = None

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
            self.runner.watch(ctx, f"flow run for {logical_date}")


class RemoteServer(LocalServer):
    """The user's server (``ORCHBENCH_PREFECT_API_URL``): flow processes against it; the
    server is not ours to start, stop or crash."""

    def __init__(self, runner: PrefectRunner, url: str) -> None:
        super().__init__(runner)
        self.url = url

    def check_environment(self) -> None:
        """Only the flow's venv: the server is the user's."""

    def start(self) -> None:
        r = self.runner
        r.api = use_remote_server(r, self.url)
        r.server_info = {"api_url": self.url, "managed": False}


class DeploymentRuns(Mode):
    """Each date a flow run of a deployment, created over the API
    (``POST /deployments/{id}/create_flow_run``, what ``run_deployment`` does) and awaited
    by polling its state; ``abort`` cancels the awaited one."""

    def __init__(self, runner: PrefectRunner) -> None:
        super().__init__(runner)
        self.deployment = DEPLOYMENT  # its name: daily-retraining/<deployment>
        self.deployment_id: str | None = None
        self._awaited: str | None = None  # the flow run being awaited

    def _ready(self, ctx: RunContext) -> None:
        """Make sure what executes the deployment's runs is there."""

    def _flow_run_extra(self, ctx: RunContext) -> dict[str, Any]:
        """What the create_flow_run body adds for this mode."""
        return {}

    def cancel_awaited(self) -> None:
        api = self.runner.api
        if self._awaited is not None and api is not None:
            # what an operator does with a run that must stop: cancel it (best effort; the
            # API may be the thing that is down)
            with contextlib.suppress(OSError, ApiError, ValueError):
                Api(api.url, timeout=5, retries=0).post(
                    f"flow_runs/{self._awaited}/set_state",
                    {"state": {"type": "CANCELLED", "message": "aborted"}, "force": True},
                )
        self._awaited = None

    def operator_command(self, ctx: RunContext, logical_date: str, step: str | None) -> list[str]:
        # a run of the deployment from the broken step
        return deployment_run_command(logical_date, step, self.deployment)

    def run(self, ctx: RunContext, logical_date: str, refresh_from: str | None = None) -> None:
        """One flow run of the deployment for ``logical_date``, awaited until it is final
        (what ``run_deployment`` does)."""
        r = self.runner
        if ctx.remaining() <= 0:
            raise RunTimeout(f"deadline reached before the flow run for {logical_date}")
        if r.api is None:
            raise RuntimeError("the prefect runner was not started")
        self._ready(ctx)
        if self.deployment_id is None:
            raise RuntimeError("the prefect runner has no deployment")
        r.flow_runs += 1
        params: dict[str, Any] = {"logical_date": logical_date}
        if refresh_from:
            params["refresh_from"] = refresh_from
        run = r.api.post(
            f"deployments/{self.deployment_id}/create_flow_run",
            {
                "parameters": params,
                "state": {"type": "SCHEDULED"},
                "tags": [native.run_tag(ctx.run_id)],
                **self._flow_run_extra(ctx),
            },
        )
        self._awaited = str(run["id"])
        ctx.logs.mkdir(parents=True, exist_ok=True)
        with (ctx.logs / "prefect-flow-runs.log").open("a") as f:
            f.write(f"{r.flow_runs:02d} {logical_date} from {refresh_from}: {run['id']}\n")
        self._await(ctx, self._awaited, logical_date)
        self._awaited = None

    def _await(self, ctx: RunContext, flow_run_id: str, logical_date: str) -> str:
        """Poll the flow run's state until it is final; the base runner's ``watch``
        meanwhile (a crashed server is restarted: the API does not answer until then)."""
        while True:
            api = self.runner.api  # a restarted server is a new Api
            assert api is not None
            try:
                run = api.get(f"flow_runs/{flow_run_id}")
                kind = str((run.get("state") or {}).get("type"))
                if kind in TERMINAL:
                    return kind
            except (OSError, ApiError, ValueError):
                pass  # the server is down or restarting: keep waiting until the deadline
            self.runner.watch(ctx, f"flow run for {logical_date}")
            time.sleep(POLL_S)


class Served(DeploymentRuns):
    """The server of our own (or the user's, with the URL) and, per scenario run, a
    ``flow.serve()`` process of our own serving deployment ``daily-retraining/orchbench-
    <run id>`` (``serve.py``); each date a flow run of it, awaited."""

    warm_imports = SERVED_WARM_IMPORTS

    def __init__(self, runner: PrefectRunner, url: str | None = None) -> None:
        super().__init__(runner)
        self.url = url
        self.serve: ServeProcess | None = None

    def check_environment(self) -> None:
        if self.url is None:
            _need_cli(self.runner)

    def start(self) -> None:
        r = self.runner
        if self.url is None:
            start_local_server(r)
        else:
            r.api = use_remote_server(r, self.url)
            r.server_info = {"api_url": self.url, "managed": False}

    def settings(self) -> dict[str, Any]:
        return {
            "flow_process": (
                "one flow run per logical date of the scenario run's deployment "
                "daily-retraining/orchbench-<run id>, started and supervised by that "
                "deployment's flow.serve() process (python -m runners.prefect --serve NAME; "
                "each flow run in a subprocess of it: run_flow_in_subprocess)"
            ),
            "serve": {
                "command": "python -m runners.prefect --serve orchbench-<run id>",
                "one_per": "scenario run (the serve runner gives flow runs its own "
                "environment: the run's ORCHBENCH_* variables must be in it)",
                "poll": f"PREFECT_RUNNER_POLL_FREQUENCY={SERVE_POLL_S} (10 as installed)",
                "pause_on_shutdown": False,
            },
            "deployment": {
                "name": "daily-retraining/orchbench-<run id>",
                "how": "daily_retraining.serve(name, pause_on_shutdown=False)",
                "flow_run": "POST /deployments/{id}/create_flow_run",
            },
        }

    def prepare(self, ctx: RunContext) -> None:
        """Start the scenario run's serve process (stopping any earlier run's)."""
        r = self.runner
        assert r.api is not None and r.home is not None
        self.finish()
        self.deployment = deployment_name(ctx.run_id)
        self.serve = ServeProcess(
            r.python(),
            self.deployment,
            r.flow_env(ctx),
            ctx.logs / "prefect-serve.log",
            r.repo_root,
            stack=f"{r.home}#serve-{uuid.uuid4().hex[:8]}",
        )
        try:
            self.deployment_id = self.serve.start(r.api)
        except ServeError as e:
            self.finish()
            raise EnvironmentMissing(f"prefect serve process did not start: {e}") from e
        except BaseException:
            self.finish()
            raise

    def _ready(self, ctx: RunContext) -> None:
        if self.serve is None:
            self.prepare(ctx)

    def scheduler_processes(self) -> dict[str, list[int]]:
        """The serve process (it starts and supervises the flow runs): a scheduler crash
        kills it. Not the flow-run process it started, which runs the steps."""
        pid = self.serve.pid() if self.serve is not None else None
        return {"prefect-serve": [pid]} if pid is not None else {}

    def restart(self, ctx: RunContext) -> None:
        """A killed serve process is started again with the same deployment; the flow run
        its death orphaned keeps running and reporting to the server."""
        r = self.runner
        if self.serve is not None and not self.serve.alive() and r.api is not None:
            self.serve.start(r.api)

    def schedule(self, ctx: RunContext) -> None:
        """The serve process of the run, started now: the clock file is in its
        environment, so it serves the deployment with the clock's schedule and the run's
        tag (``flow.serve(name, schedules=[RRule(...)], tags=[...])``)."""
        if self.url is not None:
            super().schedule(ctx)
        self.prepare(ctx)
        await_first_run(self.runner, ctx, f"served daily-retraining/{self.deployment}")

    def stop_scheduler(self, ctx: RunContext) -> None:
        """The server (its scheduler services run in its process: killing the server is
        the outage) and the serve process, with any flow run it started."""
        kill_server(self.runner)
        if self.serve is not None:
            self.serve.stop()

    def start_scheduler(self, ctx: RunContext) -> None:
        """The server, then ``flow.serve()`` again (which applies its schedule again)."""
        r = self.runner
        assert r.server is not None and self.serve is not None
        r.api = r.server.restart()
        self.deployment_id = self.serve.start(r.api)

    def deploy_code(self, ctx: RunContext) -> str | None:
        """Re-serve: stop the serve process and start it again, as a team restarts
        ``flow.serve()`` after pulling new code; the new process updates the deployment's
        version to the repository's new revision before the next flow run is created."""
        r = self.runner
        if self.serve is None or r.api is None:
            return None
        version = revision(ctx.world.root)
        self.serve.stop()
        self.deployment_id = self.serve.start(r.api, version=version)
        return f"re-served deployment daily-retraining/{self.deployment} version {version}"

    def finish(self) -> None:
        if self.serve is not None:
            self.serve.stop()
            self.serve = None
        self.deployment_id = None

    def abort(self) -> None:
        self.cancel_awaited()
        self.finish()

    def stop(self) -> None:
        self.finish()


class PoolStack(DeploymentRuns):
    """PostgreSQL, a server on it, a process work pool, the deployment and ``WORKERS``
    workers of our own; each date a flow run of the deployment, awaited by polling."""

    warm_imports = POOL_WARM_IMPORTS

    def __init__(self, runner: PrefectRunner) -> None:
        super().__init__(runner)
        self.pg: postgres.PostgresCluster | None = None
        self.workers: Workers | None = None
        self.stack: str | None = None  # the value of pool.MARKER in the stack's processes
        self._versioned = False  # deploy_code gave the deployment this run's version
        self._scheduled_tag: str | None = None  # the run whose schedule the deployment has
        self._worker_env: dict[str, str] = {}  # what the workers run with on top

    def check_environment(self) -> None:
        _need_cli(self.runner)
        if missing := postgres.available():
            raise EnvironmentMissing(f"profile pool needs PostgreSQL: {missing}")

    def settings(self) -> dict[str, Any]:
        return {
            "flow_process": (
                f"one flow run per logical date from deployment daily-retraining/{DEPLOYMENT}, "
                "executed by a process worker (prefect.engine in a subprocess)"
            ),
            "work_pool": {"name": POOL, "type": "process"},
            "workers": {
                "count": WORKERS,
                "limit": WORKER_LIMIT,
                "command": f"prefect worker start --pool {POOL} --type process "
                f"--limit {WORKER_LIMIT}",
                "poll": "as installed: PREFECT_WORKER_QUERY_SECONDS=10, PREFETCH_SECONDS=10",
            },
            "deployment": {
                "name": f"daily-retraining/{DEPLOYMENT}",
                "id": self.deployment_id,
                "how": "flow.from_source(checkout, 'runners.prefect.flow.daily_retraining')"
                f".deploy({DEPLOYMENT!r}, work_pool_name={POOL!r})",
                "flow_run": "POST /deployments/{id}/create_flow_run with job_variables.env",
            },
        }

    def start(self) -> None:
        try:
            self._start_stack()
        except BaseException:  # a failed or interrupted start leaves nothing behind
            self.runner.stop()
            raise

    def _start_stack(self) -> None:
        """PostgreSQL, the server on it, the work pool, the deployment, the workers."""
        r = self.runner
        assert r.home is not None
        self.stack = f"{r.home}#{uuid.uuid4().hex[:8]}"
        self.pg = postgres.PostgresCluster(fsync=False)  # in a temp dir of its own
        try:
            self.pg.start()
            self.pg.create_database("prefect")
        except (postgres.PostgresMissing, RuntimeError) as e:
            raise EnvironmentMissing(f"PostgreSQL for profile pool did not start: {e}") from e
        db_url = self.pg.url("prefect", "postgresql+asyncpg")
        env = {**r.server_env(), "PREFECT_API_DATABASE_CONNECTION_URL": db_url}
        r.server = PrefectServer(r.python().parent / "prefect", r.home, env)
        try:
            r.api = r.server.start()
        except ServerError as e:
            raise EnvironmentMissing(f"prefect server (PostgreSQL) did not start: {e}") from e
        r.server_info = {
            "api_url": r.api.url,
            "managed": True,
            "database": "PostgreSQL (orchbench.postgres, loopback, fsync off)",
            "database_url": db_url,
            "postgresql_version": postgres.version(),
            "fsync": False,
            "startup_s": r.server.startup_s,
            "rss_mb_after_start": r.server.rss_mb,
        }
        cli_env = r.client_env()
        try:
            create_pool(r.python().parent / "prefect", POOL, cli_env, r.home)
            self.deployment_id = register_deployment(
                r.python(), DEPLOYMENT, POOL, cli_env, r.repo_root
            )
            self._start_workers()
        except PoolError as e:
            raise EnvironmentMissing(f"prefect work pool set-up failed: {e}") from e

    def deploy_code(self, ctx: RunContext) -> str | None:
        """Re-deploy: ``flow.deploy`` again with the repository's new revision as the
        deployment's version, as a team's CI does after a merge; the next flow runs
        record it. The deployment serves the whole matrix, so ``finish`` deploys it back
        without a version once the run was collected."""
        r = self.runner
        version = revision(ctx.world.root)
        self.deployment_id = register_deployment(
            r.python(), DEPLOYMENT, POOL, r.client_env(), r.repo_root, version=version
        )
        self._versioned = True
        return f"re-deployed daily-retraining/{DEPLOYMENT} version {version}"

    def finish(self) -> None:
        self._unschedule()
        if self._versioned:
            r = self.runner
            self.deployment_id = register_deployment(
                r.python(), DEPLOYMENT, POOL, r.client_env(), r.repo_root
            )
            self._versioned = False

    def schedule(self, ctx: RunContext) -> None:
        """Give the pool's deployment the clock's schedule, the run's tag and the run's
        environment (``PATCH /deployments/{id}``: what ``prefect deploy`` sends for a
        deployment with ``schedules``, ``tags`` and ``job_variables``); the workers
        (re)started."""
        r = self.runner
        assert r.api is not None and self.deployment_id is not None
        day_clock = clock_of(ctx)
        self._scheduled_tag = native.run_tag(ctx.run_id)
        r.api.request(
            "PATCH",
            f"deployments/{self.deployment_id}",
            {
                "schedules": [
                    {
                        "active": True,
                        "schedule": {"rrule": clock.schedule(day_clock), "timezone": "UTC"},
                    }
                ],
                "tags": day_clock["tags"],
                "job_variables": {"env": r.run_env(ctx)},
                # one date at a time (see __main__'s served deployment)
                "concurrency_limit": 1,
            },
        )
        self._start_workers(scheduled_worker_env(day_clock))
        await_first_run(r, ctx, f"scheduled daily-retraining/{DEPLOYMENT}")

    def stop_scheduler(self, ctx: RunContext) -> None:
        """The server (its scheduler services run in its process) and the workers, with
        any flow run they started. PostgreSQL stays up: a production database is a
        service of its own, not on the scheduler's host."""
        kill_server(self.runner)
        if self.workers is not None:
            self.workers.stop()

    def start_scheduler(self, ctx: RunContext) -> None:
        """The server on the same port and database, then the workers."""
        r = self.runner
        assert r.server is not None
        r.api = r.server.restart()
        self._start_workers()

    def _unschedule(self) -> None:
        """After a system-scheduled run: the shared deployment loses the run's schedule,
        tag and environment, and the run's flow runs that never started are deleted, so
        the next scenario run's workers do not pick them up."""
        api = self.runner.api
        tag, self._scheduled_tag = self._scheduled_tag, None
        if tag is None or api is None or self.deployment_id is None:
            return
        with contextlib.suppress(OSError, ApiError, ValueError):
            api.request(
                "PATCH",
                f"deployments/{self.deployment_id}",
                {"schedules": [], "tags": [], "job_variables": {}},
            )
            left = api.post(
                "flow_runs/filter",
                {
                    "flow_runs": {
                        "tags": {"all_": [tag]},
                        "state": {"type": {"any_": ["SCHEDULED", "PENDING"]}},
                    }
                },
            )
            for run in left or []:
                api.request("DELETE", f"flow_runs/{run['id']}")

    def _start_workers(self, env: dict[str, str] | None = None) -> None:
        """(Re)start the pool's workers, with ``env`` on top of the client's (None: what
        they run with now); they are gone after an ``abort``. Workers running with
        another ``env`` are restarted."""
        r = self.runner
        assert r.api is not None and r.home is not None and self.stack is not None
        env = self._worker_env if env is None else env
        if self.workers is not None and self.workers.alive() and env == self._worker_env:
            return
        if self.workers is not None:
            self.workers.stop()
        self._worker_env = env
        self.workers = Workers(
            r.python().parent / "prefect",
            POOL,
            {**r.client_env(), **env},
            r.home / "workers",
            self.stack,
            count=WORKERS,
            limit=WORKER_LIMIT,
        )
        self.workers.start(r.api)

    def stop(self) -> None:
        if self.pg is not None:
            self.pg.remove()
            self.pg = None

    def abort(self) -> None:
        self.cancel_awaited()
        self._unschedule()
        if self.workers is not None:
            self.workers.stop()
        if self.stack is not None:
            kill_marked(self.stack)

    def _ready(self, ctx: RunContext) -> None:
        # as installed, unless a system-scheduled run is under way (its recovery runs)
        self._start_workers(None if self._scheduled_tag else {})

    def _flow_run_extra(self, ctx: RunContext) -> dict[str, Any]:
        return {"job_variables": {"env": self.runner.run_env(ctx)}}


class RemotePool(PoolStack):
    """The user's server with deployment ``daily-retraining/orchbench`` on pool
    ``orchbench-process`` and workers the user started (``orchbench export prefect DIR``
    says how). Nothing is started here, and ``stop`` stops nothing of it."""

    def __init__(self, runner: PrefectRunner, url: str) -> None:
        super().__init__(runner)
        self.url = url

    def check_environment(self) -> None:
        """Only the flow's venv: the server, pool and workers are the user's."""

    def start(self) -> None:
        api = use_remote_server(self.runner, self.url)
        how = "deploy it and start its workers as `orchbench export prefect DIR` describes"
        try:
            dep = api.get(f"deployments/name/daily-retraining/{DEPLOYMENT}")
        except ApiError as e:
            raise EnvironmentMissing(
                f"no deployment daily-retraining/{DEPLOYMENT} at {self.url}: {how}"
            ) from e
        if dep.get("work_pool_name") != POOL:
            raise EnvironmentMissing(
                f"deployment daily-retraining/{DEPLOYMENT} at {self.url} is on pool "
                f"{dep.get('work_pool_name')!r}, not {POOL!r}: {how}"
            )
        rows = api.post(f"work_pools/{POOL}/workers/filter", {}) or []
        online = sorted(w["name"] for w in rows if w.get("status") == "ONLINE")
        if not online:
            raise EnvironmentMissing(f"no worker of pool {POOL} is online at {self.url}: {how}")
        self.runner.api = api
        self.deployment_id = str(dep["id"])
        self.runner.server_info = {"api_url": self.url, "managed": False, "workers_online": online}

    def deploy_code(self, ctx: RunContext) -> str | None:
        """The deployment is the user's: their own CI deploys new code, not the harness."""
        return None

    def schedule(self, ctx: RunContext) -> None:
        """The deployment and its schedule are the user's."""
        Mode.schedule(self, ctx)

    def stop_scheduler(self, ctx: RunContext) -> None:
        Mode.stop_scheduler(self, ctx)

    def start_scheduler(self, ctx: RunContext) -> None:
        Mode.start_scheduler(self, ctx)

    def _start_workers(self, env: dict[str, str] | None = None) -> None:
        """The workers are the user's."""
