"""Orchestration overhead probe: N sequential trivial steps (windmill-benchmarks' shapes).

``runners/zenml/overhead.py`` runs it, one process per pipeline run, on the store each
profile deploys (the runner's own environment), instead of the benchmarked pipeline
(``pipeline.py``). Not part of the benchmarked pipeline. Runs in ``.venvs/zenml``.

One static ``@pipeline`` of ``tasks`` invocations of one ``@step``, each computing
``fibo(fibo_n)`` and returning it. No data passes between them: step ``i`` runs after step
``i - 1`` through ``after="task_<i-1>"`` (ZenML's non-data dependency by invocation id,
https://docs.zenml.io/how-to/build-pipelines/control-execution-order-of-steps); the
invocation ids ``task_00`` .. are the step runs' names, so the order is read back from
ZenML, not inferred from timestamps. Each return value is ZenML's output artifact
``output`` (the built-in materializer writes it to the default stack's local artifact
store and registers an artifact version), where the probe reads it back.

**Caching is off** (``@pipeline(enable_cache=False)``, ZenML's documented switch,
https://docs.zenml.io/concepts/steps_and_pipelines/advanced_features.md "Caching"):
with ZenML's default (on) every run after the first would be served from the cache (same
code, same parameters) and run no step. No retry is configured (ZenML's default), so a
step run's ``version`` is 1 and a retried attempt would be a second step run.

The runner's pipeline is dynamic (``@pipeline(dynamic=True)``, for its deploy gate); the
probe is static, ZenML's ordinary form: on the local orchestrator both run each step
inline in the pipeline's process (``LocalOrchestrator.submit_pipeline`` loops over the
steps and ``StepLauncher._run_step_in_current_thread``; a dynamic pipeline's steps run
inline too unless given an isolated runtime).

    python -m runners.zenml.overhead_pipeline run --tasks N --fibo-n K --run-name NAME
    python -m runners.zenml.overhead_pipeline read RUN_ID...   # one JSON line per run
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from zenml import pipeline, step

PIPELINE_NAME = "orchbench_overhead"
OUTPUT = "output"  # ZenML's name for a step's single unnamed output
REPO = Path(__file__).resolve().parents[2]


def fibo(n: int) -> int:
    return n if n <= 1 else fibo(n - 1) + fibo(n - 2)


def task_name(i: int) -> str:
    return f"task_{i:02d}"


@step
def fibo_step(n: int) -> int:
    return fibo(n)


@pipeline(name=PIPELINE_NAME, enable_cache=False)
def overhead_probe(tasks: int, fibo_n: int) -> None:
    for i in range(tasks):
        fibo_step(fibo_n, id=task_name(i), after=task_name(i - 1) if i else None)


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def _load(step_run: Any) -> Any:
    """The step's output artifact's value as ZenML loads it back; None when it has none."""
    versions = step_run.outputs.get(OUTPUT) or []
    return [av.load() for av in versions] if len(versions) != 1 else versions[0].load()


def read(run_id: str) -> dict[str, Any]:
    """One pipeline run's records as plain data: the run's status and times, and every
    step run ZenML lists for it (retried attempts included) with its status, try
    (``version``), ``start_time``, ``end_time``, ``created`` and its loaded output."""
    from zenml.client import Client

    client = Client()
    run = client.get_pipeline_run(run_id)
    steps = client.list_run_steps(pipeline_run_id=run.id, size=1000, hydrate=True).items
    return {
        "run_id": str(run.id),
        "name": run.name,
        "status": str(run.status.value),
        "created": _iso(run.created),
        "start_time": _iso(run.start_time),
        "end_time": _iso(run.end_time),
        "steps": [
            {
                "name": s.name,
                "status": str(s.status.value),
                "version": s.version,
                "created": _iso(s.created),
                "start_time": _iso(s.start_time),
                "end_time": _iso(s.end_time),
                "value": _load(s) if s.status.value == "completed" else None,
            }
            for s in steps
        ],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m runners.zenml.overhead_pipeline", description=__doc__
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--tasks", type=int, required=True)
    r.add_argument("--fibo-n", type=int, required=True)
    r.add_argument("--run-name", required=True)
    rd = sub.add_parser("read")
    rd.add_argument("run_ids", nargs="+")
    args = ap.parse_args(argv)
    from zenml.utils import source_utils

    # as runners.zenml's run: the checkout is the source root, no .zen marker anywhere
    source_utils.set_custom_source_root(str(REPO))
    if args.cmd == "read":
        for run_id in args.run_ids:
            print(json.dumps(read(run_id)), flush=True)
        return 0
    from zenml.client import Client

    # the pipeline as its module defines it, not as __main__: its steps' source resolves
    from runners.zenml.overhead_pipeline import overhead_probe as probe

    run = probe.with_options(run_name=args.run_name)(tasks=args.tasks, fibo_n=args.fibo_n)
    status = str(Client().get_pipeline_run(run.id).status.value)
    print(json.dumps({"run_id": str(run.id), "status": status}), flush=True)
    return 0 if status == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
