"""Does anything a runner started listen beyond loopback? Read from /proc while it runs.

The processes looked at are this test process and its descendants (the harness runs the
runner in-process, so every service it starts is one of them), every process in a session
one of them leads (what was re-parented: Airflow's task processes, containerd's shims in
dockerd's session), and the descendants of any process mentioning one of ``needles`` (a
directory of the run or the stack, for whatever left both). A
listener is a TCP socket in LISTEN state or a UDP socket with no peer (it takes datagrams
from anyone), IPv4 or IPv6. Each process's sockets are read from its own network
namespace (``/proc/<pid>/net/``). Loopback is 127.0.0.0/8 and ::1 (also IPv4-mapped);
everything else is public, including 0.0.0.0 and ::.
"""

from __future__ import annotations

import ipaddress
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.integration.leftovers import processes_mentioning

PROTOCOLS = ("tcp", "tcp6", "udp", "udp6")
TCP_LISTEN = "0A"  # include/net/tcp_states.h
SAMPLE_EVERY_S = 1.0  # services live for a run or longer; a sample costs ~15 ms CPU


@dataclass(frozen=True)
class Listener:
    protocol: str
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
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _open_sockets(pid: int) -> dict[int, tuple[str, str, int]]:
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


def _parents_and_sessions() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, session id) of every process."""
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                f = (d / "stat").read_text().rsplit(")", 1)[1].split()
                out[int(d.name)] = (int(f[1]), int(f[3]))
            except (OSError, IndexError, ValueError):
                continue
    return out


def started_processes(*needles: str, root: int | None = None) -> set[int]:
    """This process (or ``root``) and its descendants, the members of sessions they lead,
    and the descendants of processes mentioning ``needles`` (directories of the run or
    stack)."""
    procs = _parents_and_sessions()
    children: dict[int, list[int]] = {}
    members: dict[int, list[int]] = {}
    for pid, (ppid, sid) in procs.items():
        children.setdefault(ppid, []).append(pid)
        members.setdefault(sid, []).append(pid)
    todo = [os.getpid() if root is None else root]
    if needles:
        todo += [int(line.split()[0]) for line in processes_mentioning(*needles)]
    seen: set[int] = set()
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo += children.get(pid, []) + members.get(pid, [])
    return seen


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:120]


def listeners(pids: set[int]) -> list[Listener]:
    """Every listener (loopback or not) held by one of ``pids``."""
    tables: dict[str, dict[int, tuple[str, str, int]]] = {}
    found = []
    for pid in sorted(pids):
        try:
            ns = os.readlink(f"/proc/{pid}/ns/net")
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        if ns not in tables:
            tables[ns] = _open_sockets(pid)
        table = tables[ns]
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


def public_listeners(*needles: str, root: int | None = None) -> list[Listener]:
    """Listeners not on loopback of the processes ``started_processes`` finds."""
    found = listeners(started_processes(*needles, root=root))
    return [x for x in found if not is_loopback(x.address)]


def assert_loopback_only(*needles: str) -> None:
    """Fail if a process this test started (or one mentioning ``needles``) listens on
    anything but loopback now. Call it while the stack is up."""
    found = public_listeners(*needles)
    assert found == [], "listening beyond loopback:\n" + "\n".join(map(str, found))


@contextmanager
def assert_loopback_only_throughout(
    *needles: str, every_s: float = SAMPLE_EVERY_S
) -> Iterator[None]:
    """``assert_loopback_only`` every ``every_s`` while the block runs (from its start, for
    runners whose services live only during a run); fails at the end of the block if any
    sample found a public listener."""
    found: dict[tuple[str, str, int, str], Listener] = {}
    stop = threading.Event()

    def sample() -> None:
        while True:
            for x in public_listeners(*needles):
                found.setdefault((x.protocol, x.address, x.port, x.command), x)
            if stop.wait(every_s):
                return

    thread = threading.Thread(target=sample, name="loopback-watch", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    assert found == {}, "listening beyond loopback:\n" + "\n".join(map(str, found.values()))
