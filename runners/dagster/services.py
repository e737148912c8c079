"""``dagster dev`` for one scenario run: the webserver, the daemon and the code server
on loopback, with the run's own ``DAGSTER_HOME`` (SQLite storage, telemetry off).

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

from orchbench.procs import child_pids, free_port, group_pids, kill_group
from runners.dagster.graphql import Api

START_TIMEOUT_S = 180.0
# systemd's stop of a unit (KillMode=control-group): SIGTERM to every process, then
# SIGKILL to what is left after this grace (k8s' default terminationGracePeriodSeconds)
STOP_GRACE_S = 30.0
# The instance as a team writes dagster.yaml for a single machine (docs: "Dagster
# instance", "Run monitoring", "Run queue"): SQLite under DAGSTER_HOME, telemetry off, run
# monitoring on so that ``dagster/max_runtime`` is enforced (Dagster's default poll
# interval, 120 s), and one run at a time (the days of one pipeline must not overlap:
# register and canary move the shared champion).
DAGSTER_YAML = """\
telemetry:
  enabled: false
storage:
  sqlite:
    base_dir: {home}/storage
run_monitoring:
  enabled: true
run_queue:
  max_concurrent_runs: 1
"""
DAEMON_MODULE = "dagster._daemon"
WEBSERVER_MODULE = "dagster_webserver"


class DagsterDev:
    """One ``dagster dev`` process group."""

    def __init__(self, python: Path, home: Path, env: dict[str, str], cwd: Path, log: Path) -> None:
        self.python = python
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
        (self.home / "dagster.yaml").write_text(DAGSTER_YAML.format(home=self.home))

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
                    "runners.dagster.definitions",
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
                raise RuntimeError(f"dagster dev exited ({self.proc.returncode}); see {self.log}")
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
