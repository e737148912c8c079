"""A syslog sink for one cron daemon: where ``cron -L 15`` writes its job records.

Debian's cron records each job's start and end only through syslog(3) (``-L 15``:
``(user) CMD ([PID] command)`` as it forks the job, ``(user) END ([PID] command)`` once
the job exited and its output was mailed, ``(CRON) error (grandchild #PID failed with
exit status N)``). syslog(3) writes datagrams to ``/dev/log``; a daemon given
``CronDay(syslog=...)`` gets a private ``/dev`` whose ``log`` is this sink's socket.
The sink stands in for the host's syslog daemon (journald and rsyslog stamp a local
message with the time they receive it, to the microsecond): one line per datagram,
``<receive time, ns since the epoch> <message>``, flushed at once. Its own process,
killed with the harness (``setpriv --pdeathsig KILL``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from orchbench.crond.sandbox import SETPRIV

SINK = """
import os, socket, sys, time
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
with open(out, "a") as f:
    while True:
        data = s.recv(65536)
        f.write(f"{time.time_ns()} {data.decode(errors='replace').rstrip()}\\n")
        f.flush()
"""


class SyslogSink:
    """The sink's process, its socket ``socket`` and its file ``out``."""

    def __init__(self, socket: Path, out: Path) -> None:
        self.socket, self.out = socket, out
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> None:
        self.socket.unlink(missing_ok=True)
        paths = (str(self.socket), str(self.out))
        self.proc = subprocess.Popen(
            [SETPRIV, "--pdeathsig", "KILL", "--", sys.executable, "-I", "-c", SINK, *paths],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the syslog sink did not bind {self.socket}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
