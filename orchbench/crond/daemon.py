"""One simulated day: Debian's real cron daemon, isolated, on a compressed clock.

Inside a private mount namespace, temp copies are bind-mounted over ``/etc/crontab``,
``/etc/cron.d``, ``/var/spool/cron/crontabs`` and ``/run``, and a sendmail stub over
``/usr/sbin/sendmail``'s target; then ``cron -f`` runs with libfaketime preloaded, so the
host's crontab and mail are never touched. Jobs get only the crontab's variables, so they
see the real clock. See DESIGN.md (runner table, ``cron``) for the recipe and its pitfalls.
"""

from __future__ import annotations

import datetime as dt
import grp
import os
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orchbench.crond.sandbox import Sandbox

CRON = "/usr/sbin/cron"
SENDMAIL = "/usr/sbin/sendmail"
LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
HOST_CRON_PATHS = ("/etc/crontab", "/etc/cron.d", "/var/spool/cron/crontabs")

POLL_S = 0.05
FIRE_GRACE_S = 0.3  # real seconds after the last job's minute before "nothing runs" counts
FIRE_WAIT_S = 2.0  # how long to wait for every job's log to show it fired
STALL_S = 10.0  # default real seconds without CPU progress before jobs left count as stalled
STALL_CPU_S = 0.1  # CPU seconds the jobs left may use in STALL_S and still be stalled


def render_crontab(env: Mapping[str, str], lines: Mapping[str, str]) -> str:
    """A user crontab: variable assignments, then one ``fields command`` line per job.

    An empty assignment (``NAME=``) once made cron load no job at all, silently: refused.
    """
    out = []
    for k, v in env.items():
        if not v or "\n" in v:
            raise ValueError(f"crontab variable {k} must be a non-empty single line")
        out.append(f"{k}={v}")
    for fields, command in lines.items():
        out.append(f"{fields} {command.replace('%', chr(92) + '%')}")  # % is a newline
    return "\n".join(out) + "\n"


MAIL_STUB = """#!/bin/sh
# Stands in for the MTA inside the daemon's namespace. Mail to {alert_to} lands in the
# alert sink; anything else (root's local mail) in a mailbox nobody reads. cron started
# this with the daemon's LD_PRELOAD/FAKETIME: drop them so the receive time is real.
unset LD_PRELOAD FAKETIME
now=$(date +%s%N)
case " $* " in
  *" {alert_to} "*) box={alerts} ;;
  *) box={mailbox} ;;
esac
mkdir -p "$box"
tmp="$box/.$now.$$.tmp"
{{ printf 'X-Sink-Received-Ns: %s\\n' "$now"; cat; }} > "$tmp"
mv "$tmp" "$box/$now.$$.eml"
"""


def mail_stub(alert_to: str, alerts: Path, mailbox: Path) -> str:
    return MAIL_STUB.format(
        alert_to=alert_to, alerts=shlex.quote(str(alerts)), mailbox=shlex.quote(str(mailbox))
    )


class DeadlineReached(RuntimeError):
    """The caller's deadline passed with jobs still running (the runner turns it into its
    own timeout)."""


@dataclass
class CronDay:
    """The files and the daemon of one simulated day."""

    root: Path  # private directory of this day's daemon
    crontab: str  # root's crontab text
    stub: str  # sendmail stub script
    fake_start: dt.datetime  # the daemon's clock at start
    speed: float
    log: Path  # daemon stdout/stderr
    job_logs: list[Path]  # one log file per job: it grows when the job fires
    prioritized: bool = False  # daemon and jobs in a raised-weight CPU cgroup (cpu_group.py)
    # a syslog socket (``syslog.SyslogSink``) to bind over ``/dev/log`` in a private /dev,
    # so ``-L 15``'s job records land somewhere; None: the host's /dev (none here)
    syslog: Path | None = None
    sandbox: Sandbox | None = None
    _sizes: dict[Path, int] = field(default_factory=dict)

    def prepare(self) -> None:
        r = self.root
        (r / "cron.d").mkdir(parents=True, exist_ok=True)
        (r / "run").mkdir(exist_ok=True)
        spool = r / "crontabs"
        spool.mkdir(exist_ok=True)
        etc = r / "crontab"
        etc.write_text("# empty: this daemon only runs root's user crontab\n")
        etc.chmod(0o644)
        tab = spool / "root"
        tab.write_text(self.crontab)
        tab.chmod(0o600)  # cron ignores a crontab with another mode or owner
        try:
            gid = grp.getgrnam("crontab").gr_gid
            os.chown(spool, 0, gid)
            os.chown(tab, 0, gid)
        except KeyError:
            pass
        spool.chmod(0o1730)
        stub = r / "sendmail"
        stub.write_text(self.stub)
        stub.chmod(0o755)
        fake = self.fake_start.strftime("%Y-%m-%d %H:%M:%S")
        q = shlex.quote
        mounts = [
            (r / "crontab", "/etc/crontab"),
            (r / "cron.d", "/etc/cron.d"),
            (spool, "/var/spool/cron/crontabs"),
            (r / "run", "/run"),
            (stub, os.path.realpath(SENDMAIL)),  # sendmail is a symlink: bind its target
        ]
        script = ["#!/bin/sh", "# runs as PID 1 of a fresh PID + mount namespace", "set -e"]
        script += [f"mount --bind {q(str(src))} {q(dst)}" for src, dst in mounts]
        if self.syslog is not None:
            script += _private_dev(r / "hostdev", self.syslog)
        # ORCHBENCH_CRON_DAY only tags the daemon (tests find leftovers by it); jobs get
        # the crontab's variables, never the daemon's environment.
        script.append(
            f"exec env ORCHBENCH_CRON_DAY={q(str(r))} LD_PRELOAD={q(LIBFAKETIME)} "
            f"FAKETIME={q(f'@{fake} x{self.speed:g}')} {CRON} -f -L 15"
        )
        ns = r / "namespace.sh"
        ns.write_text("\n".join(script) + "\n")
        ns.chmod(0o755)

    def start(self) -> None:
        self.prepare()
        self._sizes = {p: _size(p) for p in self.job_logs}
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        argv = ["/bin/sh", str(self.root / "namespace.sh")]
        self.sandbox = Sandbox(
            argv, env=env, log=self.log, mount=True, prioritized=self.prioritized
        )
        self.sandbox.start()

    def real_time_of(self, fake: dt.datetime) -> float:
        """``time.time()`` at which the daemon's clock shows ``fake`` (T0 + (real-R0)*speed)."""
        assert self.sandbox is not None
        return self.sandbox.started_at + (fake - self.fake_start).total_seconds() / self.speed

    def fake_now(self) -> dt.datetime:
        assert self.sandbox is not None
        real = time.time() - self.sandbox.started_at
        return self.fake_start + dt.timedelta(seconds=real * self.speed)

    def wait_finished(
        self,
        last_fire: dt.datetime,
        deadline: float,
        day_cap: float,
        stop_if: Callable[[], object] | None = None,
        stall_s: float | None = None,
    ) -> str:
        """Block until the day's jobs have all fired and finished; return why it ended.

        "Finished" is read from outside, never from the journal: the fake clock is past
        the last job's minute, each job's log file has grown (it fired), and no process but
        cron itself is left in the namespace. ``deadline`` (monotonic) raises DeadlineReached;
        ``day_cap`` (monotonic) ends the day with jobs still running (``"cut"``);
        ``stop_if`` returning something truthy ends it at once (``"stopped"``).

        With ``stall_s``, once every job has fired, jobs still running that have used
        under ``STALL_CPU_S`` of CPU for ``stall_s`` real seconds end the day too
        (``"cut (...)"``). Only for scripts that never wait, sleep or time out (naive
        cron): there such a job is hung for good and would be killed at ``day_cap``
        anyway, so only the wall time changes (``hang`` on naive cron: 48 s for the whole
        run, about 300 s before). Hardened scripts sleep between retries, wait on flock
        and rely on ``timeout``, so they get no such cut.
        """
        assert self.sandbox is not None
        t_last = self.real_time_of(last_fire) + FIRE_GRACE_S
        stall = _Stall()
        while True:
            if stop_if is not None and stop_if():
                return "stopped"
            if not self.sandbox.running():
                raise RuntimeError(f"the cron daemon exited early; see {self.log}")
            now = time.time()
            if now >= t_last:
                fired = all(_size(p) > n for p, n in self._sizes.items())
                if (fired or now >= t_last + FIRE_WAIT_S) and self.sandbox.idle():
                    return "finished" if fired else "finished (a job left no log line)"
                if (
                    fired
                    and stall_s is not None
                    and stall.stalled(self.sandbox.members_cpu_s(), stall_s)
                ):
                    return f"cut (every job fired; those left used no CPU for {stall_s:g} s)"
            mono = time.monotonic()
            if mono >= deadline:
                raise DeadlineReached(f"deadline reached, cron jobs running at {self.fake_now()}")
            if mono >= day_cap:
                return "cut"
            time.sleep(POLL_S)

    def stop(self) -> None:
        if self.sandbox is not None:
            self.sandbox.kill()


def _private_dev(hostdev: Path, socket: Path) -> list[str]:
    """Namespace commands giving the daemon a private /dev: the host's device files it
    and its jobs use, bound from ``hostdev`` (the host's /dev, bound there first), and
    ``log`` bound to the syslog sink's ``socket``. The host's /dev is not touched."""
    q = shlex.quote
    hostdev.mkdir(exist_ok=True)
    h = q(str(hostdev))
    out = [f"mount --rbind /dev {h}", "mount -t tmpfs -o mode=755,size=64k orchbench-dev /dev"]
    for n in ("null", "zero", "full", "random", "urandom", "tty"):
        out.append(f"touch /dev/{n} && mount --bind {h}/{n} /dev/{n}")
    out += [
        "mkdir /dev/pts /dev/shm",
        f"mount --rbind {h}/pts /dev/pts",
        f"mount --rbind {h}/shm /dev/shm",
        "ln -s /proc/self/fd /dev/fd",
        "ln -s fd/0 /dev/stdin && ln -s fd/1 /dev/stdout && ln -s fd/2 /dev/stderr",
        f"touch /dev/log && mount --bind {q(str(socket))} /dev/log",
    ]
    return out


class _Stall:
    """Whether the same processes have gained under STALL_CPU_S of CPU over ``window`` s."""

    def __init__(self) -> None:
        self.since = 0.0  # set by the first call that sees processes
        self.pids: frozenset[int] = frozenset()
        self.cpu0 = 0.0

    def stalled(self, cpu: dict[int, float], window: float = STALL_S) -> bool:
        now, total = time.monotonic(), sum(cpu.values())
        pids = frozenset(cpu)
        if not pids or pids != self.pids or total - self.cpu0 >= STALL_CPU_S:
            self.since, self.pids, self.cpu0 = now, pids, total
            return False
        return now - self.since >= window


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return -1
