"""The harness's Prefect REST client retries what Prefect's own client retries, and only that.

The server here is a stdlib HTTP handler answering scripted status codes: it stands in for
nothing of Prefect's behaviour, it only feeds our client the statuses under test.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest

from runners.prefect.server import Api, ApiError


class _Scripted(http.server.BaseHTTPRequestHandler):
    script: ClassVar[list[int]] = []
    seen: ClassVar[list[str]] = []

    def _answer(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        type(self).seen.append(self.command)
        code = type(self).script.pop(0) if type(self).script else 200
        body = json.dumps({"ok": code == 200}).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Scripted.script, _Scripted.seen = [], []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/api"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_locked_database_503_is_retried_until_it_clears(server: str) -> None:
    _Scripted.script = [503, 503, 429]
    got = Api(server, backoff_s=0.001).post("deployments/x/create_flow_run", {"a": 1})
    assert got == {"ok": True}
    assert _Scripted.seen == ["POST"] * 4


def test_retries_are_bounded_and_the_last_error_is_raised(server: str) -> None:
    _Scripted.script = [503] * 10
    with pytest.raises(ApiError, match="HTTP 503"):
        Api(server, retries=2, backoff_s=0.001).get("flow_runs/x")
    assert len(_Scripted.seen) == 3


def test_a_client_error_is_not_retried(server: str) -> None:
    _Scripted.script = [404, 200]
    with pytest.raises(ApiError, match="HTTP 404"):
        Api(server, backoff_s=0.001).get("flow_runs/missing")
    assert len(_Scripted.seen) == 1


def test_health_is_asked_once(server: str) -> None:
    _Scripted.script = [503, 200]
    assert Api(server, backoff_s=0.001).healthy() is False
    assert len(_Scripted.seen) == 1
