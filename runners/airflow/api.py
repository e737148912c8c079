"""A small client for Airflow's public REST API (v2), standard library only.

The harness's own stack runs with the simple auth manager and
``SIMPLE_AUTH_MANAGER_ALL_ADMINS``, so the API answers without a token. For a remote
deployment (``--airflow-url http://user:password@host:port``) the client logs in as Airflow 3
clients do: ``POST /auth/token`` with the user name and password returns a JWT, sent as a
bearer token, and fetched again when the API answers 401 (it expired).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any


class APIError(RuntimeError):
    def __init__(self, method: str, path: str, status: int | None, detail: str) -> None:
        super().__init__(f"{method} {path}: {status or 'no answer'} {detail[:300]}")
        self.status = status


def q(part: str) -> str:
    """Quote one path segment (dag_run_ids contain ':' and '+')."""
    return urllib.parse.quote(part, safe="")


def split_url(url: str) -> tuple[str, tuple[str, str] | None]:
    """``http://user:password@host:port/prefix`` -> (``http://host:port/prefix``, credentials)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if parts.port:
        netloc += f":{parts.port}"
    root = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    auth = None
    if parts.username is not None:
        auth = (urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
    return root, auth


class AirflowAPI:
    def __init__(
        self, base: str, timeout: float = 30.0, auth: tuple[str, str] | None = None
    ) -> None:
        """``base`` ends in ``/api/v2``; ``auth`` (user, password) logs in at ``/auth/token``."""
        self.base = base.rstrip("/")
        self.timeout = timeout
        self.auth = auth
        self._token: str | None = None

    def _send(self, method: str, url: str, path: str, body: Any, auth: bool) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth and self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raise APIError(method, path, e.code, e.read().decode(errors="replace")) from None
        except (urllib.error.URLError, OSError) as e:
            raise APIError(method, path, None, str(e)) from None
        return json.loads(raw) if raw else None

    def login(self) -> None:
        """Fetch a JWT for ``auth`` (``POST /auth/token``, beside ``/api/v2``)."""
        assert self.auth is not None
        root = self.base.removesuffix("/api/v2")
        user, password = self.auth
        res = self._send(
            "POST", root + "/auth/token", "/auth/token",
            {"username": user, "password": password}, auth=False,
        )  # fmt: skip
        self._token = res["access_token"]

    def request(self, method: str, path: str, body: Any = None) -> Any:
        if self.auth is not None and self._token is None:
            self.login()
        try:
            return self._send(method, self.base + path, path, body, auth=True)
        except APIError as e:
            if e.status != 401 or self.auth is None:
                raise
        self.login()  # the token expired
        return self._send(method, self.base + path, path, body, auth=True)

    def get(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        return self.request("GET", f"{path}?{query}" if query else path)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body)

    def put(self, path: str, body: Any = None) -> Any:
        return self.request("PUT", path, body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def paged(self, path: str, key: str, page: int = 100, **params: Any) -> Iterator[Any]:
        """Every item of a paginated collection (``limit``/``offset``)."""
        offset = 0
        while True:
            res = self.get(path, limit=page, offset=offset, **params)
            items = res.get(key) or []
            yield from items
            offset += len(items)
            if not items or offset >= int(res.get("total_entries") or 0):
                return
