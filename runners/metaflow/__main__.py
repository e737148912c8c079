"""``python -m runners.metaflow collect --out FILE``: Metaflow's records of the flow's runs
in the datastore ``METAFLOW_DATASTORE_SYSROOT_LOCAL`` names, as JSON lines (``client``).
``python -m runners.metaflow probe-runs FLOW RUN_ID...``: the overhead probe's runs, one
JSON line each (``client.probe_runs``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from runners.metaflow import client


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m runners.metaflow")
    sub = parser.add_subparsers(dest="command", required=True)
    collect = sub.add_parser("collect", help="dump the Client API's records as JSON lines")
    collect.add_argument("--out", type=Path, required=True)
    probe = sub.add_parser("probe-runs", help="the overhead probe's runs as JSON lines")
    probe.add_argument("flow")
    probe.add_argument("run_ids", nargs="+")
    args = parser.parse_args()
    if args.command == "collect":
        client.write(args.out)
    elif args.command == "probe-runs":
        for record in client.probe_runs(args.flow, args.run_ids):
            print(json.dumps(record, default=str))


if __name__ == "__main__":
    main()
