"""The services of the ``celery`` profile: a Redis broker and a PostgreSQL metadata DB.

Both are started by the harness on 127.0.0.1, on free ports, each in its own session, and
stopped with the stack. PostgreSQL comes from ``orchbench.postgres``; Redis is Debian's
``redis-server`` with persistence off (``--save ''``, ``--appendonly no``): the broker holds
only the queued task messages of one stack's lifetime.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from orchbench.postgres import PostgresCluster
from orchbench.procs import free_port, group_pids, kill_group

REDIS_SERVER = Path("/usr/bin/redis-server")
START_TIMEOUT_S = 30.0
PORT_TRIES = 3


def redis_available() -> str | None:
    """None when a Redis server can be started here; otherwise what is missing."""
    if not REDIS_SERVER.is_file():
        return f"{REDIS_SERVER} not found (install redis-server: `make setup` as root)"
    return None


def redis_version() -> str:
    out = subprocess.run(
        [str(REDIS_SERVER), "--version"], capture_output=True, text=True, check=False
    )
    # "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=..."
    for part in out.stdout.split():
        if part.startswith("v="):
            return part[2:]
    return "unknown"


def _ping(port: int) -> bool:
    """True when a Redis server answers PING on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One Redis server in its own session: ``start()``, ``url()``, ``stop()`` (safe twice)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.root / "redis.log"

    def start(self) -> None:
        missing = redis_available()
        if missing:
            raise RuntimeError(missing)
        self.root.mkdir(parents=True, exist_ok=True)
        for _ in range(PORT_TRIES):  # another process can take the free port first
            self.port = free_port()
            if self._start_on(self.port):
                return
        raise RuntimeError(f"redis-server did not start; see {self.log}")

    def _start_on(self, port: int) -> bool:
        cmd = [
            str(REDIS_SERVER), "--port", str(port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", str(self.root),
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        end = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < end:
            if self._proc.poll() is not None:  # e.g. the port was taken
                self._proc = None
                return False
            if _ping(port):
                return True
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server not ready after {START_TIMEOUT_S:.0f} s; see {self.log}")

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def pids(self) -> list[int]:
        return [] if self._proc is None else group_pids(self._proc.pid)

    def stop(self) -> None:
        """SIGKILL the server's process group (nothing is persisted) and reap it."""
        proc, self._proc = self._proc, None
        if proc is not None:
            kill_group(proc)


class MetadataDB:
    """The stack's PostgreSQL cluster (fsync off) holding the ``airflow`` database, in a
    directory of its own under the system temp dir (see ``orchbench.postgres``)."""

    DATABASE = "airflow"

    def __init__(self) -> None:
        self.cluster = PostgresCluster(fsync=False)
        self.root = self.cluster.root

    def start(self) -> None:
        self.cluster.start()
        self.cluster.create_database(self.DATABASE)

    @property
    def port(self) -> int:
        return self.cluster.port

    def url(self, driver: str = "postgresql+psycopg2") -> str:
        return self.cluster.url(self.DATABASE, driver)

    def pids(self) -> list[int]:
        return self.cluster.pids()

    def alive(self) -> bool:
        proc = self.cluster._proc
        return proc is not None and proc.poll() is None

    def stop(self) -> None:
        self.cluster.remove()
