"""``orchbench``: list, check, run, bench, report.

stdout stays machine-readable (run directories, one per line; listings as plain rows);
progress goes to stderr; logs go to each run's ``logs/``. Bad input gives one line on
stderr naming the problem and a non-zero exit, with nothing written to ``results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import NoReturn

from fault_injection.scenario_faults import load_checked
from orchbench.records import SchemaError
from orchbench.rundir import ENV_PLAIN_PROGRESS
from orchbench.scenario import ScenarioError

EXIT_BAD_INPUT = 2
# where run and the full bench write, and what report and publish read, by default;
# relative to the working directory, as orchbench.matrix.QUICK_OUT (harness.DEFAULT_OUT
# is the same directory under the repository, for run_scenario called as a library)
RUNS_OUT = "results/runs"


def _add_remote_flags(p: argparse.ArgumentParser) -> None:
    """Each runner's remote-target flags (its ``plugin.py``): handed to it as an environment
    variable, so bench lanes (subprocesses) inherit it. A runner given one drives that
    deployment instead of starting its own; `orchbench export RUNNER DIR` writes what to
    deploy there."""
    from orchbench.plugins import remote_flags

    for f in remote_flags():
        p.add_argument(f.option, dest=f.flag, help=f.help)


def _fail(msg: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    for line in msg.splitlines() or [msg]:  # one error line per problem
        print(f"orchbench: error: {line}", file=sys.stderr)
    raise SystemExit(code)


def _sigterm(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


OWNING = ("run", "bench", "scale", "footprint")  # commands whose processes the harness owns


def _take_ownership() -> None:
    """Own what this process starts (orchbench/ownership.py) and first stop whatever a
    harness killed with SIGKILL left running, and remove the temp directories it left.
    Each owning command calls it once its input is checked: bad input exits with its one
    error line and touches nothing (a scale with a bad size reaped another bench's
    orphans and printed a second line, in the clean-clone CI of 1f8496d)."""
    from orchbench import ownership

    reaped = ownership.reap_orphans()
    if reaped:
        print(
            f"orchbench: stopped {len(reaped)} processes a killed orchbench left running",
            file=sys.stderr,
        )
    if removed := ownership.remove_dead_temps():
        print(f"orchbench: removed {removed} temp directories it left", file=sys.stderr)
    ownership.adopt()


def cmd_list(args: argparse.Namespace) -> int:
    if args.what == "runners":
        from orchbench.plugins import all_plugins

        for name, p in all_plugins().items():
            print(f"{name}\t{p.system}\t{','.join(p.profiles)}\t{p.description}")
    elif args.what == "scenarios":
        from orchbench.matrix import scenario_files

        for p in scenario_files():
            try:
                s = load_checked(p)
                print(f"{s.name}\t{p}\t{s.claim}")
            except ScenarioError as e:
                print(f"{p.stem}\t{p}\tINVALID: {'; '.join(e.problems)}")
    else:
        from fault_injection.catalog import KINDS

        for k in KINDS.values():
            print(f"{k.name}\t{k.enters}\tfixed by {k.fixed_by}\texpects: {k.expects}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    bad = 0
    for path in args.scenarios:
        try:
            s = load_checked(path)
            print(f"ok\t{path}\t{s.name}")
        except ScenarioError as e:
            for problem in e.problems:
                print(f"orchbench: error: {problem}", file=sys.stderr)
            bad += 1
    return 1 if bad else 0


def _validate_run_inputs(scenarios: list[Path], runners: list[str], profile: str | None) -> None:
    """Everything that can be checked before a run writes anything; exits on the first error."""
    from orchbench.harness import make_runner
    from orchbench.plugins import UnknownRunner

    for s in scenarios:
        try:
            load_checked(s)
        except ScenarioError as e:
            _fail(str(e))
    for r in runners:
        try:
            runner = make_runner(r, profile or "default")
        except UnknownRunner as e:
            _fail(str(e))
        except ValueError as e:
            _fail(str(e))
        except RuntimeError as e:  # EnvironmentMissing
            _fail(f"runner {r!r}: {e}")
        del runner


def cmd_run(args: argparse.Namespace) -> int:
    from orchbench.harness import run_scenario

    _validate_run_inputs([Path(args.scenario)], [args.runner], args.profile)
    _take_ownership()
    progress = _Progress()
    for i in range(args.repeat):
        path = run_scenario(
            args.scenario,
            args.runner,
            args.profile,
            Path(args.out),
            timeout_s=args.timeout,
            keep_work=args.keep_work,
            on_phase=lambda ph, i=i: progress.say(f"{args.runner} run {i + 1}: {ph}"),
        )
        progress.say("")
        print(path, flush=True)
    return 0


def bench_pairs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The (runner, profile) columns of a bench: RUNNER/PROFILE pins one profile
    (airflow/celery); a bare RUNNER takes ``--profiles``, else its declared bench profiles
    (``RunnerPlugin.bench_profiles``), or only ``default`` in the quick bench."""
    from orchbench import matrix, plugins

    specs = args.runners.split(",") if args.runners else matrix.all_runners()
    pairs: list[tuple[str, str]] = []
    for spec in specs:
        name, _, pinned = spec.strip().partition("/")
        if pinned:
            chosen = [pinned]
        elif args.profiles:
            chosen = args.profiles.split(",")
        else:
            plugin = plugins.all_plugins().get(name)
            chosen = list(plugin.bench_profiles) if plugin and not args.quick else ["default"]
        for prof in chosen:
            if (name, prof) not in pairs:
                pairs.append((name, prof))
    return pairs


def cmd_bench(args: argparse.Namespace) -> int:
    from orchbench import matrix

    pairs = bench_pairs(args)
    where = Path(args.scenario_dir) if args.scenario_dir else matrix.SCENARIO_DIR
    if not where.is_dir():
        _fail(f"{where}: no such scenario directory")
    files = matrix.scenario_files(args.scenarios, quick=args.quick, directory=where)
    if not files:
        _fail(f"no scenario matches {args.scenarios!r} in {where}")
    _validate_run_inputs(files, [], None)
    for name, prof in pairs:
        _validate_run_inputs([], [name], prof)
    if args.jobs < 1:
        _fail("--jobs must be at least 1")
    _take_ownership()
    args.out = args.out or (matrix.QUICK_OUT if args.quick else RUNS_OUT)
    if not args.quick:
        return _bench(args, files, pairs, None)
    from orchbench import ownership

    copies = ownership.temp_dir("quick-scenarios")
    try:
        return _bench(args, matrix.quick_copies(files, copies), pairs, copies)
    finally:
        shutil.rmtree(copies, ignore_errors=True)


def _bench(
    args: argparse.Namespace,
    files: list[Path],
    pairs: list[tuple[str, str]],
    copies: Path | None,
) -> int:
    """The bench of ``files`` on ``pairs``; ``copies``: where the quick copies are, which
    lanes read instead of the scenario directory."""
    from orchbench import matrix, rundir

    out = Path(args.out)
    if args.resume:  # only what a dead harness left: a live bench's runs stay (ownership.py)
        n = rundir.remove_stale_temps(out)
        if n:
            print(f"removed {n} unfinished run or service directories", file=sys.stderr)
    cells = [
        c
        for name, prof in pairs
        for c in matrix.plan_matrix(files, [name], [prof], out, args.resume)
    ]
    if args.jobs > 1:
        return matrix.run_lanes(cells, args.repeat, args.jobs, _lane_args(args, copies))
    total = sum(max(0, args.repeat - c.done) for c in cells)
    progress = _Progress(total)

    def on_run(c: matrix.Cell, i: int, phase: str) -> None:
        progress.say(f"{c.scenario.stem} on {c.runner}/{c.profile} #{i + 1}: {phase}")

    def on_done(_c: matrix.Cell, path: Path) -> None:
        progress.advance()
        print(path, flush=True)

    matrix.run_matrix(cells, args.repeat, out, on_run=on_run, on_done=on_done)
    progress.say("")
    return 0


def _lane_args(args: argparse.Namespace, copies: Path | None) -> list[str]:
    """The ``orchbench bench`` arguments every lane shares (runners and profile are added
    per lane); a quick bench's lanes read its ``copies``."""
    out = ["--repeat", str(args.repeat), "--out", args.out, "--lane"]
    if args.resume:
        out.append("--resume")
    if args.scenarios:
        out += ["--scenarios", args.scenarios]
    if copies is not None:
        out += ["--scenario-dir", str(copies)]
    elif args.scenario_dir:
        out += ["--scenario-dir", str(Path(args.scenario_dir).resolve())]
    from orchbench.plugins import remote_flags

    for f in remote_flags():
        if getattr(args, f.flag, None):
            out += [f.option, getattr(args, f.flag)]
    return out


def cmd_export(args: argparse.Namespace) -> int:
    from orchbench.runner import NotApplicable

    _validate_run_inputs([], [args.runner], args.profile)
    from orchbench.harness import make_runner

    out = Path(args.dir)
    if out.exists() and not out.is_dir():
        _fail(f"{out}: exists and is not a directory")
    try:
        written = make_runner(args.runner, args.profile).export(out)
    except NotApplicable as e:
        _fail(str(e))
    for path in written:
        print(path)
    return 0


def cmd_export_lineage(args: argparse.Namespace) -> int:
    """``orchbench.lineage_events`` of one run directory, one event per line; every event
    is checked against the shipped OpenLineage spec first, and nothing is written if one
    breaks it."""
    from orchbench import lineage_events

    run_dir = Path(args.run_dir)
    for name in ("run.json", "native.jsonl"):
        if not (run_dir / name).is_file():
            _fail(f"{run_dir}: no {name} (not a run directory of orchbench run or bench)")
    try:
        made = lineage_events.export_run(run_dir, native=args.native)
    except (SchemaError, ValueError) as e:
        _fail(f"{run_dir}: {e}")
    problems = [p for ev in made.events for p in lineage_events.validate(ev)]
    if problems:
        _fail("\n".join(f"event breaks the OpenLineage spec: {p}" for p in problems), 1)
    text = "".join(json.dumps(ev, sort_keys=True) + "\n" for ev in made.events)
    if args.out:
        out = Path(args.out)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, out)
    else:
        sys.stdout.write(text)
    note = f"; {made.untimed} record(s) without a time left out" if made.untimed else ""
    print(f"{len(made.events)} OpenLineage events from {run_dir}{note}", file=sys.stderr)
    return 0


def cmd_scale(args: argparse.Namespace) -> int:
    """Cost-growth points (``orchbench.scale``); prints each point directory. First removes
    the temporary directories a killed harness left in ``--out``."""
    from orchbench import rundir, scale

    try:
        sizes = {k: scale.parse_sizes(getattr(args, k), k) for k in scale.SHAPES}
        engines = args.runners.split(",") if args.runners else scale.engine_names()
        made = [scale.make_engine(e) for e in engines]  # checks names and environments
    except (ValueError, RuntimeError) as e:  # RuntimeError: EnvironmentMissing
        _fail(str(e))
    del made
    shapes = scale.shapes_of(sizes)
    if not shapes:
        _fail("no point to measure: every shape's sizes are empty")
    _take_ownership()
    out = Path(args.out)
    n = rundir.remove_stale_temps(out)  # only a dead harness's (ownership.py)
    if n:
        print(f"removed {n} unfinished point or service directories", file=sys.stderr)
    progress = _Progress(len(shapes) * len(engines))

    def on_point(engine: str, shape: scale.Shape) -> None:
        progress.say(f"scale: {engine} {shape.name}")
        progress.advance()

    for path in scale.run_scale(engines, shapes, out, args.repeat, on_point):
        print(path, flush=True)
    progress.say("")
    return 0


def cmd_footprint(args: argparse.Namespace) -> int:
    """Each runner x profile's operating cost (``orchbench.footprint_phase``); prints each
    result file written. Exit 1 when a cell failed (one line each on stderr)."""
    from orchbench import footprint_phase
    from orchbench.plugins import all_plugins
    from orchbench.runner import EnvironmentMissing

    if args.idle_s <= 0:
        _fail("--idle-s must be positive")
    if args.jobs < 1:
        _fail("--jobs must be at least 1")
    runners = args.runners.split(",") if args.runners else list(all_plugins())
    profiles = args.profiles.split(",") if args.profiles else None
    try:
        todo = footprint_phase.cells(runners, profiles)
    except ValueError as e:
        _fail(str(e))
    problems = []
    for runner in dict.fromkeys(r for r, _ in todo):
        try:
            all_plugins()[runner].adapter_class()("default").check_environment()
        except EnvironmentMissing as e:
            problems.append(f"{runner}: {e}")
    if problems:
        _fail("\n".join(problems))
    if not todo:
        _fail("nothing to measure: no runner has the profiles asked for")
    _take_ownership()
    written, errors = footprint_phase.run_cells(todo, args.idle_s, args.jobs, Path(args.out))
    for path in written:
        print(path)
    for e in errors:
        print(f"orchbench: error: footprint {e}", file=sys.stderr)
    return 1 if errors else 0


def cmd_report(args: argparse.Namespace) -> int:
    from orchbench.report import build_report

    results = Path(args.results)
    if not any(
        d.is_dir() for d in (results, results.parent / "scale", results.parent / "footprint")
    ):
        _fail(f"{results}: no such results directory (run `make bench` first)")
    old = Path(args.compare) if args.compare else None
    if old is not None and not old.is_dir():
        _fail(f"--compare {old}: no such results directory")
    try:
        out = build_report(results, Path(args.out) if args.out else Path("results/report"), old)
    except SchemaError as e:  # a result file of a version this orchbench cannot read
        _fail(str(e))
    print(out)
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from orchbench.harness import REPO_ROOT
    from orchbench.report.publish import PublishError, publish

    results = Path(args.results)
    if not results.is_dir():
        _fail(f"{results}: no such results directory (run `make bench` first)")
    try:
        out = publish(results, Path(args.out), REPO_ROOT / "scenarios", REPO_ROOT, args.note)
    except (SchemaError, PublishError) as e:
        _fail("\n".join(getattr(e, "problems", [str(e)])))
    print(out)
    return 0


class _Progress:
    """A one-line status on stderr (rich when it is a terminal, plain lines otherwise)."""

    def __init__(self, total: int | None = None) -> None:
        self.total, self.done = total, 0
        self._rich = None
        if sys.stderr.isatty() and not os.environ.get(ENV_PLAIN_PROGRESS):
            from rich.console import Console

            self._rich = Console(stderr=True)
            self._status = self._rich.status("")
            self._status.start()

    def say(self, msg: str) -> None:
        prefix = f"[{self.done}/{self.total}] " if self.total else ""
        if self._rich is not None:
            if msg:
                self._status.update(prefix + msg)
            else:
                self._status.stop()
        elif msg:
            print(prefix + msg, file=sys.stderr, flush=True)

    def advance(self) -> None:
        self.done += 1


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="orchbench", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("list", help="list runners, scenarios or fault kinds")
    p.add_argument("what", choices=["runners", "scenarios", "faults"])
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("check", help="validate scenario files")
    p.add_argument("scenarios", nargs="+")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("run", help="run one scenario on one runner")
    p.add_argument("scenario")
    p.add_argument("--runner", required=True)
    p.add_argument("--profile", default="default")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--out", default=RUNS_OUT)
    p.add_argument("--timeout", type=float, default=None, help="seconds (default: by scenario)")
    p.add_argument("--keep-work", action="store_true", help="keep the run's artifacts")
    _add_remote_flags(p)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("bench", help="run the matrix of scenarios x runners")
    p.add_argument(
        "--quick",
        action="store_true",
        help="only the quick set (schema_break, transient_error), each cut to the day of "
        "its last fault, on each runner's default profile; its runs go to results/quick "
        "unless --out is given",
    )
    p.add_argument(
        "--runners",
        help="comma-separated runner names, RUNNER/PROFILE to pin a profile (default: all)",
    )
    p.add_argument(
        "--profiles",
        default=None,
        help="comma-separated profiles (default: each runner's bench profiles: 'default', "
        "plus labelled extras its plugin lists)",
    )
    p.add_argument("--scenarios", help="comma-separated globs over scenario names")
    p.add_argument(
        "--scenario-dir", help="take the scenario files from this directory (default: scenarios/)"
    )
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--resume", action="store_true", help="skip runs already published")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runners benched at once, each in its own process (default 1: one at a time)",
    )
    p.add_argument("--lane", action="store_true", help=argparse.SUPPRESS)  # set by --jobs
    p.add_argument("--out", default=None, help="default: results/runs (results/quick)")
    _add_remote_flags(p)
    p.set_defaults(func=cmd_bench)
    p = sub.add_parser("scale", help="cost-growth points: fan-out, backfill, concurrent runs")
    p.add_argument(
        "--runners",
        help="comma-separated engines, RUNNER or RUNNER/PROFILE "
        "(default: every runner with a scale engine, every profile it runs as)",
    )
    for kind in ("fanout", "backfill", "concurrent"):
        p.add_argument(f"--{kind}", help=f"comma-separated {kind} sizes ('' skips the shape)")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--out", default="results/scale")
    p.set_defaults(func=cmd_scale)
    p = sub.add_parser("footprint", help="operating cost: cold start, idle memory/CPU, size")
    p.add_argument("--runners", help="comma-separated runners (default: all)")
    p.add_argument("--profiles", help="comma-separated profiles (default: each bench profile)")
    p.add_argument("--idle-s", type=float, default=60.0, help="idle window, seconds")
    p.add_argument("--jobs", type=int, default=2, help="cells measured at once")
    p.add_argument("--out", default="results/footprint")
    p.set_defaults(func=cmd_footprint)
    p = sub.add_parser("export", help="write what a remote deployment of a runner needs")
    p.add_argument("runner")
    p.add_argument("dir")
    p.add_argument("--profile", default="default")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser(
        "export-lineage", help="a run's native trace as OpenLineage RunEvents (JSON lines)"
    )
    p.add_argument("run_dir")
    p.add_argument("--out", default=None, help="file to write (default: standard output)")
    p.add_argument(
        "--native",
        action="store_true",
        help="only what the system records with no lineage code of ours (lineage_native)",
    )
    p.set_defaults(func=cmd_export_lineage)
    p = sub.add_parser("report", help="build the report (default results/report) from runs")
    p.add_argument("results", nargs="?", default=RUNS_OUT)
    p.add_argument("--out", default=None)
    p.add_argument("--compare", metavar="OLD_RESULTS", help="show changes from another results dir")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser(
        "publish", help="the report of a full bench as a reference copy (make publish)"
    )
    p.add_argument("results", nargs="?", default=RUNS_OUT)
    p.add_argument("--out", default="docs/results")
    p.add_argument("--note", default="", help="a sentence the stamp adds (how the bench ran)")
    p.set_defaults(func=cmd_publish)
    return ap


def main(argv: list[str] | None = None) -> int:
    from orchbench.plugins import PluginError

    try:
        parser = build_parser()  # the runners' remote flags: reads every plugin.py
    except PluginError as e:
        _fail(str(e))
    args = parser.parse_args(argv)
    if getattr(args, "repeat", 1) < 1:
        _fail("--repeat must be at least 1")
    signal.signal(signal.SIGTERM, _sigterm)
    from orchbench.plugins import remote_flags

    for f in remote_flags():  # read by the runner adapters
        if getattr(args, f.flag, None):
            os.environ[f.env] = getattr(args, f.flag)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("orchbench: interrupted; everything started was stopped", file=sys.stderr)
        return 130
    finally:
        if args.cmd in OWNING:
            from orchbench import ownership

            ownership.release()


if __name__ == "__main__":
    sys.exit(main())
