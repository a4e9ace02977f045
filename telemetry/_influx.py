"""A small InfluxDB client over the v1 HTTP API (`/write`, `/query`, `/ping`), on the stdlib.

InfluxDB 1.x, 2.x (its v1 compatibility API) and 3.x all serve these. A token goes in
`Authorization: Token ...`; a user and password go as HTTP Basic. Errors are translated here:
unreachable, timed out, 5xx, 401/403 and an unknown database are `InfluxUnavailable` (the data
is kept and sent again later); 400 is `InfluxRejected`.
"""

from __future__ import annotations

import base64
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from telemetry._errors import InfluxRejected, InfluxUnavailable
from willay.config import Settings
from willay.errors import ConfigurationError

__all__ = ["InfluxClient", "quote_ident", "quote_string"]

log = logging.getLogger(__name__)


def quote_ident(name: str) -> str:
    """An InfluxQL identifier in double quotes."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_string(value: str) -> str:
    """An InfluxQL string literal in single quotes."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class InfluxClient:
    """One InfluxDB database over HTTP; every call has a timeout and raises one family."""

    def __init__(
        self,
        url: str,
        *,
        database: str,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self.timeout = timeout
        self._headers = {"User-Agent": "willay-telemetry"}
        if token:
            self._headers["Authorization"] = f"Token {token}"
        elif username:
            pair = f"{username}:{password or ''}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()

    @classmethod
    def from_settings(cls, settings: Settings) -> InfluxClient:
        """The client of `WILLAY_INFLUX_URL` and its database and credentials."""
        if settings.influx_url is None:
            raise ConfigurationError("WILLAY_INFLUX_URL is not set")
        secret = settings.influx_password
        return cls(
            settings.influx_url,
            database=settings.influx_database,
            token=settings.influx_token.get_secret_value() if settings.influx_token else None,
            username=settings.influx_username,
            password=secret.get_secret_value() if secret else None,
            timeout=settings.influx_timeout,
        )

    def __str__(self) -> str:
        return f"{self.url} database {self.database}"

    def _call(
        self, method: str, path: str, *, params: dict[str, str], body: bytes | None = None
    ) -> bytes:
        request = urllib.request.Request(
            f"{self.url}{path}?{urlencode(params)}",
            data=body,
            method=method,
            headers=self._headers
            | ({"Content-Type": "text/plain; charset=utf-8"} if body is not None else {}),
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer: bytes = response.read()
                return answer
        except urllib.error.HTTPError as exc:
            detail = _error_detail(exc)
            if exc.code == 400:
                raise InfluxRejected(f"InfluxDB refused it: {detail}") from exc
            raise InfluxUnavailable(f"InfluxDB answered {exc.code}: {detail}") from exc
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise InfluxUnavailable(f"InfluxDB at {self.url} unreachable: {reason}") from exc

    def ping(self) -> None:
        """Return if InfluxDB answers, else raise `InfluxUnavailable`."""
        self._call("GET", "/ping", params={})

    def write(self, lines: Sequence[str]) -> None:
        """Write points in line protocol (nanosecond timestamps) in one request."""
        if lines:
            body = "\n".join(lines).encode()
            self._call("POST", "/write", params={"db": self.database, "precision": "ns"}, body=body)

    def query(self, statement: str) -> list[dict[str, Any]]:
        """The series of one InfluxQL SELECT/SHOW statement, times in nanoseconds."""
        params = {"db": self.database, "q": statement, "epoch": "ns"}
        raw = self._call("GET", "/query", params=params)
        results = json.loads(raw).get("results", [{}])
        if results and "error" in results[0]:
            raise InfluxRejected(f"query failed: {results[0]['error']}")
        return results[0].get("series", []) if results else []

    def create_database(self) -> bool:
        """`CREATE DATABASE` where the server allows it (1.x); False where it does not."""
        try:
            raw = self._call(
                "POST", "/query", params={"q": f"CREATE DATABASE {quote_ident(self.database)}"}
            )
        except (InfluxRejected, InfluxUnavailable) as exc:
            log.info("database %s not created (%s); assuming it exists", self.database, exc)
            return False
        results = json.loads(raw).get("results", [{}])
        if results and "error" in results[0]:
            log.info("database %s not created: %s", self.database, results[0]["error"])
            return False
        return True

    def drop_database(self) -> None:
        """`DROP DATABASE`, for benchmarks and tests that made their own."""
        self._call("POST", "/query", params={"q": f"DROP DATABASE {quote_ident(self.database)}"})


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = exc.read().decode("utf-8", "replace")
        return str(json.loads(body).get("error", body)).strip()
    except (ValueError, OSError, AttributeError):
        return exc.reason if isinstance(exc.reason, str) else str(exc)
