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
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any, ClassVar

from fault_injection import runner_faults as rf
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
from runners.prefect.server import Api, PrefectServer, ServerError

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
}
DEFAULT_FLUSH_S = 5.0  # Prefect's event persister / task run recorder flush interval
COLLECT_MAX_WAIT_S = 60.0
SERVER = "prefect-server"  # what a scheduler_crash kills: the whole server process group


def _clean_env() -> dict[str, str]:
    """The harness's environment without any Prefect or orchbench settings of its own."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ORCHBENCH_"))}


class PrefectRunner(Runner):
    """Prefect 3: a flow of tasks calling the shared steps, against a local server."""

    name = "prefect"
    system = "Prefect"
    description = "Prefect 3 flow (retries, input-content cache, assets) on a local server"
    profiles: ClassVar[tuple[str, ...]] = ("default", "tuned")
    runner_faults: ClassVar[frozenset[str]] = frozenset({"missed_days", "scheduler_crash"})

    def __init__(self, profile: str = "default", repo_root: Path | None = None) -> None:
        super().__init__(profile, repo_root)
        self.server: PrefectServer | None = None
        self.api: Api | None = None
        self.home: Path | None = None
        self._flow: subprocess.Popen[bytes] | None = None
        self._flow_runs = 0
        self._crashes_handled = 0
        self._versions: dict[str, str] | None = None
        self._server_info: dict[str, Any] = {}

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

    def versions(self) -> dict[str, str]:
        if self._versions is None:
            wanted = ("prefect", "numpy", "pandas", "pandera", "pydantic", "scikit-learn")
            self._versions = venv_versions(self.python(), wanted)
        return self._versions

    def settings(self) -> dict[str, Any]:
        prof = PROFILES[self.profile]
        return {
            "profile": self.profile,
            "server_env": {**BASE_SERVER_ENV, **prof["server"]},
            "client_env": dict(prof["client"]),
            "flow_process": "one per logical date: python -m runners.prefect",
            "task_options": "retries/retry_delay_seconds/timeout_seconds from the scenario policy",
            "cache": "input file content (register, canary: no cache); results persisted as JSON",
            "server": dict(self._server_info),
        }

    # --- services -----------------------------------------------------------------------

    def start(self, matrix_dir: Path) -> None:
        if self.api is not None:
            return
        self.home = Path(matrix_dir).resolve() / "prefect_home"
        self.home.mkdir(parents=True, exist_ok=True)
        self._warm()
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

    def _warm(self) -> None:
        env = {k: v for k, v in _clean_env().items() if k != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run(
            [str(self.python()), "-c", WARM_IMPORTS],
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

    def abort(self) -> None:
        if self._flow is not None:
            kill_group(self._flow, grace_s=0.0)
            self._flow = None

    # --- runs ---------------------------------------------------------------------------

    def _quiet_s(self) -> float:
        """How long the API's view must stay unchanged: one recorder flush and a margin."""
        flush = PROFILES[self.profile]["server"].get(
            "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL", DEFAULT_FLUSH_S
        )
        return float(flush) + 1.0

    def flow_env(self, ctx: RunContext) -> dict[str, str]:
        if self.api is None or self.home is None:
            raise RuntimeError("the prefect runner was not started")
        return {
            **_clean_env(),
            **ctx.step_env(),
            "PREFECT_API_URL": self.api.url,
            "PREFECT_HOME": str(self.home),
            "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(ctx.work / "prefect" / "results"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            **PROFILES[self.profile]["client"],
            "ORCHBENCH_POLICY": ctx.scenario.policy.model_dump_json(),
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
        """Wait for the flow process; restart a crashed server meanwhile (``scheduler_crash``)."""
        assert self._flow is not None
        watch = bool(rf.fault_ids(ctx.scenario, "scheduler_crash"))
        while True:
            try:
                return self._flow.wait(timeout=0.1 if watch else max(ctx.remaining(), 0.01))
            except subprocess.TimeoutExpired:
                pass
            if watch:
                self._restart_crashed(ctx)
            if ctx.remaining() <= 0:
                self.abort()
                raise RunTimeout(
                    f"flow run for {logical_date} still running at the deadline; killed"
                )

    def _restart_crashed(self, ctx: RunContext) -> None:
        """The server the fault killed comes back after ``restart_after_s`` on the same port
        and database, as under a supervisor; the new processes are registered."""
        for crash in rf.crashes(ctx.world)[self._crashes_handled :]:
            self._crashes_handled += 1
            if self.server is None:
                continue
            time.sleep(float(crash.get("restart_after_s") or 0.0))
            self.api = self.server.restart()
            rf.register_scheduler(ctx.world, SERVER, self.server.pids())
            with (ctx.logs / "prefect-server-restarts.log").open("a") as f:
                f.write(f"{crash}: restarted, pids {self.server.pids()}\n")

    def run_days(self, ctx: RunContext) -> None:
        self._crashes_handled = len(rf.crashes(ctx.world))
        if rf.fault_ids(ctx.scenario, "scheduler_crash"):
            if self.server is None:
                raise NotApplicable(
                    f"scheduler_crash needs a server this runner manages ({ENV_API_URL} is set)"
                )
            rf.register_scheduler(ctx.world, SERVER, self.server.pids())
        for day in ctx.dates:
            # the schedule that would have started this run is down
            if rf.scheduler_down(ctx.journal, ctx.scenario, day, ctx.run_id):
                continue
            self._flow_run(ctx, day.isoformat())
        self._restart_crashed(ctx)  # a crash the last flow run outlived

    def recover(self, ctx: RunContext, plan: RecoveryPlan) -> None:
        for logical_date, step in sorted(plan.restart_from.items()):
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
