"""One conformance bench lane: ``python -m tests.conformance.lane [--setup MOD:FN]... --
BENCH-ARGS`` calls each setup function (a test's own fault kind registers itself there),
then runs ``orchbench bench BENCH-ARGS`` in this process, so the bench knows what the
setups registered."""

from __future__ import annotations

import sys

from tests.conformance import scenarios


def main(argv: list[str]) -> int:
    cut = argv.index("--")
    setups, bench_args = argv[:cut], argv[cut + 1 :]
    for ref in setups[1::2]:  # "--setup", "mod:fn", ...
        scenarios.call(ref)
    from orchbench.cli import main as orchbench

    return orchbench(["bench", *bench_args])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
