"""What a process tree holds right now, read from ``/proc``: the processes a harness process
started, their memory, CPU time and listening ports (``orchbench footprint``).

"Started by this harness" is the harness's owner group when it has one
(``orchbench.ownership``: every process started after ``adopt()`` is born there, daemons
that ``setsid`` included), else the descendants of this process by parent pid. Docker
containers live in Docker's own cgroups and are not seen either way.

Per process: RSS (``VmRSS`` of ``/proc/<pid>/status``), PSS (``Pss`` of
``/proc/<pid>/smaps_rollup``: shared pages split between the processes sharing them, so
PSS adds up across processes where RSS counts a shared library once per process) and CPU
time (``utime + stime`` of ``/proc/<pid>/stat``, clock ticks). Listening TCP sockets come
from ``/proc/net/tcp`` and ``tcp6`` (state ``0A``), matched to processes by socket inode.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from orchbench import ownership

TICKS_PER_S = os.sysconf("SC_CLK_TCK")
LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


@dataclass(frozen=True)
class Proc:
    pid: int
    name: str  # comm
    rss_kb: int
    pss_kb: int | None  # None where smaps_rollup cannot be read
    cpu_ticks: int


def members(root: int | None = None) -> list[int]:
    """The processes this harness started (not itself): its owner group's, else the
    descendants of ``root`` (default this process)."""
    me = os.getpid()
    group = ownership.ROOT / ownership.token()
    procs = group / "cgroup.procs"
    if procs.is_file():
        try:
            return sorted(int(x) for x in procs.read_text().split() if int(x) != me)
        except OSError:
            pass
    return descendants(root or me)


def descendants(root: int) -> list[int]:
    """Every process whose chain of parents reaches ``root``."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    out = []
    for pid in parent:
        p = pid
        while p in parent and p != root and p > 1:
            p = parent[p]
        if p == root and pid != root:
            out.append(pid)
    return sorted(out)


def read(pid: int) -> Proc | None:
    """One process's figures; None if it is gone (or a zombie)."""
    base = Path(f"/proc/{pid}")
    try:
        stat = (base / "stat").read_text()
        status = (base / "status").read_text()
    except OSError:
        return None
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    rss = next(
        (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
    )
    pss = None
    try:
        for line in (base / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
                break
    except OSError:
        pass
    return Proc(pid, name, rss, pss, int(fields[11]) + int(fields[12]))  # utime, stime


def _socket_inodes(pid: int) -> set[str]:
    out = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return out
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            out.add(link[8:-1])
    return out


def listening(pids: list[int]) -> list[dict[str, Any]]:
    """The TCP sockets ``pids`` listen on: address, port, pid."""
    owner = {inode: pid for pid in pids for inode in _socket_inodes(pid)}
    out = []
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] != LISTEN or cols[9] not in owner:
                continue
            addr_hex, port_hex = cols[1].split(":")
            out.append(
                {
                    "address": _address(addr_hex, v6),
                    "port": int(port_hex, 16),
                    "pid": owner[cols[9]],
                }
            )
    return sorted(out, key=lambda s: (s["port"], s["address"]))


def _address(hex_addr: str, v6: bool) -> str:
    raw = bytes.fromhex(hex_addr)
    if not v6:
        return ".".join(str(b) for b in raw[::-1])
    words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]  # host-order 32-bit words
    flat = b"".join(words)
    if flat[:12] == b"\0" * 10 + b"\xff\xff":  # v4-mapped
        return ".".join(str(b) for b in flat[12:])
    return ":".join(flat[i : i + 2].hex() for i in range(0, 16, 2))


def snapshot(root: int | None = None) -> dict[str, Any]:
    """One sample: when, every process (``Proc`` as a dict) and the listening sockets."""
    pids = members(root)
    procs = [p for p in (read(pid) for pid in pids) if p is not None]
    return {
        "t_ns": time.time_ns(),
        "procs": [asdict(p) for p in procs],
        "listening": listening([p.pid for p in procs]),
    }


class Sampler:
    """Samples ``snapshot()`` every ``every_s`` seconds into a JSON-lines file, on a thread,
    from ``start()`` until ``stop()``."""

    def __init__(self, path: Path, every_s: float = 1.0) -> None:
        self.path = path
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="proctree-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        with self.path.open("a") as out:
            while not self._stop.is_set():
                out.write(json.dumps(snapshot()) + "\n")
                out.flush()
                self._stop.wait(self.every_s)


def load(path: Path) -> list[dict[str, Any]]:
    """The samples a ``Sampler`` wrote."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
