"""Guards for incoming requests: callback authentication, body caps and a body-read deadline.

Africa's Talking does not sign callbacks, so the callback URL carries `?token=<secret>`; it is
compared in constant time, and the caller's address is checked against the allowed networks.
`RequestGuard`, a pure ASGI middleware, does this (once: routes do not check again) for the
routes tagged `CALLBACK_TAG`, before a byte of the body is read, then caps
the body of every route (`Content-Length` refused at once, streamed bytes counted) and gives up
on a body that does not arrive in time. Rejections close the connection, are logged (never with
the token) and carry the app's one error shape, `{"error": <name>, "detail": <reason>}`.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import re
from collections.abc import Mapping, Sequence
from urllib.parse import unquote_plus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from willay.config import Settings
from willay.errors import (
    BadRequest,
    Forbidden,
    PayloadTooLarge,
    RequestTimeout,
    WillayError,
)

__all__ = [
    "CALLBACK_TAG",
    "Answer",
    "RequestGuard",
    "RequestRules",
    "callback_refusal",
    "error_body",
    "refusal_answer",
]

log = logging.getLogger(__name__)

CALLBACK_TAG = "provider callback"
"""Marks a router's routes as provider callbacks: `RequestGuard` alone authenticates them."""


def error_body(name: str, detail: str) -> bytes:
    """The one error shape every HTTP error has, as JSON bytes."""
    return json.dumps({"error": name, "detail": detail}).encode()


def callback_refusal(client: str, *, query_string: bytes | str, settings: Settings) -> str | None:
    """Why a provider callback is refused (network, then token), or None if it may proceed."""
    if settings.callback_networks:
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            address = None
        if address is None or not any(address in net for net in settings.callback_networks):
            log.warning("callback refused: %s is not in an allowed network", client)
            return "callback from a network that is not allowed"
    expected = settings.callback_token
    if expected is None:
        return None
    given = _token(query_string)
    if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        log.warning("callback refused from %s: missing or wrong token", client)
        return "missing or wrong callback token"
    return None


def _token(query_string: bytes | str) -> str:
    """The `token` query parameter (the last one, as Starlette reads it), or ""."""
    raw = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
    found = ""
    for part in raw.split("&"):
        name, _, value = part.partition("=")
        if name == "token" or unquote_plus(name) == "token":
            found = unquote_plus(value)
    return found


class _BodyRefused(Exception):
    """Raised from `receive` so the app stops reading; the guard answers instead."""


class RequestRules:
    """What is checked before a request's body is read: a callback's caller, the declared length.

    `limits` maps a route's path to its body cap in bytes, `patterns` does so for routes with
    path parameters (`default_limit` for any other path); `callbacks` are the paths of provider
    callbacks.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        callbacks: frozenset[str],
        limits: Mapping[str, int],
        patterns: Sequence[tuple[re.Pattern[str], int]] = (),
        default_limit: int,
    ) -> None:
        self.settings = settings
        self.callbacks = callbacks
        self._limits = limits
        self._patterns = patterns
        self._default = default_limit

    def limit(self, path: str) -> int:
        """The body cap of the route at `path`."""
        limit = self._limits.get(path)
        if limit is None:  # a route with path parameters, else the default
            return next((n for regex, n in self._patterns if regex.match(path)), self._default)
        return limit

    def refusal(
        self, path: str, *, client: str, query_string: bytes, headers: Sequence[tuple[bytes, bytes]]
    ) -> WillayError | None:
        """Why the request is refused before its body is read, or None if it may be read."""
        if path in self.callbacks:
            refusal = callback_refusal(client, query_string=query_string, settings=self.settings)
            if refusal is not None:
                return Forbidden(refusal)
        declared = _content_length(headers)
        if declared == -1:
            return BadRequest("Content-Length is not a number")
        limit = self.limit(path)
        if declared is not None and declared > limit:
            log.warning("body refused on %s: declares %d bytes, over %d", path, declared, limit)
            return _too_large(limit)
        return None


class RequestGuard:
    """Pure ASGI middleware: `rules` checked before the body, which is then capped and timed.

    `body_timeout` is the seconds a whole body may take to arrive once the app starts reading it.
    """

    def __init__(self, app: ASGIApp, *, rules: RequestRules, body_timeout: float) -> None:
        self.app = app
        self.rules = rules
        self._timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: PLR0917 (ASGI)
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        refusal = self.rules.refusal(
            path,
            client=scope["client"][0] if scope.get("client") else "",
            query_string=scope.get("query_string", b""),
            headers=scope["headers"],
        )
        if refusal is not None:
            await _refuse(send, refusal)
            return
        limit = self.rules.limit(path)
        await _GuardedBody(self.app, limit=limit, timeout=self._timeout)(scope, receive, send)


class _GuardedBody:
    """One request: counts body bytes and watches the deadline while the app reads.

    The deadline is one timer for the whole body (armed at the first read, cancelled once the
    body is complete); when it fires during a read, that read is cancelled and answered 408.
    """

    def __init__(self, app: ASGIApp, *, limit: int, timeout: float) -> None:
        self.app = app
        self.limit = limit
        self.timeout = timeout
        self.received = 0
        self.timer: asyncio.TimerHandle | None = None
        self.reader: asyncio.Task[object] | None = None  # the task in `receive`, while it waits
        self.body_done = False
        self.refused: WillayError | None = None
        self.started = False

    def _expire(self, path: str) -> None:
        log.warning("body of %s not received within %g s", path, self.timeout)
        self.refused = RequestTimeout(f"request body not received within {self.timeout:g} s")
        if self.reader is not None:
            self.reader.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: PLR0917 (ASGI)
        async def guarded_receive() -> Message:
            if self.refused is not None:
                raise _BodyRefused
            if self.body_done:
                return await receive()  # e.g. a response waiting for the client to go away
            if self.timer is None:
                loop = asyncio.get_running_loop()
                self.timer = loop.call_later(self.timeout, self._expire, scope["path"])
            self.reader = asyncio.current_task()
            try:
                message = await receive()
            except asyncio.CancelledError:
                if isinstance(self.refused, RequestTimeout) and self.reader is not None:
                    self.reader.uncancel()
                    raise _BodyRefused from None
                raise
            finally:
                self.reader = None
            if message["type"] == "http.request":
                self.received += len(message.get("body", b""))
                if self.received > self.limit:
                    log.warning("body refused on %s: over %d bytes", scope["path"], self.limit)
                    self.refused = _too_large(self.limit)
                    raise _BodyRefused
                if not message.get("more_body", False):
                    self.body_done = True
                    self.timer.cancel()
            return message

        async def guarded_send(message: Message) -> None:
            if self.refused is not None and not self.started:
                return  # the app's answer to the interrupted read; the guard answers instead
            if message["type"] == "http.response.start":
                self.started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except _BodyRefused:
            pass
        except Exception:
            if self.refused is None:
                raise
        finally:
            if self.timer is not None:
                self.timer.cancel()
        if self.refused is not None and not self.started:
            await _refuse(send, self.refused)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body over {limit:,} bytes")


def _content_length(headers: Sequence[tuple[bytes, bytes]]) -> int | None:
    """The declared body length; None if absent, -1 if not a number."""
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else -1
    return None


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
"""A whole response: its status, its headers (lower-case names) and its body."""


def refusal_answer(error: WillayError) -> Answer:
    """`error` in the one error shape, closing the connection (the body is left unread)."""
    body = error_body(type(error).__name__, error.public)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    return error.status_code, headers, body


async def _refuse(send: Send, error: WillayError) -> None:
    """Answer `error` as `refusal_answer` words it."""
    status, headers, body = refusal_answer(error)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
