"""Result directories, written under a temporary name (``.tmp-…``, marked with the owning
harness, see ``orchbench.ownership``) and renamed when complete, so a reader never sees
half of one:

- run directories ``<out>/<scenario>/<runner>/<run_id>/``: ``scenario.yaml`` (copy),
  ``env.json``, ``journal.jsonl``, ``native.jsonl``, ``run.json`` (both typed and
  versioned in ``orchbench.records``), ``logs/``;
- cost-growth point directories ``<out>/<engine>/<shape>-<n>/`` (``orchbench scale``):
  ``point.json`` (``orchbench.point``), one journal and ``logs-<i>/`` per sample; a point
  measured again replaces the older one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from orchbench import ownership
from orchbench.records import ENV_SCHEMA, RUN_SCHEMA, STATUSES  # noqa: F401 (re-exported)

TMP_PREFIX = ".tmp-"


def new_run_id() -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{uuid.uuid4().hex[:6]}"


def runner_dir(out_root: Path, scenario: str, runner: str) -> Path:
    return out_root / scenario / runner


def temp_run_dir(out_root: Path, scenario: str, runner: str, run_id: str) -> Path:
    return runner_dir(out_root, scenario, runner) / f"{TMP_PREFIX}{run_id}"


def point_dir(out_root: Path, engine: str, point: str) -> Path:
    """Where a cost-growth point (``point``: ``<shape>-<n>``) is published."""
    return Path(out_root) / engine / point


def temp_point_dir(out_root: Path, engine: str, point: str) -> Path:
    """A new temporary directory for a point, marked as this harness's."""
    tmp = point_dir(out_root, engine, f"{TMP_PREFIX}{point}-{uuid.uuid4().hex[:6]}")
    tmp.mkdir(parents=True)
    ownership.mark(tmp)
    return tmp


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block ends (a publication is never half done)."""
    held = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def cleanup_uncut() -> Iterator[None]:
    """A cleanup after Ctrl-C that a second Ctrl-C or SIGTERM must not cut: they are
    dropped until the block ends (the first one is already on its way up). A bench sends
    its lanes SIGTERM right after their own Ctrl-C; landing inside the lane's abort, that
    SIGTERM skipped the removal of its partial run (clean-clone CI of b380908). The
    handlers are Python functions, so a process started inside the block gets the
    default dispositions back at exec. Outside the main thread this does nothing."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    dropped = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in dropped.items():
            signal.signal(s, handler)


def finalize(tmp: Path, final: Path | None = None) -> Path:
    """Atomically publish a finished temporary directory as ``final`` (default: its name
    without the prefix), replacing an older one there; returns the final path."""
    final = final or tmp.with_name(tmp.name.removeprefix(TMP_PREFIX))
    old = None
    with _signals_held():
        (tmp / ownership.OWNER_FILE).unlink(missing_ok=True)  # a published run has no owner
        if final.exists():
            old = final.with_name(f"{TMP_PREFIX}old-{final.name}-{uuid.uuid4().hex[:6]}")
            os.replace(final, old)
        os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final


def write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)


def completed_runs(out_root: Path, scenario: str, runner: str, profile: str) -> list[Path]:
    """Published run directories of this scenario/runner/profile (any status)."""
    d = runner_dir(out_root, scenario, runner)
    if not d.is_dir():
        return []
    out = []
    for p in sorted(d.iterdir()):
        if p.name.startswith(TMP_PREFIX) or not (p / "run.json").is_file():
            continue
        try:
            run = json.loads((p / "run.json").read_text())
        except ValueError:
            continue
        if run.get("profile") == profile:
            out.append(p)
    return out


SERVICES_DIR = ".services"


def services_dir(out_root: Path, name: str) -> Path:
    """A services directory of this harness process (``<out>/.services/<name>-<pid>``),
    marked as its own: two harnesses on one tree never share one."""
    d = Path(out_root) / SERVICES_DIR / f"{name}-{os.getpid()}"
    d.mkdir(parents=True, exist_ok=True)
    ownership.mark(d)
    return d


def remove_stale_temps(out_root: Path) -> int:
    """Delete the temporary run and point directories and the service directories that a
    harness which no longer runs left behind (its ``.owner`` token is dead, see
    ``orchbench.ownership``); those of a live harness, e.g. a second bench writing to the
    same tree, stay. Returns how many were removed."""
    if not out_root.is_dir():
        return 0
    temps = [
        *out_root.glob(f"*/*/{TMP_PREFIX}*"),  # run directories
        *out_root.glob(f"*/{TMP_PREFIX}*"),  # point directories
        *out_root.glob(f"{SERVICES_DIR}/*"),
    ]
    return ownership.remove_dead(temps)


def _pkg_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git_commit(repo: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info() -> dict[str, Any]:
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory_gib": mem,
        "cpu": cpu,
        "platform": platform.platform(),
        "hostname": platform.node(),
    }


ENV_BENCH_JOBS = "ORCHBENCH_BENCH_JOBS"  # set by `orchbench bench --jobs N` for its lanes
ENV_PLAIN_PROGRESS = "ORCHBENCH_PLAIN_PROGRESS"  # set for bench lanes: plain progress lines


def env_info(repo: Path, runner: Any, fired: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a result depends on: machine, Python, harness packages, the runner's versions,
    and ``bench_jobs``: how many runners were benched at once (1: this run had the
    machine to itself, apart from the harness). From the runner's ``plugin.py``:
    ``system_version`` (``"apache-airflow 3.3.2"``) and ``notes``, the caveats the report
    lists for its runs. ``fired``: who fired the run's dates (``scheduling``: harness or
    system, ``fired_by``, ``day_s``: real seconds per simulated day on a real-clock
    schedule), recorded in ``clock``. ``card``: the profile's configuration card
    (``Runner.card``)."""
    from orchbench.plugins import of_runner
    from orchbench.runner import SCHEDULE_INTERVAL_S

    versions = runner.versions()
    settings = runner.settings()
    plugin = of_runner(runner)
    return {
        "schema": ENV_SCHEMA,
        "bench_jobs": int(os.environ.get(ENV_BENCH_JOBS) or 1),
        "python": sys.version.split()[0],
        "machine": machine_info(),
        "orchbench": {"version": _pkg_version("orchbench"), "git": _git_commit(repo)},
        "harness_packages": {
            p: _pkg_version(p)
            for p in ("numpy", "pandas", "pandera", "pydantic", "scikit-learn", "pyyaml")
        },
        "runner": runner.name,
        "system": runner.system,
        "profile": runner.profile,
        "versions": versions,
        "settings": settings,
        "system_version": plugin.system_version(versions) if plugin else None,
        "notes": plugin.notes_for(runner.profile, settings) if plugin else [],
        "central_view": plugin.central_view if plugin else None,
        "card": runner.card(),
        "clock": {
            "schedule_interval_s": SCHEDULE_INTERVAL_S,
            "speed": runner.clock_speed,
            "compressed": ["the schedule interval between dates", *runner.compressed],
            **(fired or {}),
        },
    }
