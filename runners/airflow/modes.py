"""The airflow runner's deployment modes: which Airflow it drives and what of it is ours.

``AirflowRunner`` holds one mode, chosen by profile and ``ORCHBENCH_AIRFLOW_URL``
(``mode_for``):

- ``LocalStack`` (profiles default, tuned): a stack of our own (``stack.AirflowStack``:
  api-server, scheduler, dag-processor; LocalExecutor; SQLite), one per matrix, started
  again whole when a component is found dead between runs.
- ``CeleryStack`` (profile celery): the same with CeleryExecutor, its workers, PostgreSQL
  and Redis (``stack.CeleryAirflowStack``).
- ``RemoteDeployment`` (any profile, with the URL): the user's deployment
  (``remote.RemoteAirflow``). Nothing of it is started, stopped or killed, so a scheduler
  crash cannot be injected there, and its OpenLineage events and memory are not read.

The adapter (``adapter.AirflowRunner``) drives a date the same way in every mode, through
the REST API of ``mode.stack``; a mode says only what differs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from orchbench import postgres
from orchbench.runner import EnvironmentMissing
from runners.airflow.remote import ENV_URL, RemoteAirflow
from runners.airflow.services import redis_available, redis_version
from runners.airflow.stack import (
    CELERY_CONCURRENCY,
    CELERY_WORKERS,
    PROFILES,
    AirflowStack,
    iter_lineage,
    new_stack,
)

log = logging.getLogger("orchbench")

SCHEDULER = "scheduler"  # the component a scheduler_crash kills
CELERY_PACKAGES = (
    "apache-airflow-providers-celery",
    "celery",
    "kombu",
    "redis",
    "psycopg2-binary",
)

Deployment = AirflowStack | RemoteAirflow


class Mode:
    """One way to reach Airflow. ``stack`` is the deployment in use (None when stopped);
    ``last`` outlives ``stop()`` for env.json."""

    # the scheduler-level fault kinds it implements (``Runner.runner_faults``)
    runner_faults: frozenset[str] = frozenset({"scheduler_crash"})
    owns_scheduler: ClassVar[bool] = True  # ours to stop and start (missed_days)
    packages: ClassVar[tuple[str, ...]] = ()  # recorded in env.json beside the runner's

    def __init__(self, profile: str, venv: Path) -> None:
        self.profile = profile
        self.venv = venv
        self.stack: Deployment | None = None
        self.last: Deployment | None = None

    def check_environment(self) -> None:
        """Raise ``EnvironmentMissing`` when this mode cannot run here."""

    def start(self, home: Path) -> None:
        """Have a deployment ready for a matrix whose files go under ``home``."""
        raise NotImplementedError

    def ensure(self, home: Path) -> Deployment:
        """The deployment, ready (``home`` is used when nothing started one yet)."""
        raise NotImplementedError

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.kill()  # a remote deployment is left running
            self.stack = None

    def unreachable(self, error: Exception) -> None:
        """The deployment did not answer while a run was aborted."""
        raise NotImplementedError

    def scheduler_processes(self) -> dict[str, list[int]]:
        """The scheduler's processes, when they are ours to kill."""
        return {}

    def restart_scheduler(self) -> int:
        """Start the killed scheduler again, as a supervisor would; its new pid."""
        raise NotImplementedError(f"{type(self).__name__} has no scheduler of ours")

    def stop_scheduler(self) -> list[int]:
        """SIGKILL the scheduler and what runs in its session (a host outage); the pids."""
        raise NotImplementedError(f"{type(self).__name__} has no scheduler of ours")

    def reparse(self) -> list[str] | None:
        """Re-parse the DAG bundle after a deploy of new code (``airflow dags
        reserialize``); the command run, or None when the deployment is not ours (its own
        dag processor re-parses on its interval)."""
        return None

    def pss_mb(self) -> float | None:
        """Memory of the deployment now (None when it is not ours to read)."""
        return None

    def lineage(self) -> Iterator[dict[str, Any]]:
        """The OpenLineage events the deployment wrote (none when they are not ours)."""
        return iter([])

    def copy_logs(self, dag_id: str, dest: Path) -> None:
        """Copy the task logs and lineage events of ``dag_id`` under ``dest``."""

    def settings(self) -> dict[str, Any]:
        """What env.json records of this mode."""
        raise NotImplementedError

    def versions(self) -> dict[str, str]:
        """Versions of the services this mode runs besides Airflow."""
        return {}


class LocalStack(Mode):
    """Our own stack, LocalExecutor on SQLite (profiles default and tuned)."""

    executor = "LocalExecutor"
    metadata_db = "sqlite"

    def __init__(self, profile: str, venv: Path) -> None:
        super().__init__(profile, venv)
        self.home: Path | None = None

    def check_environment(self) -> None:
        if not (self.venv / "bin" / "airflow").is_file():
            raise EnvironmentMissing(
                f"the airflow runner needs its environment {self.venv}: run `make setup`"
            )

    def start(self, home: Path) -> None:
        """A fresh stack (new metadata DB) under ``home``."""
        self.home = home
        shutil.rmtree(home, ignore_errors=True)
        self._start_stack()

    def _start_stack(self) -> None:
        assert self.home is not None
        stack = new_stack(self.home, self.profile, self.venv)
        self.stack = stack
        log.info("starting airflow (%s) in %s", self.profile, self.home)
        stack.start()
        self.last = stack
        log.info("airflow healthy: %s, %.0f MB PSS", stack.startup, stack.pss_idle_mb)

    def ensure(self, home: Path) -> Deployment:
        if self.home is None:  # not started by a matrix: this run owns the services
            self.home = home
        if self.stack is None or not self.stack.alive():
            if self.stack is not None:
                log.warning("airflow stack is down: restarting it")
                self.stack.kill()
            self._start_stack()
        assert self.stack is not None
        return self.stack

    def unreachable(self, error: Exception) -> None:
        log.warning("airflow did not answer during abort (%s): killing the stack", error)
        self.stop()

    def _own(self) -> AirflowStack:
        assert isinstance(self.stack, AirflowStack)
        return self.stack

    def scheduler_processes(self) -> dict[str, list[int]]:
        if self.stack is None:
            return {}
        return {SCHEDULER: [self._own().procs[SCHEDULER].pid]}

    def restart_scheduler(self) -> int:
        stack = self._own()
        proc = stack.procs.get(SCHEDULER)
        if proc is not None:  # SIGKILL was sent: wait for the exit to be visible
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        return stack.restart(SCHEDULER)  # raises if it is still running

    def stop_scheduler(self) -> list[int]:
        return self._own().kill_component(SCHEDULER)

    def reparse(self) -> list[str] | None:
        stack = self._own()
        cmd = [str(self.venv / "bin" / "airflow"), "dags", "reserialize"]
        done = subprocess.run(cmd, env=stack.env(), capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"airflow dags reserialize failed: {done.stderr[-2000:]}")
        return cmd[1:]

    def pss_mb(self) -> float | None:
        return None if self.stack is None else self._own().pss_mb()

    def lineage(self) -> Iterator[dict[str, Any]]:
        return iter_lineage(self._own().lineage_file)

    def copy_logs(self, dag_id: str, dest: Path) -> None:
        stack = self._own()
        src = stack.home / "logs" / f"dag_id={dag_id}"
        if src.is_dir():
            shutil.copytree(src, dest / "tasks", dirs_exist_ok=True)
        events = [e for e in iter_lineage(stack.lineage_file) if dag_id in str(e)]
        if events:
            dest.mkdir(parents=True, exist_ok=True)
            (dest / "openlineage.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))

    def settings(self) -> dict[str, Any]:
        return {
            "profile_settings": PROFILES[self.profile],
            "executor": self.executor,
            "metadata_db": self.metadata_db,
        }


class CeleryStack(LocalStack):
    """Our own production-like stack: CeleryExecutor, workers, PostgreSQL, Redis."""

    executor = "CeleryExecutor"
    metadata_db = "postgresql"
    packages = CELERY_PACKAGES

    def check_environment(self) -> None:
        super().check_environment()
        site = sorted((self.venv / "lib").glob("python3*/site-packages"))
        if not any((s / "airflow" / "providers" / "celery").is_dir() for s in site):
            raise EnvironmentMissing(
                f"--profile celery needs apache-airflow-providers-celery in {self.venv}: "
                "run `make setup`"
            )
        missing = postgres.available() or redis_available()
        if missing:
            raise EnvironmentMissing(f"--profile celery: {missing}")

    def settings(self) -> dict[str, Any]:
        return {
            **super().settings(),
            "postgresql": {
                "version": postgres.version(),
                "fsync": False,
                "synchronous_commit": False,
            },
            "celery_result_backend": "postgresql (db+postgresql+psycopg2, the metadata DB)",
            "broker": {
                "kind": "redis",
                "version": redis_version(),
                "persistence": "off (--save '' --appendonly no)",
            },
            "celery_workers": CELERY_WORKERS,
            "worker_concurrency": CELERY_CONCURRENCY,
        }

    def versions(self) -> dict[str, str]:
        return {"redis-server": redis_version(), "postgresql": postgres.version()}


class RemoteDeployment(Mode):
    """The user's deployment at ``url``: driven, never started, stopped or killed."""

    runner_faults: frozenset[str] = frozenset()  # a scheduler crash needs its process
    owns_scheduler: ClassVar[bool] = False

    def __init__(self, profile: str, venv: Path, url: str) -> None:
        super().__init__(profile, venv)
        self.url = url

    def start(self, home: Path) -> None:
        """Check that the deployment answers and has the bundle."""
        remote = RemoteAirflow(self.url)
        log.info("airflow: remote deployment %s", remote.root)
        remote.start()
        self.stack = self.last = remote

    def ensure(self, home: Path) -> Deployment:
        if self.stack is None:
            self.start(home)
        assert self.stack is not None
        return self.stack

    def unreachable(self, error: Exception) -> None:
        log.warning("remote airflow did not answer during abort (%s)", error)

    def settings(self) -> dict[str, Any]:
        return {"remote": True, "executor": "as deployed", "metadata_db": "as deployed"}


MODES: dict[str, type[LocalStack]] = {"celery": CeleryStack}  # else LocalStack


def mode_for(profile: str, venv: Path, url: str | None) -> Mode:
    """The mode of ``profile``; ``url`` (``ORCHBENCH_AIRFLOW_URL``) means the user's."""
    if url:
        return RemoteDeployment(profile, venv, url)
    return MODES.get(profile, LocalStack)(profile, venv)


__all__ = ["ENV_URL", "SCHEDULER", "Mode", "mode_for"]
