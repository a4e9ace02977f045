"""uvicorn's httptools protocol, with one write per response and a lane for the provider's hops.

Stock uvicorn writes a response's status line and headers when the app starts it and the body
when the app sends it: two `send()` calls, two TCP segments, two wake-ups of the client for a
~100-byte USSD answer. `OneWriteProtocol` hands uvicorn a transport that gathers the writes of
one event-loop tick and passes them on as one write at the next tick, so a response sent in one
go is one segment; a streamed response still leaves chunk by chunk, each at the next tick.

`LaneProtocol` (what `willay serve` runs) also answers the requests the app's lane takes (the
lifespan state's `hops`, a `HopLane`) straight from the parser's callbacks: no ASGI scope, no
receive and send messages, no middleware, no task per layer; the head and body it answers leave
in one write. Whatever the lane does not take, the app gets as before, through uvicorn's own
request cycle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, cast

import httptools
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from ussd.lane import LANE_STATE, HopLane
from ussd.schemas import AtUssdForm
from willay.security import Answer

__all__ = ["LaneProtocol", "OneWriteProtocol"]


class TickWriter:
    """A transport whose `write()`s within one loop tick reach the socket as one write.

    Anything else is the wrapped transport's; closing sends what is gathered first, aborting
    drops it, and what is gathered for a transport already closing is dropped, as asyncio
    would drop it. Past uvicorn's high-water mark it writes at once, so flow control still sees it.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._gathered: list[bytes] = []
        self._gathered_bytes = 0
        self._flush_due: asyncio.Handle | None = None

    def write_now(self, data: bytes) -> None:
        """Write what is gathered and `data` at once, in one write."""
        self._gathered.append(data)
        self.flush()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Keep `data` for the write at the next tick (at once past the high-water mark)."""
        if not data:
            return
        self._gathered.append(bytes(data))
        self._gathered_bytes += len(data)
        if self._gathered_bytes >= HIGH_WATER_LIMIT:
            self.flush()
        elif self._flush_due is None:
            self._flush_due = self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Pass everything gathered to the transport in one write."""
        if self._flush_due is not None:
            self._flush_due.cancel()
            self._flush_due = None
        gathered, self._gathered, self._gathered_bytes = self._gathered, [], 0
        if gathered and not self._transport.is_closing():
            self._transport.write(b"".join(gathered))

    def close(self) -> None:
        """Write what is gathered, then close."""
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        """Write what is gathered, then half-close."""
        self.flush()
        self._transport.write_eof()

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        """`write` them all, after what is gathered (never ahead of it)."""
        self.write(b"".join(list_of_data))

    def is_closing(self) -> bool:
        """The transport's (asked on every response: not through `__getattr__`)."""
        return self._transport.is_closing()

    def get_write_buffer_size(self) -> int:
        """The transport's buffer and what is gathered for it."""
        return self._transport.get_write_buffer_size() + self._gathered_bytes

    def abort(self) -> None:
        """Drop what is gathered and close at once."""
        if self._flush_due is not None:
            self._flush_due.cancel()
            self._flush_due = None
        self._gathered, self._gathered_bytes = [], 0
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing each tick's output, so a whole response, at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Serve the connection through a `TickWriter` around its transport."""
        writer = TickWriter(cast(asyncio.Transport, transport), self.loop)
        # a TickWriter stands in for the transport: it has every attribute, by delegation
        super().connection_made(cast(asyncio.Transport, writer))


class _NoWaiter:
    """The `message_event` of a lane request: uvicorn sets it, nobody waits for it."""

    @staticmethod
    def set() -> None:
        """Nothing to wake."""


class _LaneRequest:
    """A request in the lane, with what uvicorn's protocol reads and sets on a request cycle."""

    __slots__ = ("body", "disconnected", "keep_alive", "more_body", "response_complete")
    message_event = _NoWaiter

    def __init__(self, *, keep_alive: bool) -> None:
        self.body = bytearray()
        self.more_body = True
        self.response_complete = False
        self.disconnected = False
        self.keep_alive = keep_alive


class LaneProtocol(OneWriteProtocol):
    """`OneWriteProtocol` answering what the app's lane takes without ASGI.

    The lane judges a request on its head (on the client's address as uvicorn's proxy headers
    make it). A request it takes is answered once its whole body is in; if the body is not all
    in the bytes that brought the head, or the lane's `form` refuses it, or another request of
    the connection is still being answered, the request goes to the app as any other, so the
    app's body deadline and error answers hold.
    """

    cycle: RequestResponseCycle | _LaneRequest | None  # type: ignore[assignment]  # + the lane's

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Find the app's lane (None before the lifespan started, or without one)."""
        super().connection_made(transport)
        self._idle_since: float | None = None  # the loop's time of the last response, if idle
        self._lane: HopLane | None = self.app_state.get(LANE_STATE)
        proxy = self.app if isinstance(self.app, ProxyHeadersMiddleware) else None
        self._trusted = proxy.trusted_hosts if proxy is not None else None
        if self.access_log or self.limit_concurrency is not None:
            self._lane = None  # the app's cycle logs each request and counts them

    def on_message_begin(self) -> None:
        """uvicorn's, but with a lane the ASGI scope waits until a request goes to the app."""
        if self._lane is None:
            super().on_message_begin()
            return
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def _app_scope(self) -> None:
        """Build the ASGI scope `on_message_begin` left out, around what was parsed since."""
        url, headers, expect = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()
        self.url, self.expect_100_continue = url, expect
        self.headers.extend(headers)  # the scope's list

    def on_response_complete(self) -> None:
        """uvicorn's, with one keep-alive timer per connection rather than one per response.

        The timer, when due, closes the connection if it has been idle since the last response
        for the keep-alive timeout, or waits again until it would have been.
        """
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:  # its data came already: the connection is not idle
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_since = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self._keep_alive_at(self._idle_since + self.timeout_keep_alive)

    def _unset_keepalive_if_required(self) -> None:
        """Busy again (data came, or the connection went): not idle, whatever the timer finds."""
        self._idle_since = None

    def connection_lost(self, exc: Exception | None) -> None:
        """uvicorn's, and the keep-alive timer goes (it holds this protocol until due)."""
        super().connection_lost(exc)
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None

    def _keep_alive_at(self, due: float) -> None:
        self.timeout_keep_alive_task = self.loop.call_at(due, self._keep_alive_due)

    def _keep_alive_due(self) -> None:
        self.timeout_keep_alive_task = None
        if self._idle_since is None:
            return  # busy: its next response arms the timer again
        due = self._idle_since + self.timeout_keep_alive
        if due <= self.loop.time():
            self.timeout_keep_alive_handler()
        else:
            self._keep_alive_at(due)

    def data_received(self, data: bytes) -> None:
        """Parse; a lane request whose body is not all in yet goes to the app."""
        super().data_received(data)
        cycle = self.cycle
        if (
            type(cycle) is _LaneRequest
            and cycle.more_body
            and not cycle.response_complete
            and not self.transport.is_closing()
        ):
            self._to_the_app(cycle)

    def on_headers_complete(self) -> None:
        """A request the lane takes becomes a `_LaneRequest`; any other the app's, as usual."""
        cycle = self.cycle
        if type(cycle) is _LaneRequest and cycle.response_complete and self.transport.is_closing():
            return  # the lane refused and closed: what was sent after it is not served
        if self._lane is not None and (self.cycle is None or self.cycle.response_complete):
            taken = self._admitted(self._lane)
            if taken is not False:
                version = self.parser.get_http_version()
                self.cycle = _LaneRequest(
                    keep_alive=version != "1.0" and self.parser.should_keep_alive()
                )
                if taken is not True:  # refused on its head
                    self._respond(self.cycle, taken)
                return
        if self._lane is not None:
            self._app_scope()
        super().on_headers_complete()

    def _admitted(self, lane: HopLane) -> Answer | bool:
        url = httptools.parse_url(self.url)
        path = url.path.decode("ascii")
        if "%" in path:
            return False  # the app unquotes it
        return lane.admit(
            self.parser.get_method(),
            self.root_path + path,
            client=self._client(),
            query_string=url.query or b"",
            headers=self.headers,
        )

    def _client(self) -> str:
        """The client's address as the app would see it: a trusted proxy's forwarded one."""
        host = self.client[0] if self.client else ""
        if self._trusted is not None and host in self._trusted:
            forwarded = [value for name, value in self.headers if name == b"x-forwarded-for"]
            if forwarded:
                joined = b", ".join(forwarded).decode("latin1")
                host = self._trusted.get_trusted_client_address(joined)[0] or host
        return host

    def on_message_complete(self) -> None:
        """A lane request's body is in: the lane answers it, or the app gets it."""
        cycle = self.cycle
        if type(cycle) is not _LaneRequest:
            super().on_message_complete()
            return
        if cycle.response_complete:
            return  # refused on its head: the rest of it is not read
        cycle.more_body = False
        form = cast(HopLane, self._lane).form(bytes(cycle.body))
        if form is None:
            self._to_the_app(cycle)
            return
        task = self.loop.create_task(self._answer(cycle, form))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    def _to_the_app(self, cycle: _LaneRequest) -> None:
        """Hand the request to the app through uvicorn's own cycle, with the body read so far."""
        self.cycle = None  # uvicorn's cycle takes its place now
        self._app_scope()
        super().on_headers_complete()
        app_cycle = cast(RequestResponseCycle, self.cycle)
        app_cycle.body += cycle.body
        app_cycle.more_body = cycle.more_body
        app_cycle.message_event.set()

    async def _answer(self, cycle: _LaneRequest, form: AtUssdForm) -> None:
        try:
            answer = await cast(HopLane, self._lane).answer(form)
        except BaseException as exc:  # a bug (answers never raise), or the server cancelling
            if not isinstance(exc, asyncio.CancelledError):
                self.logger.exception("the lane failed to answer")
            self.transport.close()
            if isinstance(exc, Exception):
                return
            raise
        if self.flow.write_paused and not cycle.disconnected:
            await self.flow.drain()
        if not cycle.disconnected:
            self._respond(cycle, answer)

    def _respond(self, cycle: _LaneRequest, answer: Answer) -> None:
        """Write `answer` in one write, as uvicorn's cycle would word it, and finish the request."""
        status, headers, body = answer
        out = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            out += [name, b": ", value, b"\r\n"]
        for name, value in headers:
            out += [name, b": ", value, b"\r\n"]
            if name == b"connection" and b"close" in value.lower():
                cycle.keep_alive = False
        if not cycle.keep_alive and (b"connection", b"close") not in headers:
            out.append(b"connection: close\r\n")
        out += [b"\r\n", body]
        cast(TickWriter, self.transport).write_now(b"".join(out))
        cycle.response_complete = True
        if not cycle.keep_alive:
            self.transport.close()
        self.on_response_complete()
