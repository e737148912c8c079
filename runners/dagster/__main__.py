"""``python -m runners.dagster collect --alerts DIR``: the native trace of the instance at
``DAGSTER_HOME`` as JSON lines on stdout (``native.py``); ``python -m runners.dagster
probe-runs RUN_ID...``: the overhead probe's runs, one JSON line each
(``native.probe_runs``). Runs in ``.venvs/dagster``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runners.dagster")
    sub = parser.add_subparsers(dest="command", required=True)
    col = sub.add_parser("collect", help="print the native trace of DAGSTER_HOME's instance")
    col.add_argument("--alerts", type=Path, required=True)
    probe = sub.add_parser("probe-runs", help="print the overhead probe's runs' events")
    probe.add_argument("run_ids", nargs="+")
    args = parser.parse_args(argv)
    from runners.dagster import native

    if args.command == "probe-runs":
        for r in native.probe_runs(args.run_ids):
            sys.stdout.write(json.dumps(r, default=repr) + "\n")
        return 0
    for r in native.collect(args.alerts):
        sys.stdout.write(json.dumps(r) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
