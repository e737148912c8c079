"""Run a command in its own PID namespace (optionally a private mount namespace too).

Killing the namespace's PID 1 makes the kernel kill every process inside, including jobs
that started their own sessions (cron does that for every job), so nothing is ever left
behind. The chain that guarantees it even if the harness dies without cleaning up:

    setpriv --pdeathsig KILL   the harness dies -> unshare gets SIGKILL
    unshare --kill-child       unshare dies -> PID 1 of the namespace gets SIGKILL
    PID namespace              PID 1 dies -> every process in the namespace dies
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from orchbench.crond.cpu_group import CpuGroup

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
UNSHARE = "/usr/bin/unshare"
SETPRIV = "/usr/bin/setpriv"


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name is in parentheses and may contain spaces
    return int(stat.rsplit(")", 1)[1].split()[1])


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _pid_ns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Sandbox:
    """One command in fresh namespaces; ``kill()`` ends it and everything it started."""

    def __init__(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        log: Path,
        mount: bool = False,
        cwd: Path | None = None,
        prioritized: bool = False,
    ) -> None:
        self.argv = argv
        self.prioritized = prioritized  # run inside a raised-weight CPU cgroup (cpu_group.py)
        self.cpu_group: CpuGroup | None = None
        self.env = env
        self.log = log
        self.mount = mount
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self._init: int | None = None
        self._ns: str | None = None
        self.started_at = 0.0  # time.time() just before the fork

    def start(self) -> None:
        ns = ["--pid", "--fork", "--kill-child"]
        if self.mount:
            ns += ["--mount", "--mount-proc", "--propagation", "private"]
        cmd = [SETPRIV, "--pdeathsig", "KILL", "--", UNSHARE, *ns, *self.argv]
        if self.prioritized:
            self.cpu_group = CpuGroup()
            cmd = self.cpu_group.wrap(cmd)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.started_at = time.time()
            self.proc = subprocess.Popen(
                cmd,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C at the terminal must not reach it directly
            )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def init_pid(self) -> int | None:
        """Host PID of the namespace's PID 1 (the child ``unshare`` forked), once it exists."""
        if self._init is None and self.running():
            assert self.proc is not None
            for pid in _pids():
                if _ppid(pid) == self.proc.pid:
                    ns = _pid_ns(pid)
                    if ns is not None and ns != _pid_ns(self.proc.pid):
                        self._init, self._ns = pid, ns
                        break
        return self._init

    def members(self) -> list[int]:
        """Host PIDs of live processes in the namespace other than its PID 1."""
        init = self.init_pid()
        if init is None or self._ns is None:
            return []
        return [p for p in _pids() if p != init and _pid_ns(p) == self._ns and _alive(p)]

    def members_cpu_s(self) -> dict[int, float]:
        """CPU seconds used so far by each live process in the namespace but PID 1."""
        return {pid: _cpu_s(pid) for pid in self.members()}

    def idle(self) -> bool:
        """PID 1 is up and nothing else runs in the namespace."""
        return self.init_pid() is not None and not self.members()

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the command to exit by itself; its exit status, or None on timeout."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """SIGKILL the namespace's PID 1 (so everything inside dies), then reap ``unshare``.

        Safe to call more than once and from ``abort()``.
        """
        proc = self.proc
        if proc is None:
            self._leave_group()
            return
        init = self._init
        if init is None and proc.poll() is None:
            init = self.init_pid()
        if init is not None and _alive(init):
            with contextlib.suppress(ProcessLookupError):
                os.kill(init, signal.SIGKILL)
        if proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        if proc.poll() is None:  # PID 1 unknown or stuck: --kill-child does the rest
            proc.kill()
            proc.wait()
        # the kernel has killed the namespace when PID 1 is reaped; make sure of it
        t_end = time.monotonic() + 5
        while init is not None and _alive(init) and time.monotonic() < t_end:
            time.sleep(0.01)
        self._leave_group()

    def _leave_group(self) -> None:
        if self.cpu_group is not None:
            with contextlib.suppress(OSError):  # not empty in 5 s: the next harness removes it
                self.cpu_group.remove()
            self.cpu_group = None
