"""Run one step attempt from a shell.

``python -m orchbench.step STEP --date D [--in NAME=PATH] [--out NAME=PATH]``

This is what script-based runners (cron) call. The world and journal come from the
``ORCHBENCH_*`` environment variables. Exit status 0 on success, ``EX_DATAERR`` (65,
sysexits.h) when the step raised an error a retry cannot fix (``ValidationFailed``,
``CanaryCheckFailed``: the data or the model is bad), 1 on any other step failure
(traceback on stderr), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import sys
import traceback

from orchbench.workflow.spec import STEP_NAMES

EX_DATAERR = 65  # sysexits.h: the input data was incorrect; retrying cannot fix it


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"{flag} takes NAME=PATH, got {item!r}")
        out[name] = path
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m orchbench.step")
    ap.add_argument("step", choices=STEP_NAMES)
    ap.add_argument("--date", required=True, help="logical date YYYY-MM-DD")
    ap.add_argument("--in", dest="inputs", action="append", default=[], metavar="NAME=PATH")
    ap.add_argument("--out", dest="outputs", action="append", default=[], metavar="NAME=PATH")
    ap.add_argument(
        "--native",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="what the caller knows about this attempt (e.g. its own try number)",
    )
    args = ap.parse_args(argv)
    from orchbench.workflow.steps import CanaryCheckFailed, ValidationFailed
    from orchbench.wrapper import run_step

    try:
        run_step(
            args.step,
            args.date,
            _pairs(args.inputs, "--in"),
            _pairs(args.outputs, "--out"),
            native=_pairs(args.native, "--native"),
        )
    except (ValidationFailed, CanaryCheckFailed):
        traceback.print_exc()
        return EX_DATAERR
    except Exception:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
