"""The syslog sink a cron daemon may log to (``orchbench.crond.syslog``) and the private
``/dev`` that binds it over ``/dev/log`` (``daemon._private_dev``)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from orchbench.crond.daemon import _private_dev
from orchbench.crond.syslog import SyslogSink


def test_the_sink_writes_each_datagram_with_its_receive_time(tmp_path: Path) -> None:
    sink = SyslogSink(tmp_path / "log.sock", tmp_path / "syslog.log")
    sink.start()
    try:
        before = time.time_ns()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(b"<78>Dec  6 14:12:25 CRON[29]: (root) CMD ([30] true)", str(sink.socket))
        deadline = time.monotonic() + 10
        while not (sink.out.is_file() and sink.out.read_text()):
            assert time.monotonic() < deadline, "the sink wrote nothing"
            time.sleep(0.02)
    finally:
        sink.stop()
    stamp, message = sink.out.read_text().splitlines()[0].split(" ", 1)
    assert before <= int(stamp) <= time.time_ns()
    assert message == "<78>Dec  6 14:12:25 CRON[29]: (root) CMD ([30] true)"
    assert sink.proc is None


def test_private_dev_binds_the_hosts_devices_first_and_the_socket_as_dev_log(
    tmp_path: Path,
) -> None:
    cmds = _private_dev(tmp_path / "hostdev", tmp_path / "log.sock")
    assert cmds[0] == f"mount --rbind /dev {tmp_path / 'hostdev'}"
    assert cmds[1].startswith("mount -t tmpfs ") and cmds[1].endswith(" /dev")
    assert any(c.endswith(f"{tmp_path / 'hostdev'}/null /dev/null") for c in cmds)
    assert cmds[-1] == f"touch /dev/log && mount --bind {tmp_path / 'log.sock'} /dev/log"
    assert (tmp_path / "hostdev").is_dir()
