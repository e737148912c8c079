"""What a process tree holds right now, read from ``/proc``: the processes a harness process
started, their memory, CPU time and listening ports (``orchbench footprint``).

"Started by this harness" is the harness's owner group when it has one
(``orchbench.ownership``: every process started after ``adopt()`` is born there, daemons
that ``setsid`` included), else the descendants of this process by parent pid. Docker
containers live in Docker's own cgroups and are not seen either way.

Per process: RSS (``VmRSS`` of ``/proc/<pid>/status``), PSS (``Pss`` of
``/proc/<pid>/smaps_rollup``: shared pages split between the processes sharing them, so
PSS adds up across processes where RSS counts a shared library once per process) and CPU
time (``utime + stime`` of ``/proc/<pid>/stat``, clock ticks). Listeners (a TCP socket in
LISTEN state, or a UDP socket with no peer: it takes datagrams from anyone; IPv4 or IPv6)
come from each process's own network namespace (``/proc/<pid>/net/``), matched to the
process by socket inode; the integration tests' loopback checks read them the same way.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from orchbench import ownership

TICKS_PER_S = os.sysconf("SC_CLK_TCK")
PROTOCOLS = ("tcp", "tcp6", "udp", "udp6")
TCP_LISTEN = "0A"  # include/net/tcp_states.h


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


@dataclass(frozen=True)
class Listener:
    """A socket taking connections or datagrams: TCP in LISTEN, or UDP with no peer."""

    protocol: str  # tcp, tcp6, udp, udp6
    address: str
    port: int
    pid: int
    command: str

    def __str__(self) -> str:
        return f"{self.protocol} {self.address} port {self.port}: pid {self.pid} {self.command}"


def _ip(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address as /proc/net/{tcp,udp}[6] prints it: 32-bit words in host byte order."""
    raw = bytes.fromhex(hex_address)
    if sys.byteorder == "little":
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(raw)


def is_loopback(address: str) -> bool:
    """127.0.0.0/8 and ::1, IPv4-mapped included; 0.0.0.0 and :: are not."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def open_sockets(pid: int) -> dict[int, tuple[str, str, int]]:
    """inode -> (protocol, address, port) of the listeners in ``pid``'s network namespace."""
    out: dict[int, tuple[str, str, int]] = {}
    for protocol in PROTOCOLS:
        try:
            lines = Path(f"/proc/{pid}/net/{protocol}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            local, remote, state, inode = f[1], f[2], f[3], int(f[9])
            if protocol.startswith("tcp") and state != TCP_LISTEN:
                continue
            if protocol.startswith("udp") and int(remote.replace(":", ""), 16) != 0:
                continue  # a connected UDP socket takes datagrams from its peer only
            address, port = local.split(":")
            out[inode] = (protocol, str(_ip(address)), int(port, 16))
    return out


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:120]


def listeners(
    pids: Iterable[int],
    keep: Callable[[str], bool] | None = None,
    tables: dict[str, dict[int, tuple[str, str, int]]] | None = None,
) -> list[Listener]:
    """Every listener held by one of ``pids`` (only those whose address ``keep`` accepts,
    if given), each read in its own process's network namespace. A process is matched to
    a listener through its open descriptors, which are read only where its namespace has
    a listener kept: the loopback checks, which keep the public ones, then cost one read
    of the socket tables when there is none. ``tables`` (namespace -> the listeners kept)
    carries those reads from one call to the next with the same ``keep``: reading the
    TCP tables alone took the kernel 8 ms on 2 busy cores (2026-12-07)."""
    tables = {} if tables is None else tables
    found = []
    for pid in sorted(set(pids)):
        try:
            ns = os.readlink(f"/proc/{pid}/ns/net")
        except OSError:
            continue
        if ns not in tables:
            sockets = open_sockets(pid)
            if keep is not None:
                sockets = {k: v for k, v in sockets.items() if keep(v[1])}
            tables[ns] = sockets
        table = tables[ns]
        if not table:
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                hit = table.get(int(target[8:-1]))
                if hit is not None:
                    found.append(Listener(*hit, pid, _command(pid)))
    return found


def listening(pids: Iterable[int]) -> list[dict[str, Any]]:
    """The listeners of ``pids`` as records: protocol, address, port, pid."""
    return sorted(
        (
            {"protocol": x.protocol, "address": x.address, "port": x.port, "pid": x.pid}
            for x in listeners(pids)
        ),
        key=lambda r: (r["port"], r["address"], r["protocol"]),
    )


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
