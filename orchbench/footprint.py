"""What a system costs to run: its operating-cost figures (``orchbench footprint``).

Measured from one run of the ``clean`` workflow for one date, with ``IDLE_S`` seconds of
nothing between the system being up and the date (``RunContext.idle_s``), while
``orchbench.proctree`` samples every process the harness started once a second. The
figures, each from what ran:

- ``cold_start_s``: harness event ``services_starting`` (before ``Runner.start``) to
  ``services_ready`` (``prepare_days`` returned: the services answer their health checks
  and the workflow is deployed, as each adapter waits for them);
- at the end of the idle window (the last sample in it): ``idle_processes``,
  ``idle_rss_mb`` and ``idle_pss_mb`` summed over them, ``listening`` (address:port);
- ``idle_cpu_pct``: CPU time the processes used over the idle window, as a percentage of
  one core (processes alive at both ends; one that started inside it counts from zero);
- ``day_wall_s``: the date's ``date_due`` to the end of its last attempt, and
  ``day_outside_steps_s``: that minus the attempts' own wall (scheduling, dispatch,
  process starts, polling, and a schedule's slack such as a crontab's minutes: what the
  system adds to one run of the 7-step workflow); ``day_peak_processes`` and
  ``day_peak_pss_mb``: the most processes, and the largest PSS sum, of a sample in that
  interval (step processes included; a daemon the harness starts per date, on a faked
  clock, shows only here);
- ``install_mb``: apparent size of the runner's environment (``.venvs/<name>``) and
  ``system_packages_mb`` of the Debian packages its plugin declares (dpkg's
  Installed-Size);
- ``authored_lines``: non-blank, non-comment lines of the files the plugin declares as the
  pipeline's definition and recovery scripts (``RunnerPlugin.authored``; not the adapter,
  which is the benchmark's), and the system ``concepts`` they use.

Figures are computed here only; the report reads ``results/footprint/<runner>.json``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from orchbench.journal import Journal
from orchbench.proctree import TICKS_PER_S
from orchbench.runner import DATE_DUE, IDLE_FINISHED, SERVICES_READY, SERVICES_STARTING

IDLE_S = 60.0  # the "idle ... after 60 s"
COMMENT = ("#", "//", "--")


def run_figures(samples: list[dict[str, Any]], journal: Journal) -> dict[str, Any]:
    """The run-time figures of one footprint run (see the module docstring). Raises
    ValueError when the journal lacks a window the figures need."""
    starting = journal.harness_time(SERVICES_STARTING)
    ready = journal.harness_time(SERVICES_READY)
    idle_end = journal.harness_time(IDLE_FINISHED)
    due = journal.harness_time(DATE_DUE)
    missing = [
        name
        for name, t in (
            (SERVICES_STARTING, starting),
            (SERVICES_READY, ready),
            (IDLE_FINISHED, idle_end),
            (DATE_DUE, due),
        )
        if t is None
    ]
    if missing:
        raise ValueError(f"journal lacks harness event(s) {', '.join(missing)}")
    assert starting and ready and idle_end and due
    idle = [s for s in samples if ready <= s["t_ns"] <= idle_end]
    if len(idle) < 2:
        raise ValueError(f"{len(idle)} process samples in the idle window; need 2")
    first, last = idle[0], idle[-1]
    window_s = (last["t_ns"] - first["t_ns"]) / 1e9
    ticks0 = {p["pid"]: p["cpu_ticks"] for p in first["procs"]}
    used = sum(p["cpu_ticks"] - ticks0.get(p["pid"], 0) for p in last["procs"])
    pss = [p["pss_kb"] for p in last["procs"]]
    attempts = [a for a in journal.attempts if a.start_ns >= due and a.end_ns is not None]
    day_end = max((a.end_ns for a in attempts if a.end_ns), default=None)
    day_wall = None if day_end is None else (day_end - due) / 1e9
    day = [s for s in samples if day_end is not None and due <= s["t_ns"] <= day_end]
    peak = max(day, key=lambda s: sum(p["pss_kb"] or 0 for p in s["procs"]), default=None)
    return {
        "cold_start_s": round((ready - starting) / 1e9, 2),
        "idle_window_s": round(window_s, 1),
        "idle_processes": len(last["procs"]),
        "idle_process_names": sorted({p["name"] for p in last["procs"]}),
        "idle_rss_mb": round(sum(p["rss_kb"] for p in last["procs"]) / 1024, 1),
        "idle_pss_mb": (
            None if any(v is None for v in pss) else round(sum(pss) / 1024, 1)  # type: ignore[arg-type]
        ),
        "idle_cpu_pct": (round(100.0 * used / TICKS_PER_S / window_s, 2) if window_s > 0 else None),
        "listening": sorted({_where(s) for s in last["listening"]}),
        "day_wall_s": None if day_wall is None else round(day_wall, 2),
        "day_outside_steps_s": (
            None
            if day_wall is None
            else round(day_wall - sum(a.wall_s or 0.0 for a in attempts), 2)
        ),
        "day_attempts": len(attempts),
        "day_peak_processes": max((len(s["procs"]) for s in day), default=None),
        "day_peak_pss_mb": (
            None if peak is None else round(sum(p["pss_kb"] or 0 for p in peak["procs"]) / 1024, 1)
        ),
    }


def _where(listener: dict[str, Any]) -> str:
    """``127.0.0.1:8080`` for TCP, ``udp 127.0.0.1:53`` for UDP."""
    where = f"{listener['address']}:{listener['port']}"
    return where if listener.get("protocol", "tcp").startswith("tcp") else f"udp {where}"


def tree_mb(path: Path) -> float | None:
    """Apparent size of every file under ``path`` (symlinks not followed), in MB; None if
    ``path`` is not a directory."""
    if not path.is_dir():
        return None
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                total += p.lstat().st_size
        except OSError:
            continue
    return round(total / 1e6, 1)


def package_mb(packages: Iterable[str]) -> dict[str, float | None]:
    """Installed-Size of each Debian package, in MB; None for one not installed."""
    out: dict[str, float | None] = {}
    for name in packages:
        try:
            res = subprocess.run(
                ["dpkg-query", "-W", "-f=${Installed-Size}", name],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError):
            out[name] = None
            continue
        text = res.stdout.strip()
        out[name] = round(int(text) * 1024 / 1e6, 1) if res.returncode == 0 and text else None
    return out


def code_lines(text: str) -> int:
    """Lines that are neither blank nor whole-line comments (``#``, ``//``, ``--``)."""
    return sum(
        1 for line in text.splitlines() if line.strip() and not line.strip().startswith(COMMENT)
    )


def authored(folder: Path, patterns: Iterable[str]) -> dict[str, int]:
    """Code lines per file matching ``patterns`` (globs relative to ``folder``)."""
    files = sorted({p for pat in patterns for p in folder.glob(pat) if p.is_file()})
    return {str(p.relative_to(folder)): code_lines(p.read_text(errors="replace")) for p in files}
