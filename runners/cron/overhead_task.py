"""The cron overhead probe's task (``overhead.py``): one job's work, standalone.

``python -m runners.cron.overhead_task NAME [--date D --native try=N ...]`` computes
``fibo($PROBE_FIBO_N)`` naively and prints ``NAME DATE: returned VALUE``. The naive job
script runs it directly; the hardened one through ``lib.sh``'s ``run_step``
(``STEP_MODULE``), which passes the step program's usual arguments. It imports nothing
of orchbench, so a job costs one interpreter start and the Fibonacci, as a task does
in windmill-benchmarks.
"""

from __future__ import annotations

import os
import sys


def fibo(n: int) -> int:
    """windmill-benchmarks' task body (a copy of ``orchbench.overhead.fibo``)."""
    return n if n <= 1 else fibo(n - 1) + fibo(n - 2)


def main(argv: list[str]) -> int:
    name = argv[0]
    date = argv[argv.index("--date") + 1] if "--date" in argv else os.environ["LOGICAL_DATE"]
    print(f"{name} {date}: returned {fibo(int(os.environ['PROBE_FIBO_N']))}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
