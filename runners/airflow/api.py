"""A small client for Airflow's public REST API (v2), standard library only.

The stack runs with the simple auth manager and ``SIMPLE_AUTH_MANAGER_ALL_ADMINS``, so the
API answers without a token; pointing the runner at a remote deployment would add one here.
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


class AirflowAPI:
    def __init__(self, base: str, timeout: float = 30.0) -> None:
        self.base = base.rstrip("/")
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raise APIError(method, path, e.code, e.read().decode(errors="replace")) from None
        except (urllib.error.URLError, OSError) as e:
            raise APIError(method, path, None, str(e)) from None
        return json.loads(raw) if raw else None

    def get(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        return self.request("GET", f"{path}?{query}" if query else path)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body)

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
