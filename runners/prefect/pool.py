"""The ``pool`` profile's moving parts: a process work pool, its deployment, its workers.

- ``create_pool``: ``prefect work-pool create NAME --type process`` (the CLI fills in the
  process worker's base job template), against the profile's server.
- ``register_deployment``: ``python -m runners.prefect --deploy NAME --pool POOL`` in the
  flow's venv (``runners/prefect/deploy.py``); returns the deployment id.
- ``Workers``: N ``prefect worker start --pool POOL --type process --limit 1`` processes,
  each in its own process group. A process worker starts every flow run in a process of
  its own session (Prefect isolates it from the worker's group), so the group kill alone
  cannot reach it: every process of the stack carries ``MARKER=<stack id>`` in its
  environment (the worker's environment is passed on to the flow-run processes), and
  ``stop`` kills the worker groups, then every live process with the marker, and waits
  until none is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from orchbench.procs import kill_group
from runners.prefect.server import Api, ApiError

POOL = "orchbench-process"  # the work pool's name
DEPLOYMENT = "orchbench"  # the deployment: daily-retraining/orchbench
WORKERS = 2
WORKER_LIMIT = 1
MARKER = "ORCHBENCH_PREFECT_STACK"
WORKER_READY_TIMEOUT_S = 90.0
TERMINAL = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})


class PoolError(RuntimeError):
    """The work pool, the deployment or a worker could not be set up."""


def marked_pids(stack: str) -> list[int]:
    """Live (not zombie) processes whose environment has ``MARKER=stack``, from /proc."""
    needle = f"{MARKER}={stack}".encode()
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if needle not in (d / "environ").read_bytes().split(b"\0"):
                continue
            if (d / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
        except (OSError, IndexError):
            continue
        out.append(int(d.name))
    return sorted(out)


def kill_marked(stack: str, wait_s: float = 10.0) -> list[int]:
    """SIGKILL every process of the stack until none is left (or ``wait_s`` ran out); the
    pids killed."""
    killed: set[int] = set()
    end = time.monotonic() + wait_s
    while (pids := marked_pids(stack)) and time.monotonic() < end:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        time.sleep(0.05)
    return sorted(killed)


def _run(cmd: list[str], what: str, env: dict[str, str], cwd: Path) -> str:
    """Run one set-up command to its end; its stdout, or ``PoolError`` with its output."""
    res = subprocess.run(
        cmd,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if res.returncode != 0:
        tail = (res.stdout + res.stderr).strip()[-800:]
        raise PoolError(f"{what} failed ({res.returncode}): {tail}")
    return res.stdout


def create_pool(prefect_bin: Path, name: str, env: dict[str, str], cwd: Path) -> None:
    """A process work pool ``name`` (kept as it is if it exists)."""
    args = ["work-pool", "create", name, "--type", "process"]
    _run([str(prefect_bin), *args], f"prefect {' '.join(args)}", env, cwd)


def register_deployment(
    python: Path,
    name: str,
    pool: str,
    env: dict[str, str],
    cwd: Path,
    version: str | None = None,
    module: str = "runners.prefect",
) -> str:
    """Deploy the flow of ``python -m module --deploy`` (the daily flow unless told) as
    ``<flow>/<name>`` on ``pool`` (with ``version``, else Prefect's default: the flow's
    version); the deployment id."""
    cmd = [str(python), "-m", module, "--deploy", name, "--pool", pool]
    cmd += ["--version", version] if version else []
    out = _run(cmd, "deploy", env, cwd)
    return str(json.loads(out.strip().splitlines()[-1])["deployment_id"])


class Workers:
    """``count`` process workers for ``pool``, each with ``--limit limit``."""

    def __init__(
        self,
        prefect_bin: Path,
        pool: str,
        env: dict[str, str],
        home: Path,
        stack: str,
        count: int = 2,
        limit: int = 1,
    ) -> None:
        self.prefect_bin = prefect_bin
        self.pool = pool
        self.env = {**env, MARKER: stack}
        self.home = home
        self.stack = stack
        self.count = count
        self.limit = limit
        self.procs: list[subprocess.Popen[bytes]] = []
        self.names = [f"orchbench-worker-{i + 1}" for i in range(count)]

    def command(self, name: str) -> list[str]:
        return [
            str(self.prefect_bin), "worker", "start", "--pool", self.pool, "--type", "process",
            "--limit", str(self.limit), "--name", name,
        ]  # fmt: skip

    def alive(self) -> bool:
        return len(self.procs) == self.count and all(p.poll() is None for p in self.procs)

    def start(self, api: Api) -> None:
        """Start every worker and wait until the API lists them all as online."""
        self.stop()
        self.home.mkdir(parents=True, exist_ok=True)
        for name in self.names:
            with (self.home / f"{name}.log").open("ab") as log:
                self.procs.append(
                    subprocess.Popen(
                        self.command(name),
                        env=self.env,
                        cwd=self.home,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        end = time.monotonic() + WORKER_READY_TIMEOUT_S
        while set(self.names) - self.online(api):
            if any(p.poll() is not None for p in self.procs):
                raise PoolError(f"a worker exited; see {self.home}/orchbench-worker-*.log")
            if time.monotonic() > end:
                raise PoolError(f"workers not online in {WORKER_READY_TIMEOUT_S:.0f} s")
            time.sleep(0.2)

    def online(self, api: Api) -> set[str]:
        try:
            rows = api.post(f"work_pools/{self.pool}/workers/filter", {}) or []
        except (OSError, ApiError, ValueError):
            return set()
        return {w["name"] for w in rows if w.get("status") == "ONLINE"}

    def pids(self) -> list[int]:
        """Every live process of the stack: the workers and the flow runs they started."""
        return marked_pids(self.stack)

    def stop(self) -> None:
        """Kill the workers' groups, then every flow-run process they started; returns when
        none is left. Safe twice."""
        for p in self.procs:
            kill_group(p, grace_s=0.0)
        self.procs = []
        kill_marked(self.stack)
