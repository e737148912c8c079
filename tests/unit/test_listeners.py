"""The loopback check of the integration tests, on sockets this test opens itself."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.listeners import (
    assert_loopback_only,
    assert_loopback_only_throughout,
    is_loopback,
    listeners,
    public_listeners,
    started_processes,
)


@contextmanager
def bound(family: socket.AddressFamily, kind: socket.SocketKind, host: str) -> Iterator[int]:
    """A socket bound to ``host`` (listening, for TCP); yields its port."""
    with socket.socket(family, kind) as s:
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            s.bind((host, 0))
        except OSError as e:  # e.g. no IPv6 in this container
            pytest.skip(f"cannot bind {host}: {e}")
        if kind == socket.SOCK_STREAM:
            s.listen()
        yield s.getsockname()[1]


def _ports(found: list) -> set[tuple[str, str, int]]:
    return {(x.protocol, x.address, x.port) for x in found}


CASES = [
    (socket.AF_INET, socket.SOCK_STREAM, "0.0.0.0", "tcp", True),
    (socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1", "tcp", False),
    (socket.AF_INET, socket.SOCK_DGRAM, "0.0.0.0", "udp", True),
    (socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1", "udp", False),
    (socket.AF_INET6, socket.SOCK_STREAM, "::", "tcp6", True),
    (socket.AF_INET6, socket.SOCK_STREAM, "::1", "tcp6", False),
    (socket.AF_INET6, socket.SOCK_DGRAM, "::", "udp6", True),
    (socket.AF_INET6, socket.SOCK_DGRAM, "::1", "udp6", False),
]


@pytest.mark.parametrize(
    ("family", "kind", "host", "protocol", "public"), CASES, ids=[f"{c[3]}-{c[2]}" for c in CASES]
)
def test_a_socket_of_this_process_is_flagged_unless_on_loopback(
    family: socket.AddressFamily, kind: socket.SocketKind, host: str, protocol: str, public: bool
) -> None:
    with bound(family, kind, host) as port:
        seen = _ports(listeners(started_processes()))
        flagged = _ports(public_listeners())
        assert (protocol, host, port) in seen  # found at all: the parsing works
        assert ((protocol, host, port) in flagged) is public
        if public:
            with pytest.raises(AssertionError, match=f"{protocol} {host} port {port}"):
                assert_loopback_only()


def test_a_connected_udp_socket_is_no_listener() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(peer.getsockname())
            port = s.getsockname()[1]
            assert port not in {x.port for x in listeners(started_processes())}


CHILD = (
    "import os, socket, time\n"
    "s = socket.socket(); s.bind(('0.0.0.0', 0)); s.listen()\n"
    "print(os.getpid(), s.getsockname()[1], flush=True); time.sleep(60)\n"
)
# starts CHILD in a session of its own and exits at once: CHILD is re-parented
DETACH = (
    "import subprocess, sys\n"
    "c = subprocess.Popen([sys.executable, '-c', sys.argv[1], sys.argv[2]],\n"
    "                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,\n"
    "                     start_new_session=True)\n"
    "print(c.stdout.readline().strip(), flush=True)\n"
)


def test_a_descendant_listening_publicly_is_flagged(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        pid, port = map(int, child.stdout.readline().split())
        assert pid in started_processes()
        assert ("tcp", "0.0.0.0", port) in _ports(public_listeners())
    finally:
        child.kill()
        child.wait()
    assert port not in {x.port for x in public_listeners()}


def test_a_re_parented_member_of_a_descendants_session_is_flagged() -> None:
    # the session leader (a descendant) stays; its grandchild is re-parented when the
    # subshell between them exits, as Airflow's task processes and containerd's shims are
    leader = subprocess.Popen(
        ["sh", "-c", f"( {sys.executable} -c \"$0\" & ); exec sleep 60", CHILD],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        assert leader.stdout is not None
        pid, port = map(int, leader.stdout.readline().split())
        assert _parent(pid) != leader.pid
        assert pid in started_processes()
        assert ("tcp", "0.0.0.0", port) in _ports(public_listeners())
    finally:
        os.killpg(leader.pid, signal.SIGKILL)
        leader.wait()


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_a_detached_process_is_found_through_a_needle(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", DETACH, CHILD, str(tmp_path)],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    pid, port = map(int, out.stdout.split())
    try:
        assert pid not in started_processes()
        assert port not in {x.port for x in public_listeners()}
        assert pid in started_processes(str(tmp_path))
        assert ("tcp", "0.0.0.0", port) in _ports(public_listeners(str(tmp_path)))
    finally:
        os.kill(pid, signal.SIGKILL)


def test_throughout_fails_on_a_listener_that_lived_only_during_the_block() -> None:
    with (
        pytest.raises(AssertionError, match="beyond loopback"),
        assert_loopback_only_throughout(every_s=0.1),
        bound(socket.AF_INET, socket.SOCK_STREAM, "0.0.0.0"),
    ):
        time.sleep(0.5)  # samples fall inside
    with (
        assert_loopback_only_throughout(every_s=0.1),
        bound(socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1"),
    ):
        time.sleep(0.5)


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("::ffff:10.0.0.1", False),
    ],
)
def test_loopback_is_127_slash_8_and_colon_colon_1(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback
