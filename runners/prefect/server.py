"""A local ``prefect server start`` (SQLite) for one matrix, and a small REST client.

The server runs in its own process group with its own ``PREFECT_HOME`` (database, logs),
on a free loopback port, analytics off. ``stop`` kills the group and waits, so nothing is
left behind. The harness venv has no Prefect, so the API is read with ``urllib``.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from orchbench.procs import free_port, group_pids, kill_group

HEALTH_TIMEOUT_S = 120.0


class ServerError(RuntimeError):
    """The Prefect server did not come up (the message has the tail of its log)."""


class ApiError(OSError):
    """The API answered with an error status (the message has the body)."""


# Prefect's own client (prefect.client.base.PrefectHttpxAsyncClient.send) retries these
# codes up to PREFECT_CLIENT_MAX_RETRIES (5) times, 2**try seconds apart; a SQLite server
# under load answers 503 when its database is locked. The harness's client does the same.
RETRY_CODES = frozenset({408, 429, 502, 503})
MAX_RETRIES = 5


class Api:
    """JSON over HTTP against a Prefect API URL (``http://host:port/api``)."""

    def __init__(
        self, url: str, timeout: float = 30.0, retries: int = MAX_RETRIES, backoff_s: float = 1.0
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff_s = backoff_s

    def request(self, method: str, path: str, body: Any = None) -> Any:
        url = path if path.startswith("http") else f"{self.url}/{path.lstrip('/')}"
        data = None if body is None else json.dumps(body).encode()
        attempt = 0
        while True:
            attempt += 1
            req = urllib.request.Request(url, data=data, method=method)
            req.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    raw = resp.read()
            except urllib.error.HTTPError as e:
                detail = e.read()[:500].decode(errors="replace")
                if e.code in RETRY_CODES and attempt <= self.retries:
                    time.sleep(self.backoff_s * 2**attempt)
                    continue
                raise ApiError(f"{method} {url}: HTTP {e.code}: {detail}") from None
            return json.loads(raw) if raw else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def healthy(self) -> bool:
        """One try, no retries: callers poll."""
        try:
            return Api(self.url, timeout=self.timeout, retries=0).get("health") is True
        except (OSError, ValueError, urllib.error.URLError):
            return False


def group_rss_mb(pgid: int) -> float | None:
    """Resident memory of every process in the group, in MiB (from /proc)."""
    total = 0
    found = False
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:  # field 5 of stat: pgrp
                continue
            for line in (d / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    found = True
        except (OSError, IndexError, ValueError):
            continue
    return round(total / 1024, 1) if found else None


class LoggedProcess:
    """A process of ours that writes one log: ``proc`` (None when not started) and ``log``."""

    proc: subprocess.Popen[bytes] | None
    log: Path

    def tail(self, n: int = 15) -> str:
        """The log's last ``n`` lines on one line (for error messages)."""
        try:
            return " | ".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class PrefectServer(LoggedProcess):
    """``prefect server start`` on a free port; ``api`` once ``start`` returned."""

    def __init__(self, prefect_bin: Path, home: Path, env: dict[str, str]) -> None:
        self.prefect_bin = prefect_bin
        self.home = home
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.startup_s: float | None = None
        self.rss_mb: float | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def log(self) -> Path:
        return self.home / "server.log"

    def start(self, attempts: int = 3) -> Api:
        self.home.mkdir(parents=True, exist_ok=True)
        last = ""
        for _ in range(attempts):
            try:
                return self._start_once()
            except ServerError as e:  # e.g. the port was taken between probe and bind
                last = str(e)
                self.stop()
        raise ServerError(last)

    def restart(self) -> Api:
        """Start the server again on the same port and database, after it died (what a
        supervisor does: clients keep their ``PREFECT_API_URL``). Leftovers of the old
        process group are killed first."""
        if self.proc is not None:
            kill_group(self.proc, grace_s=0.0)
        return self._start_once(self.port)

    def pids(self) -> list[int]:
        """Every live process of the server's process group (the CLI, uvicorn, services)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        return group_pids(self.proc.pid)

    def _start_once(self, port: int | None = None) -> Api:
        self.port = port or free_port()
        t0 = time.monotonic()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(self.prefect_bin),
                    "server",
                    "start",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                env=self.env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        api = Api(self.api_url, timeout=10)
        while not api.healthy():
            if self.proc.poll() is not None:
                raise ServerError(f"prefect server exited ({self.proc.returncode}): {self.tail()}")
            if time.monotonic() - t0 > HEALTH_TIMEOUT_S:
                raise ServerError(f"prefect server not healthy in {HEALTH_TIMEOUT_S:.0f} s")
            time.sleep(0.1)
        self.startup_s = round(time.monotonic() - t0, 2)
        self.rss_mb = group_rss_mb(self.proc.pid)
        return Api(self.api_url)

    def stop(self) -> None:
        if self.proc is not None:
            kill_group(self.proc, grace_s=10.0)
            self.proc = None
