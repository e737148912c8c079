"""Which harness process owns a process or a directory, so that what a killed harness left
behind can be told from what a live one is using.

A harness process (``orchbench run`` / ``bench``, each bench lane) calls ``adopt()``: it
moves itself into a cgroup of its own in the v1 ``freezer`` hierarchy,
``/sys/fs/cgroup/freezer/orchbench-owner/<token>``, where every process it starts is born
(orchestrator servers, schedulers, workers, databases, task processes; neither
``setsid`` nor a changed environment or process title takes a process out of it). The
token, ``<pid>-<start time in clock ticks>``, outlives pid reuse: it is alive only while a
process with that pid *and* that start time exists. ``kill -9`` of a harness runs no
cleanup code; the next harness's ``reap_orphans()`` freezes each group whose token is
dead, SIGKILLs its processes and removes it. Directories a harness writes under
``results/`` (temporary run directories, a matrix's services) carry an ``.owner`` file
with the token, so ``--resume`` and a second bench on the same results tree remove only
what a dead harness left; so do the ones it makes in the system's temp dir
(``temp_dir``), which the next harness removes when their owner is dead.

Without root or without the freezer hierarchy, ``adopt()`` does nothing and nothing is
reaped (the cron runners' PID namespaces still die with the harness, see
orchbench/crond/sandbox.py). Containers of a Docker daemon live in Docker's own cgroups and
are removed by label when their runner stops.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

OWNER_FILE = ".owner"
ROOT = Path("/sys/fs/cgroup/freezer/orchbench-owner")


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])  # field 22 of stat: starttime (fields here start at field 3)


def token(pid: int | None = None) -> str:
    """The token of ``pid`` (default: this process)."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}-{_start_ticks(pid)}"


def alive(tok: str) -> bool:
    """Whether the process a token names still runs (same pid, same start time)."""
    pid_s, _, ticks = tok.partition("-")
    try:
        pid = int(pid_s)
    except ValueError:
        return False
    found = _start_ticks(pid)
    return found is not None and str(found) == ticks


def available() -> bool:
    """Whether owner groups can be made here (root and a v1 freezer hierarchy)."""
    return os.geteuid() == 0 and ROOT.parent.is_dir()


def adopt() -> Path | None:
    """Put this process (and so everything it starts from now on) in its own owner group;
    the group, or None where owner groups cannot be made."""
    if not available():
        return None
    group = ROOT / token()
    try:
        group.mkdir(parents=True, exist_ok=True)
        (group / "cgroup.procs").write_text(str(os.getpid()))
    except OSError:
        return None
    return group


def _procs(group: Path) -> list[int]:
    try:
        return [int(x) for x in (group / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def reap_orphans(wait_s: float = 10.0) -> list[int]:
    """Kill what every dead owner left running and remove its group; the pids killed."""
    if not ROOT.is_dir():
        return []
    killed: list[int] = []
    for group in sorted(p for p in ROOT.iterdir() if p.is_dir()):
        if alive(group.name):
            continue
        state = group / "freezer.state"
        with contextlib.suppress(OSError):
            state.write_text("FROZEN")  # nothing forks while we kill
        pids = _procs(group)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            state.write_text("THAWED")  # a frozen process cannot die
        killed += pids
        end = time.monotonic() + wait_s
        while _procs(group) and time.monotonic() < end:
            time.sleep(0.05)
        with contextlib.suppress(OSError):
            group.rmdir()
    return killed


def release() -> None:
    """At a clean exit: leave our owner group and remove it (it holds nothing of ours now)."""
    group = ROOT / token()
    if not group.is_dir():
        return
    with contextlib.suppress(OSError):
        (ROOT.parent / "cgroup.procs").write_text(str(os.getpid()))
        group.rmdir()


def mark(directory: Path) -> None:
    """Record this process as the owner of ``directory`` (which must exist)."""
    (Path(directory) / OWNER_FILE).write_text(token() + "\n")


def owned_by_the_living(directory: Path) -> bool:
    """True while the process that marked ``directory`` runs. Unmarked: False."""
    try:
        tok = (Path(directory) / OWNER_FILE).read_text().strip()
    except OSError:
        return False
    return alive(tok)


TEMP_PREFIX = "orchbench-"


def temp_dir(name: str) -> Path:
    """A new directory ``orchbench-<name>-*`` in the system's temp dir, marked as this
    process's (``mark``): one a harness killed with SIGKILL left there (a Postgres
    cluster's, a ``dagster dev``'s socket dir) is removed by the next one
    (``remove_dead_temps``)."""
    d = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{name}-"))
    mark(d)
    return d


def remove_dead(dirs: Iterable[Path]) -> int:
    """Remove each of ``dirs`` that is a directory whose owner no longer runs (an unmarked
    one has none); how many were removed."""
    dead = [d for d in dirs if d.is_dir() and not owned_by_the_living(d)]
    for d in dead:
        shutil.rmtree(d, ignore_errors=True)
    return len(dead)


def remove_dead_temps() -> int:
    """Remove every ``temp_dir`` whose owner no longer runs (unmarked ones stay: not
    ours to judge); how many were removed."""
    root = Path(tempfile.gettempdir())
    return remove_dead(d for d in root.glob(f"{TEMP_PREFIX}*") if (d / OWNER_FILE).is_file())
