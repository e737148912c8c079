"""Cost growth: how wall time and orchestration overhead grow with the size of the work.

The scale scenarios, the synthetic task and the measuring of points (``orchbench scale``,
``make bench-scale``; issue 10). Runner-side code only orchestrates.

**Shapes.** Every shape is ``n`` copies of one synthetic task; only how the engine is
asked to run them changes:

- ``fanout-N``: one run of a DAG whose one task fans out into N parallel tasks;
- ``backfill-D``: D missed days caught up, one run (of one task) per logical date, the way
  that engine's users catch up;
- ``concurrent-K``: K runs (one task each, K logical dates) started at the same moment.

**The task** (``TASK_NAME``): sleeps ``TASK_S`` seconds and appends one journal record
(``type: scale_task``, start/end ``time.time_ns()`` of the sleep) through
``orchbench.journal``, so Σ task time is known exactly and every task is accounted for.
It uses no CPU: whatever CPU a point burns is the engine's.

**Figures** (``orchbench.growth``, the metrics layer): from the records and two harness
timestamps, each sample's wall time (from the moment the harness hands the work to the
engine, the submission or the cron minute firing, to the moment the engine shows it done,
driver exited or cron namespace idle, as a user would time it), Σ task time, the
parallelism the engine as configured runs this shape at, ideal time and overhead per task;
the medians over a point's samples; and the log-log growth fit of wall time and total
overhead over an engine and shape's points.

**Publishing**: every point is measured in a temporary directory of the harness's
run-directory code (``orchbench.rundir``: marked with this harness's owner token, renamed
into ``<out>/<series>/<shape>-<n>/`` when complete, replacing an older point), with
``point.json`` (``orchbench.point``: samples, medians, and the fit over the points
published so far, this one included). ``orchbench scale`` owns its processes and reaps
and removes what a killed harness left, as ``orchbench run`` and ``bench`` do.

**Profiles.** An engine runs as one of its runner's profiles (``profiles``: the system
configured as that profile of the runner configures it, through the runner's own code;
``orchbench scale --runners airflow/tuned``; no ``--runners``: every engine and profile).
A profile that would repeat another exactly for these shapes is named in ``unmeasured``
with the reason. Each engine and profile is its own series: ``<out>/<engine>/`` for the
default profile, ``<out>/<engine>.<profile>/`` for another, fitted over its own points.

**Engines** plug in through ``ScaleEngine`` (declared as ``scale`` in the runner's
``runners/<name>/plugin.py``): ``parallelism(shape)`` reads the engine's limit from its
configuration as run, ``run(shape, point)`` makes the engine run the shape's tasks (each
task process runs ``task_command`` or calls ``run_task_from_env``) and returns the two
timestamps. Engines whose submission is a process of its own (a script run) start it
through ``Drivers``. Each engine's docstring says how the shapes map to it:

- kfp and kfp-docker: ``runners/kfp/scale.py`` (kfp.local driver processes; a process or
  a container per task);
- cron and cron-hardened: ``runners/cron/scale.py`` (one sandboxed daemon per sample; the
  hardened tasks are ``lib.sh`` steps);
- Airflow: ``runners/airflow/scale.py`` (dynamic task mapping, the backfill API and K dag
  runs on one stack of the profile: LocalExecutor on SQLite, or celery);
- Prefect: ``runners/prefect/scale.py`` (flow runs of a ``flow.serve()`` deployment;
  ``pool``: a work pool's workers; ``script``: script runs);
- Dagster: ``runners/dagster/scale.py`` (DynamicOut, a partition backfill, ``dagster dev``);
- ZenML: ``runners/zenml/scale.py`` (dynamic map fan-out, script runs on one SQLite store;
  ``server``: a local ZenML server);
- Metaflow: ``runners/metaflow/scale.py`` (a ``foreach`` on the local runtime, flow runs).

The engines with a long-lived server (Airflow, Prefect, Dagster, ZenML ``server``) start it
once and make unmeasured warm-up runs in ``start``: a deployment in use has parsed its
DAGs and seen its flows. kfp and cron have no server to warm.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from orchbench import growth, rundir
from orchbench import journal as jr
from orchbench.point import (
    DEFAULT_PROFILE,
    POINT_JSON,
    SHAPES,
    Point,
    Sample,
    ShapeKind,
    Status,
    Task,
    load_points,
    series_dir,
    series_label,
)
from orchbench.procs import kill_group, venv_versions

TASK_NAME = "scale_task"
TASK_S = 1.0  # seconds each synthetic task sleeps
RECORD = "scale_task"  # journal record type
DEFAULT_SIZES: dict[str, tuple[int, ...]] = {
    "fanout": (1, 10, 50, 100),
    "backfill": (1, 7, 30),
    "concurrent": (1, 4, 16),
}
MAX_SIZE = 1000  # a typo guard, not an engine limit
FIRST_DATE = dt.date(2026, 1, 1)  # logical date of the first (or only) run of a point
DRIVER_POLL_S = 0.05  # how often ``Drivers.wait`` looks at its processes
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "results" / "scale"

# What the task process reads when it is started by an engine (``run_task_from_env``).
ENV_JOURNAL = "ORCHBENCH_SCALE_JOURNAL"
ENV_ENGINE = "ORCHBENCH_SCALE_ENGINE"
ENV_POINT = "ORCHBENCH_SCALE_POINT"


# --- shapes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """One measurement point's work: ``n`` tasks arranged as ``kind``."""

    kind: ShapeKind
    n: int

    def __post_init__(self) -> None:
        if self.kind not in SHAPES:
            raise ValueError(f"unknown shape {self.kind!r}; allowed: {', '.join(SHAPES)}")
        if not 1 <= self.n <= MAX_SIZE:
            raise ValueError(f"{self.kind} size must be 1..{MAX_SIZE}, got {self.n}")

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.n}"

    @property
    def tasks(self) -> int:
        return self.n

    @property
    def runs(self) -> int:
        """Runs the engine is asked for: one fan-out run, or one run per date."""
        return 1 if self.kind == "fanout" else self.n

    def dates(self) -> list[str]:
        """Logical dates of the runs, in order (a fan-out has one)."""
        return [(FIRST_DATE + dt.timedelta(days=i)).isoformat() for i in range(self.runs)]


def parse_sizes(text: str | None, kind: str) -> tuple[int, ...]:
    """``"1,10,50"`` -> sizes of ``kind``; ``None``: the defaults; ``""``: skip the shape.
    Raises ValueError with a message naming the flag."""
    if text is None:
        return DEFAULT_SIZES[kind]
    if not text.strip():
        return ()
    out = []
    for part in text.split(","):
        try:
            n = int(part.strip())
        except ValueError:
            raise ValueError(
                f"--{kind} {text!r}: sizes must be comma-separated integers, e.g. 1,10,50"
            ) from None
        if not 1 <= n <= MAX_SIZE:
            raise ValueError(f"--{kind} {text!r}: each size must be 1..{MAX_SIZE}")
        out.append(n)
    return tuple(dict.fromkeys(out))


def shapes_of(sizes: dict[str, Iterable[int]]) -> list[Shape]:
    return [Shape(kind, n) for kind in SHAPES for n in sizes.get(kind, ())]


# --- the synthetic task ---------------------------------------------------------------------


def run_task(
    journal: Path | str,
    *,
    engine: str,
    point: str,
    item: int,
    logical_date: str,
    sleep_s: float = TASK_S,
) -> dict[str, Any]:
    """The synthetic task: sleep ``sleep_s`` and journal one ``scale_task`` record."""
    start = time.time_ns()
    time.sleep(sleep_s)
    end = time.time_ns()
    record = {
        "type": RECORD,
        "task": TASK_NAME,
        "engine": engine,
        "point": point,
        "item": item,
        "logical_date": logical_date,
        "pid": os.getpid(),
        "start_ns": start,
        "end_ns": end,
        "sleep_s": sleep_s,
    }
    jr.append_record(journal, record)
    return record


def task_env(journal: Path, engine: str, shape: Shape) -> dict[str, str]:
    """Variables a task process started by an engine needs (``run_task_from_env``)."""
    return {ENV_JOURNAL: str(journal), ENV_ENGINE: engine, ENV_POINT: shape.name}


def run_task_from_env(item: int, logical_date: str) -> dict[str, Any]:
    """``run_task`` with the journal, engine and point from ``task_env``'s variables."""
    return run_task(
        os.environ[ENV_JOURNAL],
        engine=os.environ[ENV_ENGINE],
        point=os.environ[ENV_POINT],
        item=item,
        logical_date=logical_date,
    )


def task_command(python: Path | str, item: int, logical_date: str) -> list[str]:
    """argv of one task as a process (``python -m orchbench.scale task``), env from
    ``task_env``."""
    return [str(python), "-m", "orchbench.scale", "task", str(item), logical_date]


# --- the task's records ---------------------------------------------------------------------


def task_records(journal: Path | str) -> list[dict[str, Any]]:
    return [r for r in jr.read_records(journal) if r.get("type") == RECORD]


# --- the engine interface -------------------------------------------------------------------


class ScaleTimeout(RuntimeError):
    """A point ran past its deadline; the engine killed what it started."""


@dataclass
class PointContext:
    """Where one sample of a point runs and when to give up."""

    engine: str
    shape: Shape
    dir: Path  # the point's (temporary) directory
    journal: Path  # this sample's task records
    logs: Path
    work: Path  # scratch space (pipeline roots, crontabs), removed when the point is done
    deadline: float  # time.monotonic() after which the sample must stop

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def task_env(self) -> dict[str, str]:
        return task_env(self.journal, self.engine, self.shape)


@dataclass
class Timing:
    """The harness's two timestamps of a sample (``time.time_ns()``)."""

    start_ns: int  # the work handed to the engine
    end_ns: int  # the engine shows it done
    notes: list[str] = field(default_factory=list)


class ScaleEngine:
    """Base of the runner-side scale adapters (``runners/<name>/scale.py``), one instance
    per runner profile it runs as (``profiles``; ``orchbench scale --runners
    name/profile``)."""

    name: ClassVar[str]
    system: ClassVar[str]
    # the runner's profiles this engine runs as: each configures the system as that
    # profile of the runner does (the engine's docstring says how)
    profiles: ClassVar[tuple[str, ...]] = (DEFAULT_PROFILE,)
    # the runner's other profiles, each with why measuring it would repeat a profile above
    # (the same processes and limits for these shapes); never run, and not in the report:
    # the engine's docstring and its runner's README give the reasons
    unmeasured: ClassVar[dict[str, str]] = {}

    def __init__(self, repo_root: Path, profile: str = DEFAULT_PROFILE) -> None:
        if profile not in self.profiles:
            raise ValueError(
                f"scale engine {self.name!r} has no profile {profile!r} "
                f"(it runs {', '.join(self.profiles)})"
            )
        self.repo_root = repo_root
        self.profile = profile

    @property
    def label(self) -> str:
        """The engine and profile (``name``, or ``name/profile`` beside the default)."""
        return series_label(self.name, self.profile)

    @property
    def series_dir(self) -> str:
        """Its points' directory under the output root (``orchbench.point.series_dir``)."""
        return series_dir(self.name, self.profile)

    def check_environment(self) -> None:
        """Raise ``orchbench.runner.EnvironmentMissing`` naming what is missing."""

    def versions(self) -> dict[str, str]:
        return {}

    def parallelism(self, shape: Shape) -> tuple[int, str]:
        """Tasks of ``shape`` the engine as configured runs at once, and where that number
        comes from (uncapped by the shape's task count; ``growth.compute_sample`` caps
        it)."""
        raise NotImplementedError

    def settings(self, shape: Shape) -> dict[str, Any]:
        return {}

    def start(self, work: Path) -> None:
        """Start shared services once per engine (outside every measured interval)."""

    def stop(self) -> None:
        """Stop what ``start`` started; safe to call twice."""

    def run(self, shape: Shape, point: PointContext) -> Timing:
        """Make the engine run the shape's tasks; return when it shows them done."""
        raise NotImplementedError

    def abort(self) -> None:
        """Kill whatever the current sample started."""


class Drivers:
    """Submissions that are processes of their own (one script run per submission, as a
    kfp.local or Prefect user starts a run): each in its own process group with its own
    log; ``kill`` stops every group, so nothing a run started outlives it."""

    def __init__(self, cwd: Path, label: str) -> None:
        self.cwd = cwd
        self.label = label  # the engine's name, for messages
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, cmd: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            proc = subprocess.Popen(
                list(cmd),
                cwd=self.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def wait(self, point: PointContext, procs: Sequence[subprocess.Popen[bytes]]) -> None:
        """Until ``procs`` exited; ScaleTimeout past the point's deadline (after killing
        every driver), RuntimeError if one failed."""
        while any(p.poll() is None for p in procs):
            if point.remaining() <= 0:
                self.kill()
                raise ScaleTimeout(f"{self.label} {point.shape.name}: runs going at the deadline")
            time.sleep(DRIVER_POLL_S)
        failed = sum(1 for p in procs if p.returncode)
        if failed:
            raise RuntimeError(f"{failed} {self.label} run(s) failed; see {point.logs}")

    def kill(self) -> None:
        for p in self.procs:
            kill_group(p)
        self.procs = []


def last_json(
    cmd: Sequence[str], env: dict[str, str], cwd: Path | None = None, timeout: float = 120
) -> Any:
    """The JSON a command prints on its last line (an engine's probe of what the system,
    as configured, says about itself); CalledProcessError when the command fails."""
    out = subprocess.run(
        list(cmd),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


class DriverEngine(ScaleEngine):
    """An engine whose submissions are script runs in its own venv (``.venvs/<venv>``),
    started and killed through ``Drivers``."""

    venv: ClassVar[str]
    version_keys: ClassVar[tuple[str, ...]]

    def __init__(self, repo_root: Path, profile: str = DEFAULT_PROFILE) -> None:
        super().__init__(repo_root, profile)
        self._drivers = Drivers(repo_root, self.label)

    def python(self) -> Path:
        return self.repo_root / ".venvs" / self.venv / "bin" / "python"

    def check_environment(self) -> None:
        from orchbench.runner import EnvironmentMissing

        if not self.python().is_file():
            raise EnvironmentMissing(f"{self.python()} not found: run `make setup`")

    def versions(self) -> dict[str, str]:
        return venv_versions(self.python(), self.version_keys)

    def clean_env(self) -> dict[str, str]:
        """The environment the venv's processes start from (the harness's, by default)."""
        return dict(os.environ)

    def probe(self, module: str, *args: str) -> Any:
        """The JSON ``python -m module args`` prints in the engine's venv (what the system
        itself says about its configuration)."""
        cmd = [str(self.python()), "-m", module, *args]
        return last_json(cmd, self.clean_env(), self.repo_root)

    def abort(self) -> None:
        self._drivers.kill()


def engine_names() -> list[str]:
    """Every engine and profile: the runners whose ``plugin.py`` declares a scale engine,
    each with every profile its engine runs as (``name``, ``name/profile``)."""
    from orchbench.plugins import scale_plugins

    return [
        series_label(name, profile)
        for name in scale_plugins()
        for profile in engine_class(name).profiles
    ]


def engine_class(name: str) -> type[ScaleEngine]:
    from orchbench.plugins import scale_plugins

    found = scale_plugins()
    if name not in found:
        raise ValueError(f"no scale engine {name!r}; available: {', '.join(found)}")
    cls = found[name].scale_class()
    assert cls is not None
    return cls


def split_label(label: str) -> tuple[str, str]:
    """``name`` or ``name/profile`` -> (name, profile)."""
    name, _, profile = label.partition("/")
    return name, profile or DEFAULT_PROFILE


def system_version(name: str, versions: dict[str, str]) -> str | None:
    """The system's own version among an engine's ``versions`` (its plugin's version key)."""
    from orchbench.plugins import scale_plugins

    p = scale_plugins().get(name)
    return p.system_version(versions) if p else None


def make_engine(label: str, repo_root: Path | None = None) -> ScaleEngine:
    """Instantiate and check an engine (``name`` or ``name/profile``); raises ValueError
    (no such engine or profile) or EnvironmentMissing."""
    root = repo_root or Path(__file__).resolve().parent.parent
    name, profile = split_label(label)
    engine = engine_class(name)(root, profile)
    engine.check_environment()
    return engine


# --- measuring and publishing ---------------------------------------------------------------


def default_timeout(shape: Shape) -> float:
    """Deadline of one sample: generous per task, bounded."""
    return min(1800.0, 60 + shape.tasks * (TASK_S + 6))


def measure_point(
    engine: ScaleEngine,
    shape: Shape,
    out_root: Path,
    repeat: int = 1,
    timeout_s: float | None = None,
) -> Path:
    """Measure one point ``repeat`` times and publish its directory with ``point.json``.

    A sample that times out or fails is recorded (``status``, ``reason``); Ctrl-C aborts
    the engine, removes the temporary directory and re-raises.
    """
    out_root = Path(out_root).resolve()
    tmp = rundir.temp_point_dir(out_root, engine.series_dir, shape.name)
    try:
        limit, source = engine.parallelism(shape)
        status: Status = "completed"
        reason: str | None = None
        samples: list[Sample] = []
        for i in range(1, repeat + 1):
            ctx = PointContext(
                engine=engine.label,
                shape=shape,
                dir=tmp,
                journal=tmp / f"journal-{i}.jsonl",
                logs=tmp / f"logs-{i}",
                work=tmp / "work",
                deadline=time.monotonic() + (timeout_s or default_timeout(shape)),
            )
            ctx.logs.mkdir()
            ctx.work.mkdir(exist_ok=True)
            ctx.journal.touch()
            try:
                timing = engine.run(shape, ctx)
            except ScaleTimeout as e:
                engine.abort()
                status, reason = "timeout", str(e)
                break
            except Exception as e:  # failures are data
                engine.abort()
                status, reason = "failed", f"{type(e).__name__}: {e}"
                break
            records = task_records(ctx.journal)
            figures = growth.compute_sample(
                shape.tasks, records, timing.start_ns, timing.end_ns, limit
            )
            samples.append(Sample(**figures, records=ctx.journal.name, notes=timing.notes))
            if len(records) != shape.tasks:
                status = "failed"
                reason = f"sample {i}: {len(records)} task records, expected {shape.tasks}"
                break
        versions = engine.versions()
        point = Point(
            engine=engine.name,
            profile=engine.profile,
            system=engine.system,
            shape=shape.kind,
            n=shape.n,
            tasks=shape.tasks,
            runs=shape.runs,
            task=Task(name=TASK_NAME, sleep_s=TASK_S),
            status=status,
            reason=reason,
            measured_at=dt.datetime.now(dt.UTC).isoformat(),
            versions=versions,
            system_version=system_version(engine.name, versions),
            machine=rundir.machine_info(),
            engine_parallelism=limit,
            parallelism_source=source,
            settings=engine.settings(shape),
            repeat=repeat,
            records=[s.records for s in samples],
            samples=samples,
            **(growth.summarize_samples(samples) if status == "completed" else {}),
        )
        published, _refused = load_points(out_root)  # refused files are not fitted over
        fit = growth.fit_with(point, published)
        point = point.model_copy(update={"growth": fit})
        rundir.write_json(tmp / POINT_JSON, point.to_json())
        shutil.rmtree(tmp / "work", ignore_errors=True)
    except BaseException:
        with rundir.cleanup_uncut():
            engine.abort()
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return rundir.finalize(tmp, rundir.point_dir(out_root, engine.series_dir, shape.name))


def run_scale(
    engines: Sequence[str],
    shapes: Sequence[Shape],
    out_root: Path = DEFAULT_OUT,
    repeat: int = 1,
    on_point: Callable[[str, Shape], None] | None = None,
) -> list[Path]:
    """Every shape on every engine (``name`` or ``name/profile``), one engine's services
    started once (in a services directory of this harness, removed when the engine
    stops); the published point directories."""
    out_root = Path(out_root).resolve()
    out: list[Path] = []
    for name in engines:
        engine = make_engine(name)
        services = rundir.services_dir(out_root, f"scale-{engine.series_dir}")
        try:
            engine.start(services)
            for shape in shapes:
                if on_point:
                    on_point(name, shape)
                out.append(measure_point(engine, shape, out_root, repeat))
        finally:
            engine.abort()
            engine.stop()
            shutil.rmtree(services, ignore_errors=True)
    return out


def _task_main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m orchbench.scale", description=run_task.__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("task", help="run one synthetic task (journal etc. from the env)")
    t.add_argument("item", type=int)
    t.add_argument("logical_date")
    args = ap.parse_args(argv)
    rec = run_task_from_env(args.item, args.logical_date)
    print(f"{TASK_NAME} {rec['point']} item {rec['item']} {rec['logical_date']} done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_task_main())
