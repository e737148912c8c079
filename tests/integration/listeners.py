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

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from orchbench.proctree import Listener, is_loopback, listeners
from tests.integration.leftovers import mentions

__all__ = [
    "Listener",
    "Procs",
    "assert_loopback_only",
    "assert_loopback_only_throughout",
    "is_loopback",
    "listeners",
    "public_listeners",
    "started_processes",
]

SAMPLE_EVERY_S = 1.0  # services live for a run or longer; a sample costs ~15 ms CPU


@dataclass(frozen=True)
class Procs:
    """One read of ``/proc``: per live process its parent, its session and what it
    mentions (``leftovers.mentions``: command line, environment, working directory), and
    the public listeners of each network namespace once read (``public_listeners``). The
    conformance bench takes one per sample for all its lanes."""

    parent_session: dict[int, tuple[int, int]]
    blob: dict[int, str]
    public: dict[str, dict[int, tuple[str, str, int]]] = field(default_factory=dict)

    @classmethod
    def read(cls, with_mentions: bool = True) -> Procs:
        """``with_mentions=False`` leaves ``blob`` empty (a check with no needles)."""
        parent_session, blob = {}, {}
        me = os.getpid()
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                f = (d / "stat").read_text().rsplit(")", 1)[1].split()
                parent_session[int(d.name)] = (int(f[1]), int(f[3]))
                if not with_mentions or f[0] == "Z" or int(d.name) == me:
                    continue
                blob[int(d.name)] = mentions(d)[1]
            except (OSError, IndexError, ValueError):
                continue
        return cls(parent_session, blob)

    def mentioning(self, *needles: str) -> list[int]:
        return [pid for pid, b in self.blob.items() if any(n in b for n in needles)]


def started_processes(
    *needles: str, root: int | None = None, procs: Procs | None = None
) -> set[int]:
    """This process (or ``root``) and its descendants, the members of sessions they lead,
    and the descendants of processes mentioning ``needles`` (directories of the run or
    stack), as ``procs`` (read now if not given) shows them."""
    procs = procs or Procs.read(with_mentions=bool(needles))
    children: dict[int, list[int]] = {}
    members: dict[int, list[int]] = {}
    for pid, (ppid, sid) in procs.parent_session.items():
        children.setdefault(ppid, []).append(pid)
        members.setdefault(sid, []).append(pid)
    todo = [os.getpid() if root is None else root]
    if needles:
        todo += procs.mentioning(*needles)
    seen: set[int] = set()
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo += children.get(pid, []) + members.get(pid, [])
    return seen


def public_listeners(
    *needles: str, root: int | None = None, procs: Procs | None = None
) -> list[Listener]:
    """Listeners not on loopback of the processes ``started_processes`` finds."""
    procs = procs or Procs.read(with_mentions=bool(needles))
    pids = started_processes(*needles, root=root, procs=procs)
    return listeners(pids, keep=lambda address: not is_loopback(address), tables=procs.public)


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
