"""``orchbench footprint`` (``make footprint``): each runner x profile's operating cost.

One cell = one runner and profile: a run of the ``clean`` workflow for one date in a
temporary directory, with ``idle_s`` seconds idle once the system is up, sampled by
``orchbench.proctree``; the figures are ``orchbench.footprint``'s. Cells run in lanes
(``--jobs``), each a process of its own (``python -m orchbench.footprint_phase``) owning
what it starts, so one cell's sampler sees only its own system. Every cell of a runner is
merged into ``results/footprint/<runner>.json`` (one entry per profile, replaced whole,
written atomically); a cell that fails writes nothing and is reported on stderr.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from orchbench import ownership

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "results" / "footprint"
CLEAN = REPO / "scenarios" / "clean.yaml"
SAMPLE_EVERY_S = 1.0


class CellFailed(RuntimeError):
    """A footprint run that did not complete."""


def measure(runner: str, profile: str, idle_s: float) -> dict[str, Any]:
    """Measure one cell in this process (it must own what it starts). Raises CellFailed."""
    from orchbench import footprint, harness, plugins, proctree
    from orchbench.journal import Journal
    from orchbench.rundir import machine_info

    plugin = plugins.all_plugins()[runner]
    with tempfile.TemporaryDirectory(prefix="orchbench-footprint-") as tmp:
        scenario = yaml.safe_load(CLEAN.read_text())
        scenario["days"] = 1
        path = Path(tmp) / "clean.yaml"
        path.write_text(yaml.safe_dump(scenario, sort_keys=False))
        samples = Path(tmp) / "samples.jsonl"
        sampler = proctree.Sampler(samples, SAMPLE_EVERY_S)
        sampler.start()
        try:
            run_dir = harness.run_scenario(
                path,
                runner,
                profile,
                Path(tmp) / "runs",
                idle_s=idle_s,
                timeout_s=harness.default_timeout(harness.load_checked(path)) + idle_s,
            )
        finally:
            sampler.stop()
        run = json.loads((run_dir / "run.json").read_text())
        if run.get("status") != "completed":
            raise CellFailed(f"{runner}/{profile}: run {run.get('status')}: {run.get('reason')}")
        env = json.loads((run_dir / "env.json").read_text())
        figures = footprint.run_figures(
            proctree.load(samples), Journal.load(run_dir / "journal.jsonl")
        )
    lines = footprint.authored(plugin.path, plugin.authored)
    packages = footprint.package_mb(plugin.system_packages)
    return {
        "runner": runner,
        "system": plugin.system,
        "profile": profile,
        "system_version": env.get("system_version"),
        "versions": env.get("versions"),
        **figures,
        "idle_s_asked": idle_s,
        "install_mb": footprint.tree_mb(REPO / ".venvs" / plugin.venv),
        "environment": f".venvs/{plugin.venv}",
        "system_packages_mb": packages,
        "authored_lines": sum(lines.values()),
        "authored_files": lines,
        "concepts": list(plugin.concepts),
        "machine": machine_info(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "method": "orchbench.footprint: one clean date, an idle window, /proc samples every 1 s",
    }


def cells(runners: list[str], profiles: list[str] | None) -> list[tuple[str, str]]:
    """(runner, profile) to measure: the given profiles each runner has, else its
    ``bench_profiles``. Raises ValueError naming an unknown runner."""
    from orchbench import plugins

    found = plugins.all_plugins()
    unknown = [r for r in runners if r not in found]
    if unknown:
        raise ValueError(f"unknown runner(s) {', '.join(unknown)}; known: {', '.join(found)}")
    out = []
    for r in runners:
        have = found[r].profiles
        wanted = [p for p in profiles if p in have] if profiles else list(found[r].bench_profiles)
        out += [(r, p) for p in wanted]
    return out


def merge(out: Path, result: dict[str, Any]) -> Path:
    """Put one cell's result into ``<out>/<runner>.json`` (atomic replace)."""
    from orchbench.rundir import write_json

    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{result['runner']}.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[result["profile"]] = result
    write_json(path, data)
    return path


def run_cells(
    todo: list[tuple[str, str]], idle_s: float, jobs: int, out: Path
) -> tuple[list[Path], list[str]]:
    """Measure ``todo`` in ``jobs`` lanes; the files written and one error per failed cell.
    Ctrl-C (or SIGTERM) stops every lane (each aborts its run) and re-raises."""
    written: list[Path] = []
    errors: list[str] = []
    queue = list(todo)
    lanes: dict[subprocess.Popen[bytes], tuple[str, str, Path]] = {}
    tmp = ownership.temp_dir("footprint-lanes")
    try:
        while queue or lanes:
            while queue and len(lanes) < jobs:
                runner, profile = queue.pop(0)
                result = tmp / f"{runner}.{profile}.json"
                print(f"footprint: {runner}/{profile}", file=sys.stderr, flush=True)
                cmd = [sys.executable, "-m", "orchbench.footprint_phase", runner, profile]
                with (tmp / f"{runner}.{profile}.log").open("w") as log:
                    proc = subprocess.Popen(
                        [*cmd, str(idle_s), str(result)],
                        cwd=REPO,
                        stdout=subprocess.DEVNULL,
                        stderr=log,
                        start_new_session=True,
                    )
                lanes[proc] = (runner, profile, result)
            for proc in [p for p in lanes if p.poll() is not None]:
                runner, profile, result = lanes.pop(proc)
                err = result.with_suffix(".log").read_text().strip()
                if proc.returncode == 0 and result.is_file():
                    written.append(merge(out, json.loads(result.read_text())))
                else:
                    last = err.splitlines()[-1] if err else f"exit {proc.returncode}"
                    errors.append(f"{runner}/{profile}: {last}")
            time.sleep(0.2)
    except BaseException:
        for proc in lanes:
            proc.send_signal(signal.SIGTERM)
        for proc in lanes:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        raise
    finally:
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
    return sorted(set(written)), errors


def _lane(argv: list[str]) -> int:
    """One cell in a process of its own: ``RUNNER PROFILE IDLE_S RESULT_JSON``."""

    def _term(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    ownership.adopt()
    runner, profile, idle_s, result = argv
    try:
        res = measure(runner, profile, float(idle_s))
    except (CellFailed, ValueError, RuntimeError) as e:
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 1
    Path(result).write_text(json.dumps(res, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(_lane(sys.argv[1:]))
