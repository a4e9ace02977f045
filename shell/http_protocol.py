"""uvicorn's httptools protocol with one write per response: head and body leave as one segment.

Stock uvicorn writes a response's status line and headers when the app starts it and the body
when the app sends it: two `send()` calls, two TCP segments, two wake-ups of the client for a
~100-byte USSD answer. `OneWriteProtocol` hands uvicorn a transport that gathers the writes of
one event-loop tick and passes them on as one write at the next tick, so a response sent in one
go is one segment; a streamed response still leaves chunk by chunk, each at the next tick.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, cast

from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["OneWriteProtocol"]


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
