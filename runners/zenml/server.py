"""The ``server`` profile's local ZenML server: ``zenml login --local --blocking`` for one
scenario run, as ZenML's docs start one ("Starting the local server",
https://docs.zenml.io/getting-started/installation; the ``server`` extra installs FastAPI
and uvicorn).

``--blocking`` runs the server in the foreground of the ``zenml`` CLI process (ZenML's
``DaemonZenServer.run``: uvicorn serving ``zenml.zen_server.zen_server_api:app``) instead
of the double-forked daemon ``zenml login --local`` leaves behind, so the process is ours:
its own process group (``start_new_session``), killed as a group by ``stop``. It binds
127.0.0.1 on a free port. Its state lives in the scenario run's work dir: the server's
``ZENML_CONFIG_PATH`` (its global config, the SQLite store
``local_stores/default_zen_store/zenml.db`` and the default stack's local artifact store)
and a HOME of its own.

The pipeline processes are clients: ``ZENML_STORE_URL=<the server>`` (ZenML's environment
variable for the store, https://docs.zenml.io/reference/environment-variables), a client
config dir of their own, and no access to the SQLite file. The local server runs with
ZenML's ``no_auth`` scheme (``DaemonZenServer._get_daemon_cmd``), so no login is needed.

What the server is not: a scheduler or an orchestrator. Steps still run in the pipeline's
own process (the local orchestrator); the server stores and serves the records (runs,
steps, artifacts, model versions) and the dashboard.
"""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from orchbench.procs import free_port, group_pids, kill_group

HEALTH_TIMEOUT_S = 180.0
BIND_TRIES = 3
HOST = "127.0.0.1"


class ServerError(RuntimeError):
    """The ZenML server did not come up (the message has the tail of its log)."""


class LocalServer:
    """One ``zenml login --local --blocking`` in its own process group."""

    def __init__(self, zenml_bin: Path, root: Path, log: Path, env: dict[str, str]) -> None:
        self.zenml_bin = zenml_bin
        self.root = root  # its ZENML_CONFIG_PATH and HOME live here
        self.log = log
        self.base_env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.started_s: float | None = None  # seconds from spawn to a healthy /health

    @property
    def url(self) -> str:
        assert self.port is not None
        return f"http://{HOST}:{self.port}"

    def env(self) -> dict[str, str]:
        home = self.root / "home"
        return {
            **self.base_env,
            "ZENML_CONFIG_PATH": str(self.root / "config"),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
        }

    def command(self, port: int) -> list[str]:
        return [
            str(self.zenml_bin),
            "login",
            "--local",
            "--blocking",
            "--port",
            str(port),
            "--ip-address",
            HOST,
        ]

    def start(self, deadline: float | None = None) -> None:
        """Spawn the server and wait for ``/health``; a lost race for the port (the
        process exits before it is healthy) is retried on another port."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        for _ in range(BIND_TRIES):
            self.port = free_port()
            with self.log.open("ab") as out:
                self.proc = subprocess.Popen(
                    self.command(self.port),
                    env=self.env(),
                    cwd=self.root,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            end = time.monotonic() + HEALTH_TIMEOUT_S
            if deadline is not None:
                end = min(end, deadline)
            while time.monotonic() < end:
                if self.proc.poll() is not None:
                    break
                if self.healthy():
                    self.started_s = round(time.monotonic() - t0, 1)
                    return
                time.sleep(0.5)
            exited = self.proc.poll() is not None
            self.stop()
            if not exited:
                break  # alive but never healthy: another port will not help
        tail = self.log.read_text(errors="replace")[-1500:] if self.log.exists() else ""
        raise ServerError(f"the local ZenML server did not become healthy:\n{tail}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=5) as resp:
                return resp.status == 200
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def pids(self) -> list[int]:
        return group_pids(self.proc.pid) if self.proc is not None else []

    def stop(self) -> None:
        """SIGTERM (uvicorn shuts down), then SIGKILL to the whole group; safe twice."""
        if self.proc is not None:
            kill_group(self.proc, grace_s=5.0)
            self.proc = None
