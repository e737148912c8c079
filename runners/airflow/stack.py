"""The real Airflow 3 stack on this machine: api-server + scheduler + dag-processor.

LocalExecutor, a SQLite metadata DB and ``AIRFLOW_HOME`` under the directory the harness
gives ``start()``, the api-server on a free port on 127.0.0.1, no log server (see
``SKIP_SERVE_LOGS``), random per-stack secrets. Each component is started in its own
session (process group); Airflow's task processes make their own process groups, so the
stack's processes are found through ``/proc`` by session (see ``session_processes``),
which survives re-parenting. ``kill()`` SIGKILLs every one of them and waits until none is
left.

Profiles (recorded in env.json): ``default`` is Airflow's defaults as installed, plus only
what running the stack at all needs (executor, DB, ports, auth, no example DAGs, lineage);
``tuned`` adds the low-latency settings Airflow documents (see ``PROFILES``). Lowering
``[core] parallelism`` to the machine's size was tried and left out: with 4 LocalExecutor
slots, queued-to-started grew from ~0.02 s to up to 4 s per task on this machine.

``celery`` is the production-like deployment (Airflow's docker-compose: CeleryExecutor,
PostgreSQL, Redis) on top of ``default``: a PostgreSQL metadata DB (fsync off) and Celery's
result backend in it, a Redis broker, and ``CELERY_WORKERS`` ``airflow celery worker``
processes beside the three components, each worker in its own session like them. The
services (``services.py``) start before ``db migrate`` and stop after every Airflow process
is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from orchbench.procs import free_port
from runners.airflow.api import AirflowAPI, APIError
from runners.airflow.services import MetadataDB, RedisServer

COMPONENTS = ("api-server", "scheduler", "dag-processor")
CELERY_WORKERS = 2  # `airflow celery worker` processes of the celery profile
CELERY_CONCURRENCY = 2  # task slots (prefork pool children) per worker
DAGS_SRC = Path(__file__).resolve().parent / "dags"
# Airflow plugins (the scenario timetable), copied to AIRFLOW_HOME/plugins
PLUGINS_SRC = Path(__file__).resolve().parent / "plugins"
HEALTH_TIMEOUT_S = 180.0
# Every process of the stack shares one machine and AIRFLOW_HOME/logs, so the scheduler
# (LocalExecutor) and the celery workers start no ``airflow serve-logs``: Airflow 3.3.2
# binds it to every interface, with no setting for the host (airflow/utils/serve_logs/
# core.py: ``uvicorn.run(..., host="", port=WORKER_LOG_SERVER_PORT)``, "[::]" or
# "0.0.0.0"). ``--skip-serve-logs`` ("Don't start the serve logs process along with the
# workers") is an argument of both ``airflow scheduler`` (cli/cli_config.py,
# ARG_SKIP_SERVE_LOGS; scheduler_command.py ``_serve_logs``) and ``airflow celery worker``
# (providers/celery/cli/definition.py; celery_command.py ``_serve_logs``). The api-server
# still has every task log: for a finished try, FileTaskHandler._read (utils/log/
# file_task_handler.py) reads the local file under ``[logging] base_log_folder`` and asks
# a log server only when there is none; for a running try it reads the local file too
# and adds a "could not read served logs" source line.
SKIP_SERVE_LOGS = "--skip-serve-logs"

# What each profile sets on top of the common settings. ``default`` is Airflow as installed.
PROFILES: dict[str, dict[str, str]] = {
    "default": {},
    "tuned": {
        # The scheduler sleeps this long after a loop with nothing to do (default 1 s): on a
        # sequential DAG it is most of the gap between one task ending and the next one
        # being queued. windmill-benchmarks' "airflow_tuned" changes exactly this (to 0.1).
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.1",
        # One parsing process on a small machine (default 2) and a longer re-parse interval
        # (default 30 s; the docs: "keeping this number low will increase CPU usage"): DAG
        # parsing competes with tasks for the CPU. A changed DAG file is still re-parsed
        # at once (file_parsing_sort_mode=modified_time).
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "300",
    },
    # Airflow's defaults otherwise; the DB and broker URLs are added by the stack (ports).
    "celery": {"AIRFLOW__CORE__EXECUTOR": "CeleryExecutor"},
}


def worker_name(i: int) -> str:
    """The component name of celery worker ``i`` (1-based)."""
    return f"celery-worker-{i}"


@dataclass
class ProcInfo:
    pid: int
    pgid: int
    sid: int
    title: str


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, process group, session) of a live process, None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0], int(fields[2]), int(fields[3])


def _title(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def session_processes(sessions: Collection[int]) -> list[ProcInfo]:
    """Live Airflow processes in the given sessions (one session per component).

    Airflow's task processes make their own process groups and are re-parented when their
    supervisor dies, and ``setproctitle`` overwrites the environment block ``/proc`` shows,
    but nothing in Airflow (or in Celery's prefork pool) calls ``setsid``: the session a
    component was started in holds every process it ever forked. Zombies are left to
    whoever reaps them.
    """
    me = os.getpid()
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        pid = int(entry.name)
        st = _stat(pid)
        if st is None or st[2] not in sessions or st[0] == "Z":
            continue
        title = _title(pid)
        # Celery's worker and pool children retitle themselves "[celeryd: <node>:...]"
        if "airflow" in title or title.startswith("[celeryd: "):
            out.append(ProcInfo(pid, st[1], st[2], title))
    return out


def pss_kib(pids: list[int]) -> int:
    """Summed proportional set size of ``pids`` (shared pages split among sharers)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
    return total


def is_task_process(p: ProcInfo) -> bool:
    """A task attempt (the supervised child Airflow forks per try), not a component."""
    return p.title.startswith("airflow worker -- ") and "LocalExecutor" not in p.title


@dataclass
class AirflowStack:
    """One running Airflow deployment: its home, environment, processes and REST client.

    This class is the LocalExecutor stack on SQLite; ``CeleryAirflowStack`` adds the celery
    profile's services and workers. ``new_stack`` picks one by profile.
    """

    services: ClassVar[tuple[str, ...]] = ()  # what starts before ``db migrate``

    home: Path
    profile: str
    venv: Path
    port: int = 0
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    startup: dict[str, float] = field(default_factory=dict)
    pss_idle_mb: float | None = None
    processes_idle: int | None = None
    retired: set[int] = field(default_factory=set)  # sessions of restarted components
    extra_dags: tuple[Path, ...] = ()  # DAG files deployed beside DAGS_SRC's (scale DAGs)
    _log_offsets: dict[str, int] = field(default_factory=dict)
    _secret: str = field(default_factory=lambda: secrets.token_hex(16))
    _jwt: str = field(default_factory=lambda: secrets.token_hex(32))

    # --- configuration ----------------------------------------------------------------

    @property
    def dags(self) -> Path:
        return self.home / "dags"

    @property
    def plugins(self) -> Path:
        return self.home / "plugins"

    @property
    def deployments(self) -> Path:
        return self.dags / "orchbench_deployments"

    @property
    def lineage_file(self) -> Path:
        return self.home / "openlineage" / "events.jsonl"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def services_dir(self) -> Path:
        return self.home / "services"

    @property
    def components(self) -> tuple[str, ...]:
        """The Airflow processes this stack runs (each in its own session)."""
        return COMPONENTS

    def settings(self) -> dict[str, str]:
        """The Airflow configuration of this stack, without secrets (for env.json)."""
        common = {
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "orchbench",
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
                {"type": "file", "log_file_path": str(self.lineage_file), "append": True}
            ),
        }
        return {**common, **PROFILES[self.profile]}

    def env(self) -> dict[str, str]:
        keep = ("PATH", "LANG", "LC_ALL", "TZ", "HOME", "TMPDIR", "USER", "LOGNAME")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(self.settings())
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__API__SECRET_KEY": self._secret,
                "AIRFLOW__API_AUTH__JWT_SECRET": self._jwt,
                "PYTHONUNBUFFERED": "1",
            }
        )
        env["PATH"] = f"{self.venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
        return env

    def api(self) -> AirflowAPI:
        return AirflowAPI(f"{self.base_url}/api/v2")

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Start the services (if any), migrate the DB, start the components, wait until
        healthy."""
        t0 = time.monotonic()
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(exist_ok=True)
        self.deployments.mkdir(parents=True, exist_ok=True)
        self.lineage_file.parent.mkdir(exist_ok=True)
        for src in [*DAGS_SRC.glob("*.py"), *self.extra_dags]:  # a copy: immutable per stack
            shutil.copy2(src, self.dags / src.name)
        self.plugins.mkdir(exist_ok=True)  # [core] plugins_folder's default
        for src in PLUGINS_SRC.glob("*.py"):
            shutil.copy2(src, self.plugins / src.name)
        self.port = free_port()
        self._start_services()
        ts = time.monotonic()
        airflow = str(self.venv / "bin" / "airflow")
        with (self.home / "logs" / "db-migrate.log").open("wb") as log:
            subprocess.run(
                [airflow, "db", "migrate"],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=HEALTH_TIMEOUT_S,
                start_new_session=True,
            )
        t1 = time.monotonic()
        for name in self.components:
            self._spawn(name)
        self._wait_healthy(t1 + HEALTH_TIMEOUT_S)
        t2 = time.monotonic()
        self.startup = {
            "db_migrate_s": round(t1 - ts, 3),
            "components_healthy_s": round(t2 - t1, 3),
        }
        if self.services:
            self.startup["services_s"] = round(ts - t0, 3)
        self.startup["total_s"] = round(t2 - t0, 3)
        time.sleep(1.0)  # let start-up work settle before measuring memory
        self.pss_idle_mb = self.pss_mb()
        self.processes_idle = len(self.processes())

    def _start_services(self) -> None:
        """Start what the components need besides SQLite (nothing here)."""

    def _stop_services(self) -> None:
        """Stop what ``_start_services`` started."""

    def _command(self, name: str) -> list[str]:
        """The command line of component ``name``."""
        cmd = [str(self.venv / "bin" / "airflow"), name]
        return [*cmd, SKIP_SERVE_LOGS] if name == "scheduler" else cmd

    def _spawn(self, name: str) -> None:
        path = self.home / "logs" / f"{name}.log"
        log = path.open("ab")
        self._log_offsets[name] = log.tell()
        self.procs[name] = subprocess.Popen(
            self._command(name),
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def restart(self, name: str) -> int:
        """Start component ``name`` again (as a supervisor would, after it died); its new pid.

        Whatever the dead component left running (task processes) stays tracked through its
        session, so ``kill`` still finds it.
        """
        old = self.procs.get(name)
        if old is not None:
            if old.poll() is None:
                raise RuntimeError(f"airflow {name} is still running; not restarting it")
            self.retired.add(old.pid)
        self._spawn(name)
        return self.procs[name].pid

    def kill_component(self, name: str, timeout: float = 20.0) -> list[int]:
        """SIGKILL component ``name`` and every process of its session (what a host outage
        takes down with it), wait until they are gone; the pids killed. ``restart`` starts
        it again."""
        proc = self.procs[name]
        deadline = time.monotonic() + timeout
        killed: set[int] = set()
        while True:
            left = session_processes({proc.pid})
            if proc.returncode is None:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
                killed.add(proc.pid)
            for p in left:
                killed.add(p.pid)
                with contextlib.suppress(OSError):
                    os.kill(p.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.5)
            if not left and proc.poll() is not None:
                return sorted(killed)
            if time.monotonic() > deadline:
                raise RuntimeError(f"airflow {name} survived SIGKILL: {[p.pid for p in left]}")
            time.sleep(0.1)

    def _wait_healthy(self, deadline: float) -> None:
        api = self.api()
        last: Any = None
        while time.monotonic() < deadline:
            for name, p in self.procs.items():
                if p.poll() is not None:
                    self.kill()
                    raise RuntimeError(
                        f"airflow {name} exited with {p.returncode} during start-up; "
                        f"see {self.home / 'logs' / (name + '.log')}"
                    )
            try:
                last = api.get("/monitor/health")
                if all(
                    (last.get(c) or {}).get("status") == "healthy"
                    for c in ("metadatabase", "scheduler", "dag_processor")
                ):
                    if self._workers_ready():
                        return
                    last = "workers not ready yet"
            except APIError as e:
                last = str(e)
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"airflow did not become healthy in {HEALTH_TIMEOUT_S:.0f} s: {last}")

    def _workers_ready(self) -> bool:
        """The executor's workers are ready (LocalExecutor: they are the scheduler's own)."""
        return True

    def alive(self) -> bool:
        return bool(self.procs) and all(p.poll() is None for p in self.procs.values())

    @property
    def sessions(self) -> set[int]:
        """The components' sessions (each was started as a session leader: sid == pid)."""
        return {p.pid for p in self.procs.values()} | self.retired

    def processes(self) -> list[ProcInfo]:
        return session_processes(self.sessions)

    def task_processes(self) -> list[ProcInfo]:
        return [p for p in self.processes() if is_task_process(p)]

    def service_pids(self) -> list[int]:
        """The processes of the services (none here)."""
        return []

    def pss_mb(self) -> float:
        """PSS of the Airflow processes and of the services."""
        pids = [p.pid for p in self.processes()] + self.service_pids()
        return round(pss_kib(pids) / 1024, 1)

    def kill_tasks(self) -> int:
        """SIGKILL the process groups of running task attempts; returns how many."""
        tasks = self.task_processes()
        for pgid in {p.pgid for p in tasks}:
            with contextlib.suppress(OSError):
                os.killpg(pgid, signal.SIGKILL)
        for p in tasks:
            with contextlib.suppress(OSError):
                os.kill(p.pid, signal.SIGKILL)
        return len(tasks)

    def kill(self, timeout: float = 20.0) -> None:
        """SIGKILL every process of this stack and wait until none is left; then stop the
        services, also when an Airflow process survived."""
        try:
            self._kill_airflow(timeout)
        finally:
            self._stop_services()

    def _kill_airflow(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            for p in self.procs.values():
                if p.returncode is None:  # not reaped yet, so its pid (= pgid) is still ours
                    with contextlib.suppress(OSError):
                        os.killpg(p.pid, signal.SIGKILL)
            left = self.processes()
            for p in left:
                with contextlib.suppress(OSError):
                    os.killpg(p.pgid, signal.SIGKILL)
                with contextlib.suppress(OSError):
                    os.kill(p.pid, signal.SIGKILL)
            for p in self.procs.values():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=0.5)
            if not left and all(p.poll() is not None for p in self.procs.values()):
                break
            if time.monotonic() > deadline:
                pids = ", ".join(f"{p.pid} {p.title[:60]}" for p in left)
                raise RuntimeError(f"airflow processes survived SIGKILL: {pids}")
            time.sleep(0.1)
        self.procs.clear()

    # --- DAG deployment ---------------------------------------------------------------

    def deploy(self, deployment: dict[str, Any]) -> None:
        """Publish one deployment of the retraining DAG and have it re-parsed now.

        Other deployments are retired (one scenario run at a time uses the stack). The DAG
        file's mtime is bumped as a deploy tool (git-sync, CI copy) would: the dag-processor
        re-parses a modified file at once, whatever ``min_file_process_interval`` is.
        """
        for old in self.deployments.glob("*.json"):
            old.unlink()
        path = self.deployments / f"{deployment['dag_id']}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(deployment, indent=1))
        tmp.rename(path)
        self.touch_dags()

    def touch_dags(self) -> None:
        now = time.time()
        for f in self.dags.glob("*.py"):
            os.utime(f, (now, now))

    def wait_dag(self, dag_id: str, deadline: float) -> dict[str, Any]:
        """Wait until ``dag_id`` is parsed, active and unpaused; returns its REST record."""
        api = self.api()
        while True:
            try:
                dag = api.get(f"/dags/{dag_id}")
                if not dag.get("is_stale") and not dag.get("has_import_errors"):
                    if dag.get("is_paused"):
                        api.patch(f"/dags/{dag_id}", {"is_paused": False})
                    return dag
            except APIError as e:
                if e.status != 404:
                    raise
            errors = api.get("/importErrors").get("import_errors", [])
            if errors:
                raise RuntimeError(f"the DAG file does not import: {errors[0].get('stack_trace')}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"DAG {dag_id} was not parsed in time")
            time.sleep(0.1)


@dataclass
class CeleryAirflowStack(AirflowStack):
    """The celery profile: CeleryExecutor, PostgreSQL (metadata DB and result backend), a
    Redis broker and ``CELERY_WORKERS`` ``airflow celery worker`` components."""

    services: ClassVar[tuple[str, ...]] = ("postgresql", "redis")
    db: MetadataDB | None = None
    broker: RedisServer | None = None

    @property
    def components(self) -> tuple[str, ...]:
        return COMPONENTS + tuple(worker_name(i + 1) for i in range(CELERY_WORKERS))

    def settings(self) -> dict[str, str]:
        out = super().settings()
        if self.db is not None and self.broker is not None:
            out["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = self.db.url()
            out["AIRFLOW__CELERY__BROKER_URL"] = self.broker.url()
            # psycopg2 named: SQLAlchemy 2.1's default driver for postgresql:// is psycopg 3
            out["AIRFLOW__CELERY__RESULT_BACKEND"] = "db+" + self.db.url()
        return out

    def _start_services(self) -> None:
        """PostgreSQL (the ``airflow`` database) and Redis, before anything talks to them."""
        try:
            self.db = MetadataDB()
            self.db.start()
            self.broker = RedisServer(self.services_dir / "redis")
            self.broker.start()
        except BaseException:
            self._stop_services()
            raise

    def _stop_services(self) -> None:
        broker, db = self.broker, self.db
        try:
            if broker is not None:
                broker.stop()
        finally:
            if db is not None:
                db.stop()

    def _command(self, name: str) -> list[str]:
        if not name.startswith("celery-worker-"):
            return super()._command(name)
        # Each worker has a node name of its own (Celery warns about duplicates).
        i = name.rsplit("-", 1)[1]
        return [
            str(self.venv / "bin" / "airflow"), "celery", "worker",
            "--celery-hostname", f"worker{i}@%h",
            "--concurrency", str(CELERY_CONCURRENCY), SKIP_SERVE_LOGS,
        ]  # fmt: skip

    def _workers_ready(self) -> bool:
        """Every celery worker logged Celery's "<node> ready." since it was spawned (the
        health endpoint does not cover workers)."""
        for name in self.components[len(COMPONENTS) :]:
            path = self.home / "logs" / f"{name}.log"
            with path.open("rb") as f:
                f.seek(self._log_offsets.get(name, 0))
                if b" ready." not in f.read():
                    return False
        return True

    def alive(self) -> bool:
        services = all(s is not None and s.alive() for s in (self.db, self.broker))
        return super().alive() and services

    def service_pids(self) -> list[int]:
        """PostgreSQL's and Redis's processes."""
        return [pid for s in (self.db, self.broker) if s is not None for pid in s.pids()]


STACKS: dict[str, type[AirflowStack]] = {"celery": CeleryAirflowStack}  # else AirflowStack


def new_stack(home: Path, profile: str, venv: Path, **kw: Any) -> AirflowStack:
    """The stack class of ``profile`` (``STACKS``), not started."""
    return STACKS.get(profile, AirflowStack)(home, profile, venv, **kw)


def iter_lineage(path: Path) -> Iterator[dict[str, Any]]:
    """OpenLineage events the file transport wrote (one JSON document per line)."""
    if not path.is_file():
        return
    for line in path.read_text(errors="replace").splitlines():
        line = line.strip()
        if line:
            with contextlib.suppress(ValueError):
                yield json.loads(line)
