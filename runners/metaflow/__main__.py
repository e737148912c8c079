"""``python -m runners.metaflow collect --out FILE``: Metaflow's records of the flow's runs
in the datastore ``METAFLOW_DATASTORE_SYSROOT_LOCAL`` names, as JSON lines (``client``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from runners.metaflow import client


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m runners.metaflow")
    sub = parser.add_subparsers(dest="command", required=True)
    collect = sub.add_parser("collect", help="dump the Client API's records as JSON lines")
    collect.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "collect":
        client.write(args.out)


if __name__ == "__main__":
    main()
