"""The overhead probe's pipeline (``runners/kfp/overhead.py``), not the benchmarked one.

Runs in ``.venvs/kfp`` only (imports kfp). ``build(tasks, fibo_n)`` is a ``@dsl.pipeline``
of ``tasks`` sequential tasks of one lightweight component, ``fibo_task``, each computing
``fibo(fibo_n)`` naively and returning it (KFP stores it as the task's output parameter
``Output`` in its ``executor_output.json``). Task ``i`` runs after task ``i - 1`` through
``.after()`` (an ordering dependency that passes no data). Caching is off on every task
(each run must execute). The component installs nothing (``install_kfp_package=False``),
as the benchmarked pipeline's components: the runner's interpreter, or the step image
(``ORCHBENCH_KFP_BASE_IMAGE``, as ``pipeline.py`` reads it), already has kfp.

The pipeline takes the benchmarked pipeline's two parameters, ``logical_date`` and
``min_accuracy``, and uses neither: so the runner's own driver (``python -m runners.kfp
run``, which passes both) submits it unchanged.

    python -m runners.kfp.overhead_pipeline --tasks 40 --fibo-n 10 --out SPEC.yaml

No ``from __future__ import annotations``: KFP reads the component's annotations as types.
"""

import argparse
import os
import sys
from pathlib import Path

from kfp import compiler, dsl

from runners.kfp.__main__ import BASE_IMAGE_ENV

PIPELINE_NAME = "orchbench-overhead"
BASE_IMAGE = os.environ.get(BASE_IMAGE_ENV) or "python:3.11-slim"


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def fibo_task(n: int) -> int:
    def fibo(k: int) -> int:
        return k if k <= 1 else fibo(k - 1) + fibo(k - 2)

    return fibo(n)


def build(tasks: int, fibo_n: int):  # KFP's decorator returns its own Pipeline type
    """The probe pipeline: ``tasks`` sequential ``fibo_task(n=fibo_n)``."""

    @dsl.pipeline(name=PIPELINE_NAME)
    def overhead(logical_date: str, min_accuracy: float = 0.0) -> None:
        previous = None
        for _ in range(tasks):
            task = fibo_task(n=fibo_n).set_caching_options(False)
            if previous is not None:
                task.after(previous)
            previous = task

    return overhead


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m runners.kfp.overhead_pipeline")
    ap.add_argument("--tasks", type=int, required=True)
    ap.add_argument("--fibo-n", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(build(args.tasks, args.fibo_n), str(args.out))
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
