"""``orchbench.procs.free_port``: a server's port no outgoing connection can take first."""

from __future__ import annotations

import socket

import pytest

from orchbench import procs


def test_free_port_is_bindable_and_outside_the_ephemeral_range() -> None:
    ephemeral = procs._ephemeral()
    for _ in range(20):
        port = procs.free_port()
        assert port in procs.SERVER_PORTS and port not in ephemeral
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", port))


def test_a_taken_port_is_never_given(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        taken = held.getsockname()[1]
        held.listen()
        monkeypatch.setattr(procs, "SERVER_PORTS", range(taken, taken + 1))
        monkeypatch.setattr(procs, "_ephemeral", lambda: range(0))
        monkeypatch.setattr(procs.random, "sample", lambda r, k: list(r))
        assert procs.free_port() != taken  # the kernel's pick instead
