"""The harness's own Docker daemon: started and stopped by us, never the user's.

Debian's ``dockerd`` runs with its own data root (kept under ``build/docker/`` so built
images survive between runs), its own exec root, pid file and unix socket in a fresh
temporary directory, no bridge and no iptables (steps need no network). ``stop()``
terminates it by its pid file, kills anything left in its process group (containerd and
its shims), and unmounts whatever it left under its roots, so nothing outlives a run.
A daemon the user already runs is used only when they pass ``docker_host`` explicitly.

Two dockerds must never share a data root, so ``start()`` first takes an exclusive lock
on ``<data root>.lock`` (flock, released by ``stop()`` or by the kernel when the holder
dies): a second bench on the same machine waits for the first one's daemon to stop,
saying so on stderr, instead of corrupting its image store.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

DOCKERD = Path("/usr/sbin/dockerd")
DOCKER_CLI = Path("/usr/bin/docker")
REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_DATA_ROOT = REPO_ROOT / "build" / "docker"


class DockerUnavailable(RuntimeError):
    """Docker cannot run here; the message says why and what to do."""


def check_can_run() -> None:
    """Raise DockerUnavailable naming the first missing prerequisite."""
    if os.geteuid() != 0:
        raise DockerUnavailable(
            "the harness's own Docker daemon needs root (dockerd mounts overlay filesystems); "
            "run as root or pass --docker-host for a daemon you already run"
        )
    for p, pkg in ((DOCKERD, "docker.io"), (DOCKER_CLI, "docker.io")):
        if not p.exists():
            raise DockerUnavailable(f"{p} not found: install Debian's {pkg} (make setup as root)")
    if "overlay" not in Path("/proc/filesystems").read_text():
        raise DockerUnavailable("the kernel has no overlay filesystem (dockerd's overlay2 driver)")


def _ping(sock: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            s.connect(str(sock))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return b"200 OK" in s.recv(256)
    except OSError:
        return False


class DockerDaemon:
    """A dockerd of our own. Use as a context manager; ``host`` is its DOCKER_HOST."""

    def __init__(self, data_root: Path = DEFAULT_DATA_ROOT, log_path: Path | None = None) -> None:
        self.data_root = Path(data_root).resolve()
        self.log_path = log_path
        self.exec_root: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._lock: Any = None

    def _take_data_root(self, timeout_s: float = 3600) -> None:
        """Hold ``<data root>.lock``; wait (up to ``timeout_s``) while another daemon has it."""
        self.data_root.parent.mkdir(parents=True, exist_ok=True)
        lock = (self.data_root.parent / f"{self.data_root.name}.lock").open("a+")
        deadline, said = time.monotonic() + timeout_s, False
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    lock.close()
                    raise DockerUnavailable(
                        f"{self.data_root} stayed in use by another orchbench dockerd"
                    ) from None
                if not said:
                    print(
                        f"orchbench: waiting for the dockerd using {self.data_root} to stop",
                        file=sys.stderr,
                        flush=True,
                    )
                    said = True
                time.sleep(0.5)
        self._lock = lock

    def _release_data_root(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.close()  # closing the last descriptor drops the flock

    @property
    def socket(self) -> Path:
        assert self.exec_root is not None, "daemon not started"
        return self.exec_root / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def env(self) -> dict[str, str]:
        """The environment a docker client (CLI or SDK) needs to reach this daemon."""
        return {**os.environ, "DOCKER_HOST": self.host}

    def start(self, timeout_s: float = 60) -> str:
        check_can_run()
        if self._lock is None:
            self._take_data_root()
        self.data_root.mkdir(parents=True, exist_ok=True)
        # unix socket paths are limited to 108 bytes: keep the exec root short
        self.exec_root = Path(tempfile.mkdtemp(prefix="obd-", dir="/tmp"))
        log = (self.log_path or self.exec_root / "dockerd.log").open("ab")
        cmd = [
            str(DOCKERD),
            f"--data-root={self.data_root}",
            f"--exec-root={self.exec_root}",
            f"--pidfile={self.exec_root / 'docker.pid'}",
            f"--host={self.host}",
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
            "--storage-driver=overlay2",
        ]
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self._log_tail()
                self.stop()
                raise DockerUnavailable(f"dockerd exited with {self.proc.returncode}: {tail}")
            if _ping(self.socket):
                return self.host
            time.sleep(0.1)
        self.stop()
        raise DockerUnavailable(f"dockerd did not answer on {self.socket} within {timeout_s:.0f} s")

    def _log_tail(self) -> str:
        p = self.log_path or (self.exec_root / "dockerd.log" if self.exec_root else None)
        if p is None or not p.exists():
            return ""
        lines = p.read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else ""

    def stop(self, timeout_s: float = 20) -> None:
        """Stop dockerd and everything it started; safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout_s)
            # containerd and its shims share dockerd's process group (new session)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        for root in (self.exec_root, self.data_root):
            if root is not None:
                _unmount_under(root)
        if self.exec_root is not None:
            shutil.rmtree(self.exec_root, ignore_errors=True)
            self.exec_root = None
        self._release_data_root()

    def __enter__(self) -> DockerDaemon:
        self.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _unmount_under(root: Path) -> None:
    prefix = str(root.resolve()) + "/"
    mounts = [
        line.split()[1].encode().decode("unicode_escape")
        for line in Path("/proc/mounts").read_text().splitlines()
    ]
    for m in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", m], check=False, capture_output=True)


def leftovers(data_root: Path = DEFAULT_DATA_ROOT) -> list[str]:
    """Processes and mounts of a harness daemon still alive (for tests and checks)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if ("/tmp/obd-" in cmd or str(data_root) in cmd) and (
            "dockerd" in cmd or "containerd" in cmd
        ):
            found.append(f"pid {d.name}: {cmd.strip()}")
    prefix = str(Path(data_root).resolve()) + "/"
    found += [
        f"mount {line.split()[1]}"
        for line in Path("/proc/mounts").read_text().splitlines()
        if line.split()[1].startswith(prefix) or line.split()[1].startswith("/tmp/obd-")
    ]
    return found


def containers(env: dict[str, str], label: str, running_only: bool = False) -> list[str]:
    """Ids of the containers carrying ``label`` (``key=value``) on the daemon of ``env``."""
    cmd = [str(DOCKER_CLI), "ps", "-q", "--no-trunc", "--filter", f"label={label}"]
    r = subprocess.run(cmd if running_only else [*cmd, "-a"], env=env, capture_output=True,
                       text=True, timeout=30)  # fmt: skip
    return r.stdout.split() if r.returncode == 0 else []


def remove_containers(env: dict[str, str], label: str) -> list[str]:
    """Force-remove (SIGKILL, then delete) the containers carrying ``label``; their ids."""
    ids = containers(env, label)
    if ids:
        subprocess.run([str(DOCKER_CLI), "rm", "-f", *ids], env=env, capture_output=True,
                       timeout=60)  # fmt: skip
    return ids


def kill_containers(env: dict[str, str], label: str) -> list[str]:
    """SIGKILL the running containers carrying ``label`` (``docker kill``: they exit 137
    and whoever waits on them sees it); their ids."""
    ids = containers(env, label, running_only=True)
    if ids:
        subprocess.run([str(DOCKER_CLI), "kill", *ids], env=env, capture_output=True,
                       timeout=60)  # fmt: skip
    return ids


def container_events(
    env: dict[str, str], label: str, since: float, until: float | None = None
) -> list[dict[str, Any]]:
    """The daemon's own ``die`` and ``oom`` events of the containers carrying ``label``
    between ``since`` and ``until`` (unix seconds; default now), oldest first. Read from
    the daemon's event log, so containers already removed (``auto_remove``) still show."""
    until = time.time() if until is None else until
    cmd = [str(DOCKER_CLI), "events", "--since", f"{since:.3f}", "--until", f"{until:.3f}",
           "--filter", f"label={label}", "--filter", "type=container",
           "--filter", "event=die", "--filter", "event=oom", "--format", "{{json .}}"]  # fmt: skip
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    out = []
    for line in r.stdout.splitlines() if r.returncode == 0 else []:
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out
