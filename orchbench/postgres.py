"""A throwaway PostgreSQL cluster on loopback, for the production-like runner profiles.

Debian's PostgreSQL 15 server (``postgresql-15``), run from its own binaries: ``initdb``
into a fresh directory under the system temp dir (by default: a run's directory is too deep
for some paths PostgreSQL builds, and as root the server user must be able to enter every
parent, which pytest's 0700 temp dirs and ``/root`` forbid), then ``postgres -D`` in its
own session, listening on 127.0.0.1 only and on no Unix socket (so two clusters on one
machine never share ``/var/run/postgresql``, and no socket path can pass the 107-byte
limit; every client here connects over TCP). ``remove()`` deletes the directory it made.
Authentication is ``trust`` for
127.0.0.1: the cluster lives only as long as one bench lane and holds only that lane's
orchestrator metadata. PostgreSQL refuses to run as root; when we are root the server runs
as the ``postgres`` system user the Debian package creates.

``fsync`` is a choice of the caller (recorded in env.json by the runner): off is the
documented setting for throwaway clusters and removes disk-flush latency that a
production database on its own disk would not pay on this machine's shared one.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

from orchbench import ownership
from orchbench.procs import child_pids, free_port, group_pids, kill_group

PG_BIN = Path("/usr/lib/postgresql/15/bin")
START_TIMEOUT_S = 60.0
PORT_TRIES = 3


class PostgresMissing(RuntimeError):
    """The PostgreSQL server binaries are not installed."""


def available() -> str | None:
    """None when the server can be started here; otherwise what is missing."""
    if not (PG_BIN / "postgres").is_file():
        return f"{PG_BIN / 'postgres'} not found (install postgresql-15: `make setup` as root)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root but no 'postgres' user to run the server as"
    return None


def version() -> str:
    out = subprocess.run(
        [str(PG_BIN / "postgres"), "--version"], capture_output=True, text=True, check=False
    )
    # "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
    parts = out.stdout.split()
    return parts[2] if out.returncode == 0 and len(parts) > 2 else "unknown"


class PostgresCluster:
    """One cluster: ``start()`` (initdb on first use), ``url()``, ``create_database()``,
    ``stop()`` (safe twice; leaves no server process)."""

    def __init__(
        self, root: Path | None = None, *, fsync: bool = True, superuser: str = "orchbench"
    ) -> None:
        self._temp: Path | None = None
        if root is None:
            self._temp = ownership.temp_dir("pg")
            self._temp.chmod(0o755)  # the server user enters it; the data dir inside is 0700
            root = self._temp / "cluster"
        self.root = Path(root)
        self.data = self.root / "data"
        self.fsync = fsync
        self.superuser = superuser
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._user: dict[str, object] = {}
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            self._user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
            self._uid, self._gid = pw.pw_uid, pw.pw_gid

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def _initdb(self) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        if self._user:
            os.chown(self.root, self._uid, self._gid)
        out = subprocess.run(
            [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", self.superuser,
             "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C.UTF-8"],
            capture_output=True, text=True, check=False, **self._user,  # type: ignore[arg-type]
        )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"initdb failed: {out.stderr.strip()[-500:]}")

    def start(self) -> None:
        missing = available()
        if missing:
            raise PostgresMissing(missing)
        self._initdb()
        for _ in range(PORT_TRIES):  # another process can take the free port first
            self.port = free_port()
            if self._start_on(self.port):
                return
        raise RuntimeError(f"PostgreSQL did not start; see {self.log}")

    def _start_on(self, port: int) -> bool:
        cmd = [
            str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(port),
            "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
            "-c", f"fsync={'on' if self.fsync else 'off'}",
            "-c", f"synchronous_commit={'on' if self.fsync else 'off'}",
            "-c", "max_connections=200",
        ]  # fmt: skip
        with open(self.log, "ab") as log:
            self._proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, **self._user,  # type: ignore[arg-type]
            )  # fmt: skip
        end = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < end:
            if self._proc.poll() is not None:
                self._proc = None
                return False
            ready = subprocess.run(
                [str(PG_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)],
                check=False,
            )
            if ready.returncode == 0:
                return True
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"PostgreSQL not ready after {START_TIMEOUT_S:.0f} s; see {self.log}")

    def url(self, database: str = "postgres", driver: str = "postgresql") -> str:
        """A SQLAlchemy-style URL, e.g. ``postgresql+psycopg2://orchbench@127.0.0.1:5433/x``."""
        return f"{driver}://{self.superuser}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        out = subprocess.run(
            [str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
             "-U", self.superuser, name],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if out.returncode != 0 and "already exists" not in out.stderr:
            raise RuntimeError(f"createdb {name} failed: {out.stderr.strip()}")

    def pids(self) -> list[int]:
        """The postmaster and its children. The children call setsid() (PostgreSQL's
        InitPostmasterChild), so they are found by parent pid, not by process group."""
        if self._proc is None:
            return []
        return sorted({*group_pids(self._proc.pid), *child_pids(self._proc.pid)})

    def stop(self) -> None:
        """Fast shutdown (SIGINT: abort sessions, checkpoint skipped with fsync off), then
        SIGKILL to the group; returns when no server process is left."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        children = child_pids(proc.pid)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        kill_group(proc)
        for pid in children:  # after a postmaster SIGKILL they exit on their own; be sure
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        end = time.monotonic() + 10
        while any(Path(f"/proc/{p}").exists() for p in children) and time.monotonic() < end:
            time.sleep(0.02)

    def remove(self) -> None:
        """Stop, then delete the cluster's files (and the temp dir made for them)."""
        self.stop()
        shutil.rmtree(self._temp or self.root, ignore_errors=True)
