"""What a test that plays a user at a terminal needs."""

from __future__ import annotations

import signal


def sigint_default() -> None:
    """``preexec_fn`` for a child that must react to Ctrl-C as a terminal's job does.

    A shell script that starts ``make test &`` hands its children SIGINT "ignored", and
    Python then keeps ignoring it (no KeyboardInterrupt); a terminal's job has the default.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
