"""``dagster dev`` for one scenario run: the webserver, the daemon and the code server
on loopback, with the run's own ``DAGSTER_HOME`` (telemetry off; SQLite storage there, or
on ``production`` a PostgreSQL database of the runner's cluster; the daemon's intervals
per profile: ``instance_yaml``).

``dagster dev`` supervises its two services: when the daemon dies it shuts the webserver
and the code server down too (``dagster/_cli/dev.py``: "dagster-daemon process shut down
unexpectedly"). A supervisor restarts it as a unit (``restart``): what is left of the
group is stopped as systemd stops a unit's control group (SIGTERM to every process, a
grace, then SIGKILL), then it starts again on the same port and home."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from orchbench.procs import child_pids, free_port, group_pids, kill_group
from runners.dagster.graphql import Api

START_TIMEOUT_S = 180.0
# systemd's stop of a unit (KillMode=control-group): SIGTERM to every process, then
# SIGKILL to what is left after this grace (k8s' default terminationGracePeriodSeconds)
STOP_GRACE_S = 30.0
# The instance as a team writes dagster.yaml for a single machine (docs: "Dagster
# instance", "Run monitoring", "Run queue"): SQLite under DAGSTER_HOME, telemetry off, run
# monitoring on so that ``dagster/max_runtime`` is enforced, and one run at a time (the
# days of one pipeline must not overlap: register and canary move the shared champion).
# ``{storage}``, ``{monitoring}`` and ``{queue}``: the profile's (``instance_yaml``).
DAGSTER_YAML = """\
telemetry:
  enabled: false
storage:
{storage}run_monitoring:
  enabled: true
{monitoring}run_queue:
  max_concurrent_runs: 1
{queue}"""
# Dagster 1.13's own intervals, which the default profile keeps (it sets neither key):
# run monitoring polls every 120 s (``run_monitoring_poll_interval_seconds``,
# dagster/_core/instance/methods/settings_methods.py), the run queue is read every 5 s
# (``QueuedRunCoordinator``'s ``dequeue_interval_seconds``).
DAGSTER_POLL_S = 120
DAGSTER_DEQUEUE_S = 5
# tuned (not what the docs' quickstart gives you): what a team tightening a single-machine
# instance sets. Both keys are ints, and each daemon sleeps its interval in 0.5-s waits
# (``IntervalDaemon.core_loop``, dagster/_daemon/daemon.py).
TUNED_POLL_S = 10  # dagster/max_runtime is enforced within 10 s of the limit, not 120
TUNED_DEQUEUE_S = 1  # a launched run waits at most 1 s in the queue (0 would spin)


# The instance's storage (docs: "Dagster instance", "storage"): SQLite under DAGSTER_HOME
# (default, tuned); PostgreSQL for every component (runs, event log, schedules) through
# dagster-postgres (production), the ``storage: postgres: postgres_db:`` block of
# https://docs.dagster.io/api/libraries/dagster-postgres (no password: the cluster trusts
# 127.0.0.1, ``orchbench.postgres``; ``password`` defaults to "" in ``pg_config``).
# ``scheme`` names the driver dagster-postgres installs (psycopg2-binary): with the
# documented default ``postgresql``, SQLAlchemy 2.1 (what dagster 1.13.27 resolves to)
# loads psycopg 3, which nothing installs ("No module named 'psycopg'").
SQLITE_STORAGE = "  sqlite:\n    base_dir: {home}/storage\n"
POSTGRES_STORAGE = """\
  postgres:
    postgres_db:
      username: {username}
      hostname: {hostname}
      port: {port}
      db_name: {db_name}
      scheme: {scheme}
"""
PG_SCHEME = "postgresql+psycopg2"
PROFILES = ("default", "tuned", "production")


def instance_yaml(home: Path, profile: str, postgres_db: dict[str, Any] | None = None) -> str:
    """The run's ``dagster.yaml``: ``default`` leaves the daemon's intervals to Dagster;
    ``tuned`` sets run monitoring's ``poll_interval_seconds`` and the run queue's
    ``dequeue_interval_seconds``; ``production`` keeps Dagster's intervals and stores
    runs, events and schedules in PostgreSQL (``postgres_db``: username, hostname, port,
    db_name; required there, refused elsewhere). Nothing in it touches the scenario's
    policy."""
    if profile not in PROFILES:
        raise ValueError(f"no Dagster instance for profile {profile!r}")
    if (profile == "production") != (postgres_db is not None):
        raise ValueError(f"profile {profile!r}: PostgreSQL storage is production's alone")
    monitoring = queue = ""
    if profile == "tuned":
        monitoring = f"  poll_interval_seconds: {TUNED_POLL_S}\n"
        queue = f"  dequeue_interval_seconds: {TUNED_DEQUEUE_S}\n"
    if postgres_db is not None:
        storage = POSTGRES_STORAGE.format(**{"scheme": PG_SCHEME, **postgres_db})
    else:
        storage = SQLITE_STORAGE.format(home=home)
    return DAGSTER_YAML.format(storage=storage, monitoring=monitoring, queue=queue)


DAEMON_MODULE = "dagster._daemon"
# the code location ``dagster dev`` loads: the benchmarked pipeline (the overhead probe
# loads its own, ``overhead_job``)
CODE_MODULE = "runners.dagster.definitions"
WEBSERVER_MODULE = "dagster_webserver"


class DagsterDev:
    """One ``dagster dev`` process group serving the code location ``module``."""

    def __init__(
        self,
        python: Path,
        home: Path,
        env: dict[str, str],
        cwd: Path,
        log: Path,
        profile: str = "default",
        postgres_db: dict[str, Any] | None = None,
        module: str = CODE_MODULE,
    ) -> None:
        self.python = python
        self.module = module
        self.profile = profile
        self.postgres_db = postgres_db
        self.home = home
        self.env = env
        self.cwd = cwd
        self.log = log
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.started_at = 0.0  # epoch seconds of the latest start

    @property
    def api(self) -> Api:
        return Api(f"http://127.0.0.1:{self.port}/graphql")

    def write_instance(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "dagster.yaml").write_text(
            instance_yaml(self.home, self.profile, self.postgres_db)
        )

    def start(self, deadline: float) -> str:
        """Start ``dagster dev`` and wait until its code location is loaded; its name."""
        self.write_instance()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        self.started_at = time.time()
        with self.log.open("ab") as out:
            out.write(f"# orchbench: start {self.starts} on port {self.port}\n".encode())
            self.proc = subprocess.Popen(
                [
                    str(self.python.parent / "dagster"),
                    "dev",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-m",
                    self.module,
                ],
                cwd=self.cwd,
                env={**self.env, "DAGSTER_HOME": str(self.home)},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        end = min(deadline, time.monotonic() + START_TIMEOUT_S)
        api = self.api
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace")[-4000:]  # the log may not outlive us
                raise RuntimeError(
                    f"dagster dev exited ({self.proc.returncode}); {self.log}:\n{tail}"
                )
            if api.up():
                name, err = api.location()
                if err:
                    raise RuntimeError(f"the Dagster code location failed to load: {err[:300]}")
                if name:
                    return name
            time.sleep(0.5)
        raise RuntimeError(f"dagster dev did not load its code location; see {self.log}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def daemon_pids(self) -> list[int]:
        """The ``dagster-daemon run`` process ``dagster dev`` started."""
        if self.proc is None:
            return []
        return [p for p in child_pids(self.proc.pid) if _runs(p, DAEMON_MODULE)]

    def pids(self) -> list[int]:
        return group_pids(self.proc.pid) if self.proc is not None else []

    def kill(self) -> None:
        """SIGKILL the whole process group (every service, the code server and any run
        worker and step process under it)."""
        if self.proc is not None:
            kill_group(self.proc)

    def stop_unit(self, grace_s: float = STOP_GRACE_S) -> list[int]:
        """Stop the group as systemd stops a unit: SIGTERM to every process left in it
        (Dagster maps SIGTERM to an interrupt), up to ``grace_s`` for them to exit, then
        SIGKILL. Returns the pids SIGKILL found still running."""
        if self.proc is None:
            return []
        group = self.proc.pid
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGTERM)
        end = time.monotonic() + grace_s
        while group_pids(group) and time.monotonic() < end:
            time.sleep(0.1)
        left = group_pids(group)
        kill_group(self.proc)
        return left

    def stop(self) -> None:
        if self.proc is not None:
            kill_group(self.proc, grace_s=5.0)
            self.proc = None


def _runs(pid: int, module: str) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return module.encode() in argv


def clean_env() -> dict[str, str]:
    """The harness's environment without Dagster or orchbench settings of its own."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "ORCHBENCH_"))}
