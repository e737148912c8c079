"""The scale pipelines (``orchbench.scale``) as KFP v2 pipelines, and their local driver.

Runs in ``.venvs/kfp`` only (imports kfp). Two pipelines, each task the synthetic
``orchbench.scale`` task (``run_task_from_env``), caching off (every run must execute):

- ``scale-fanout``: ``dsl.ParallelFor(items)`` over a pipeline parameter, one
  ``scale-task`` per item, as users fan out over a list;
- ``scale-daily``: one ``scale-task`` for a ``logical_date`` (backfill and concurrent
  submit one run of it per date).

    python -m runners.kfp.scale_pipeline compile --out-dir build/kfp
    python -m runners.kfp.scale_pipeline run --spec S --pipeline-root R --logical-date D \
        [--items N] [--docker --label K=V --mount DIR --env NAME [--mem-limit B]]
    python -m runners.kfp.scale_pipeline parallelism [--docker ...]

``run`` is one submission to ``kfp.local`` (``SubprocessRunner(use_venv=False)``, caching
off); with ``--docker``, ``DockerRunner`` as the kfp-docker runner's driver builds it
(``runners.kfp.__main__._docker_runner``: the same flags), on the daemon at
``DOCKER_HOST``. ``compile`` with ``ORCHBENCH_KFP_BASE_IMAGE`` set gives the component that
image (kfp-docker: the step image), as the runner's own compile does. ``parallelism``
prints, as JSON, the ParallelFor worker count kfp.local's ``ParallelExecutor`` uses by
default (read from kfp.local itself) and, with ``--docker``, the ``container_run_args`` of
the DockerRunner the driver would build from the same flags.
No ``from __future__ import annotations``: KFP reads the components' annotations as types.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from kfp import compiler, dsl

from runners.kfp.__main__ import BASE_IMAGE_ENV, _docker_runner

# unused by SubprocessRunner; kfp-docker compiles with the step image (BASE_IMAGE_ENV)
BASE_IMAGE = os.environ.get(BASE_IMAGE_ENV) or "python:3.11-slim"
SPECS = {"fanout": "scale_fanout.yaml", "daily": "scale_daily.yaml"}


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def scale_task(item: int, logical_date: str) -> None:
    from orchbench.scale import run_task_from_env

    run_task_from_env(item, logical_date)


@dsl.pipeline(name="scale-fanout")
def scale_fanout(items: list, logical_date: str) -> None:
    with dsl.ParallelFor(items) as item:
        scale_task(item=item, logical_date=logical_date).set_caching_options(False)


@dsl.pipeline(name="scale-daily")
def scale_daily(logical_date: str) -> None:
    scale_task(item=0, logical_date=logical_date).set_caching_options(False)


def compile_specs(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for key, fn in (("fanout", scale_fanout), ("daily", scale_daily)):
        path = out_dir / SPECS[key]
        compiler.Compiler().compile(fn, str(path))
        paths.append(path)
    return paths


def _run(args: argparse.Namespace) -> int:
    import logging

    from kfp import components, local

    logging.basicConfig(level=logging.INFO, stream=sys.stdout)
    root = Path(args.pipeline_root).resolve()
    (root / ".workspace").mkdir(parents=True, exist_ok=True)
    local.init(
        runner=_docker_runner(args) if args.docker else local.SubprocessRunner(use_venv=False),
        pipeline_root=str(root),
        workspace_root=str(root / ".workspace"),
        raise_on_error=True,
        enable_caching=False,
    )
    pipeline = components.load_component_from_file(args.spec)
    arguments: dict[str, object] = {"logical_date": args.logical_date}
    if args.items is not None:
        arguments["items"] = list(range(args.items))
    try:
        pipeline(**arguments)
    except RuntimeError as e:
        print(f"scale pipeline FAILURE: {e}", flush=True)
        return 1
    print("scale pipeline SUCCESS", flush=True)
    return 0


def _parallelism(args: argparse.Namespace) -> int:
    from kfp.local.orchestrator.enhanced_dag_orchestrator import ParallelExecutor

    ex = ParallelExecutor()
    out: dict[str, object] = {"max_workers": ex.max_workers, "cap": ex.conservative_max}
    if args.docker:
        run_args = dict(_docker_runner(args).container_run_args)
        # the variables passed (names: the driver passes those of its environment)
        run_args["environment"] = sorted(args.env)
        out["docker_run_args"] = run_args
    print(json.dumps(out, default=str))
    return 0


def _docker_flags(p: argparse.ArgumentParser) -> None:
    """The kfp-docker driver's DockerRunner flags (``python -m runners.kfp run``)."""
    p.add_argument("--docker", action="store_true", help="kfp.local.DockerRunner")
    p.add_argument("--mount", action="append", default=[], help="--docker: host dir to mount")
    p.add_argument("--env", action="append", default=[], help="--docker: variable to pass")
    p.add_argument("--label", action="append", default=[], help="--docker: K=V label")
    p.add_argument("--mem-limit", type=int, default=None, help="--docker: bytes per container")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m runners.kfp.scale_pipeline", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compile")
    c.add_argument("--out-dir", required=True, type=Path)
    r = sub.add_parser("run")
    r.add_argument("--spec", required=True)
    r.add_argument("--pipeline-root", required=True)
    r.add_argument("--logical-date", required=True)
    r.add_argument("--items", type=int, default=None, help="fan-out width (scale-fanout)")
    _docker_flags(r)
    _docker_flags(sub.add_parser("parallelism"))
    args = ap.parse_args(argv)
    if args.cmd == "compile":
        for p in compile_specs(args.out_dir):
            print(p)
        return 0
    if args.cmd == "parallelism":
        return _parallelism(args)
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())
