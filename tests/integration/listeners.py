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
from pathlib import Path

from orchbench.proctree import Listener, is_loopback, listeners
from tests.integration.leftovers import processes_mentioning

__all__ = [
    "Listener",
    "assert_loopback_only",
    "assert_loopback_only_throughout",
    "is_loopback",
    "listeners",
    "public_listeners",
    "started_processes",
]

SAMPLE_EVERY_S = 1.0  # services live for a run or longer; a sample costs ~15 ms CPU


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
