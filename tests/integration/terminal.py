"""What a test that plays a user at a terminal needs."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest


def sigint_default() -> None:
    """``preexec_fn`` for a child that must react to Ctrl-C as a terminal's job does.

    A shell script that starts ``make test &`` hands its children SIGINT "ignored", and
    Python then keeps ignoring it (no KeyboardInterrupt); a terminal's job has the default.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_job(cmd: list[str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """``cmd`` in its own session, as a terminal's job (SIGINT at its default), stdout
    discarded, stderr to ``log``."""
    with log.open("wb") as f:
        return subprocess.Popen(
            cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=f, start_new_session=True,
            preexec_fn=sigint_default,
        )  # fmt: skip


def wait_for(
    cond: Callable[[], object], within_s: float, what: str, proc: subprocess.Popen[bytes]
) -> None:
    """Poll ``cond`` every 0.1 s until it holds; fail if ``proc`` (the harness the test
    started) exits first, or after ``within_s``."""
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        if cond():
            return
        if proc.poll() is not None:
            pytest.fail(f"{proc.args!r} exited ({proc.returncode}) before {what}")
        time.sleep(0.1)
    pytest.fail(f"not seen within {within_s:.0f} s: {what}")
