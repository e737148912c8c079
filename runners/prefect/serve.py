"""The ``default`` and ``tuned`` profiles' supervisor: a ``flow.serve()`` process.

``python -m runners.prefect --serve NAME`` serves the daily flow as deployment
``daily-retraining/NAME`` (Prefect's ``Flow.serve``): one long-lived process that polls
the server for the deployment's flow runs and starts each in a subprocess of its own
(``run_flow_in_subprocess``), watches it, and when it dies proposes ``Crashed`` and runs
the flow's ``on_crashed`` hooks itself.

One serve process per scenario run, because Prefect's serve runner gives a flow run no
environment of its own (it ignores a flow run's ``job_variables``): the run's world,
journal and policy reach the flow-run processes and the ``on_crashed`` hook only through
the serve process's environment. Each scenario run is therefore its own deployment
(``daily-retraining/orchbench-<run id>``), served by its own process, started before the
run's first date and stopped once the run was collected.

Every process of it (the serve process and the flow runs it started, which a kill of the
serve process orphans) carries ``pool.MARKER=<stack id>`` in its environment; ``stop``
kills the group, then every process with the marker, and returns when none is left.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from orchbench.procs import kill_group
from runners.prefect.pool import MARKER, kill_marked, marked_pids
from runners.prefect.server import Api, ApiError, LoggedProcess

FLOW_NAME = "daily-retraining"
# How often the serve process asks the server for flow runs to start (Prefect's
# PREFECT_RUNNER_POLL_FREQUENCY, 10 s as installed). In production a scheduled run is
# created ahead of its time and prefetched (the runner's prefetch_seconds, 10 s), so it
# starts on time; the harness creates each date's run when it is due, and a 10 s poll
# would add up to 10 s per date that production does not have.
POLL_S = 1
READY_TIMEOUT_S = 120.0


class ServeError(RuntimeError):
    """The serve process did not come up (the message has the tail of its log)."""


def deployment_name(run_id: str) -> str:
    return f"orchbench-{run_id}"


class ServeProcess(LoggedProcess):
    """``python -m runners.prefect --serve NAME`` with ``env``, in its own process group."""

    module = "runners.prefect"  # python -m MODULE --serve NAME serves the flow
    flow_name = FLOW_NAME  # the served flow's name (its deployment is flow_name/name)

    def __init__(
        self, python: Path, name: str, env: dict[str, str], log: Path, cwd: Path, stack: str
    ) -> None:
        self.python = python
        self.name = name
        self.env = {**env, MARKER: stack, "PREFECT_RUNNER_POLL_FREQUENCY": str(POLL_S)}
        self.log = log
        self.cwd = cwd
        self.stack = stack
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [str(self.python), "-m", self.module, "--serve", self.name]

    def start(self, api: Api, version: str | None = None) -> str:
        """Start the process and wait until its deployment is registered (at once after a
        restart: it exists already), with ``version`` when given (a re-serve after a
        deploy: the new process updates the deployment's version); its id. Processes a
        previous start left (a flow run a killed serve process orphaned) are left alone:
        they still report to the server."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.command(),
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        end = time.monotonic() + READY_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise ServeError(f"serve process exited ({self.proc.returncode}): {self.tail()}")
            try:
                deployment = api.get(f"deployments/name/{self.flow_name}/{self.name}")
                if version is None or deployment.get("version") == version:
                    return str(deployment["id"])
            except (OSError, ApiError, ValueError, KeyError, TypeError, AttributeError):
                pass
            if time.monotonic() > end:
                raise ServeError(f"deployment {self.name} not served in {READY_TIMEOUT_S:.0f} s")
            time.sleep(0.2)

    def pid(self) -> int | None:
        return self.proc.pid if self.alive() and self.proc is not None else None

    def pids(self) -> list[int]:
        """Every live process of it: the serve process and the flow runs it started."""
        return marked_pids(self.stack)

    def stop(self) -> None:
        """Kill the serve process's group, then every process with the marker (flow runs
        a killed serve process orphaned); returns when none is left. Safe twice."""
        if self.proc is not None:
            kill_group(self.proc, grace_s=0.0)
            self.proc = None
        kill_marked(self.stack)
