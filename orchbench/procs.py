"""Process groups and venv metadata, for runners that start processes of their own."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from importlib import metadata
from pathlib import Path

SERVER_PORTS = range(20000, 32768)  # below Linux's default ephemeral range (32768-60999)


def _ephemeral() -> range:
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return range(32768, 61000)
    return range(low, high + 1)


def free_port() -> int:
    """A loopback port nothing listens on now, for a server we start: a random one of
    ``SERVER_PORTS`` outside the kernel's ephemeral range, so no outgoing connection (every
    client of every service on the machine takes its local port from that range) can take
    it before the server binds it, as one from ``bind(127.0.0.1:0)`` can. Another server
    picking the same port at once is still possible, though unlikely among 12 768; where
    the range is all ephemeral, the kernel picks."""
    ephemeral = _ephemeral()
    candidates = [p for p in random.sample(SERVER_PORTS, 64) if p not in ephemeral]
    for port in [*candidates, 0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise OSError("no free loopback port")


def _live_stats() -> list[tuple[int, list[str]]]:
    """(pid, stat fields from the state on) of every live, non-zombie process, from /proc."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            out.append((int(d.name), fields))
    return out


def group_pids(pgid: int) -> list[int]:
    """Live (not zombie) pids of the process group ``pgid``, from /proc."""
    return sorted(pid for pid, f in _live_stats() if int(f[2]) == pgid)


def child_pids(ppid: int) -> list[int]:
    """Live (not zombie) children of ``ppid``, from /proc."""
    return sorted(pid for pid, f in _live_stats() if int(f[1]) == ppid)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def kill_group(proc: subprocess.Popen[bytes], grace_s: float = 0.0, wait_s: float = 10.0) -> None:
    """Stop ``proc``'s whole process group: SIGTERM and up to ``grace_s`` for the leader to
    exit (skipped when ``grace_s`` is 0), then SIGKILL to the group, reap the leader, and
    wait up to ``wait_s`` until no live process of the group is left."""
    if grace_s > 0 and proc.poll() is None:
        _signal_group(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace_s)
    _signal_group(proc.pid, signal.SIGKILL)  # whatever else is in the group dies too
    proc.wait()
    end = time.monotonic() + wait_s
    while group_pids(proc.pid) and time.monotonic() < end:
        time.sleep(0.02)


def venv_versions(python: Path, wanted: tuple[str, ...]) -> dict[str, str]:
    """Installed versions of the ``wanted`` distributions in the venv of ``python``, in the
    order of ``wanted`` (missing ones left out); names lower-case."""
    site = sorted((Path(python).parent.parent / "lib").glob("python3*/site-packages"))
    found: dict[str, str] = {}
    for dist in metadata.distributions(path=[str(p) for p in site]):
        name = (dist.metadata["Name"] or "").lower()
        if name in wanted:
            found[name] = dist.version
    return {k: found[k] for k in wanted if k in found}
