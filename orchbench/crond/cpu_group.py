"""A CPU cgroup with a raised weight, for the processes of one cron namespace.

Cron's clock runs x300 (``schedule.py``): a job that waits for the CPU overruns its
fixed-minute slot, so under load naive cron's jobs overlap and its results change with
whatever else the machine runs (seen: with three runners benched at once it deployed a bad
model on ``clean``). A cgroup whose weight is ten default groups' gives the jobs the CPU
they would have on an idle machine whenever they need it, and nothing when they don't,
so the cron runners can be benched beside other runners (``CronRunner.exclusive``).

Only the weight changes (no quota): an idle cron day costs nothing. Every descendant
stays in the group, including jobs that start their own sessions (which would escape a
nice value through the kernel's autogroups). cgroup v1's ``cpu`` controller
(``cpu.shares``, default 1024) or cgroup v2 (``cpu.weight``, default 100); writable
only as root. Groups are named ``orchbench-clock-<harness pid>-<n>``; one left behind by
a killed harness is removed by the next harness that creates one.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from pathlib import Path

V1_ROOT = Path("/sys/fs/cgroup/cpu")
V2_ROOT = Path("/sys/fs/cgroup")
PREFIX = "orchbench-clock-"
SHARES_V1 = 10240  # 10 x the default cpu.shares
WEIGHT_V2 = 1000  # 10 x the default cpu.weight
_counter = itertools.count()


def _root() -> tuple[Path, str, int] | None:
    """(hierarchy root, weight file, value) of a writable CPU controller, or None."""
    if (V1_ROOT / "cpu.shares").is_file() and os.access(V1_ROOT, os.W_OK):
        return V1_ROOT, "cpu.shares", SHARES_V1
    controllers = V2_ROOT / "cgroup.controllers"
    with contextlib.suppress(OSError):
        subtree = (V2_ROOT / "cgroup.subtree_control").read_text().split()
        enabled = "cpu" in controllers.read_text().split() and "cpu" in subtree
        if enabled and os.access(V2_ROOT, os.W_OK):
            return V2_ROOT, "cpu.weight", WEIGHT_V2
    return None


def available() -> str | None:
    """What a group would be (e.g. ``cpu.shares=10240``), or None where none can be made."""
    root = _root()
    return None if root is None else f"{root[1]}={root[2]}"


def _remove_stale(root: Path) -> None:
    for d in root.glob(PREFIX + "*"):
        pid = d.name[len(PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            with contextlib.suppress(OSError):
                d.rmdir()  # only succeeds once the group is empty


class CpuGroup:
    """One raised-weight group; ``wrap(argv)`` runs argv (and all it starts) inside it."""

    def __init__(self) -> None:
        found = _root()
        if found is None:
            raise OSError("no writable cpu cgroup controller (needs root)")
        root, weight_file, value = found
        _remove_stale(root)
        self.path = root / f"{PREFIX}{os.getpid()}-{next(_counter)}"
        self.path.mkdir()
        try:
            (self.path / weight_file).write_text(str(value))
        except OSError:
            self.path.rmdir()
            raise

    def wrap(self, argv: list[str]) -> list[str]:
        """argv prefixed by a shell that moves itself into the group, then execs argv (so
        the process and every descendant start inside it; no window outside)."""
        script = (
            'echo $$ > "$0" || { echo "orchbench: cannot join cpu group $0" >&2; exit 125; }; '
            'exec "$@"'
        )
        return ["/bin/sh", "-c", script, str(self.path / "cgroup.procs"), *argv]

    def remove(self, timeout: float = 5.0) -> None:
        """Remove the group once its processes are gone (the kernel empties it lazily)."""
        end = time.monotonic() + timeout
        while self.path.exists():
            try:
                self.path.rmdir()
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.02)
