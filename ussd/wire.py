"""A lean Redis link for the USSD hop: one pipelined connection per process, parsed by hiredis.

redis-py's asyncio client spends about 70 µs of CPU on each command (connection pool, retry
wrapper, streams, timeouts): with two commands a hop, a quarter of a hop's CPU. The hop needs only
MGET and EVALSHA on a plain TCP Redis, so this link writes the commands itself and matches
replies to callers in order (Redis answers in order on one connection). hiredis, the parser
redis-py itself uses, packs the commands and reads the replies. Other Redis setups (TLS, Unix
sockets) go through redis-py; see `ussd.store`.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import hiredis

from willay.errors import StoreUnavailable

__all__ = ["RedisLink"]


class _ConnectionLost(Exception):
    """The connection closed before the reply came."""


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self._reader = hiredis.Reader(encoding="utf-8")
        self._waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._transport: asyncio.Transport | None = None
        self._outgoing: list[bytes] = []
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            waiter = self._waiting.popleft()
            if not waiter.done():  # a caller that timed out is gone; its reply still comes
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(_ConnectionLost(f"Redis connection lost: {exc}"))

    def send(self, args: tuple[str | int, ...]) -> asyncio.Future[Any]:
        """Queue one command; the commands of one turn of the loop leave in one write."""
        loop = asyncio.get_running_loop()
        if not self._outgoing:
            loop.call_soon(self._flush)
        # hiredis's stub types its argument as a 1-tuple; it takes a command of any length
        self._outgoing.append(hiredis.pack_command(args))  # type: ignore[arg-type]
        waiter = loop.create_future()
        self._waiting.append(waiter)
        return waiter

    def _flush(self) -> None:
        if self._transport is not None and not self.closed:
            self._transport.write(b"".join(self._outgoing))
        self._outgoing.clear()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class RedisLink:
    """Commands to one Redis over one connection, opened on first use and again after a loss."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 1.0,
    ) -> None:
        self._address = (host, port)
        self._setup: list[tuple[str | int, ...]] = []
        if password:
            self._setup.append(("AUTH", username, password) if username else ("AUTH", password))
        if db:
            self._setup.append(("SELECT", db))
        self._timeout = timeout
        self._protocol: _Protocol | None = None
        self._connecting = asyncio.Lock()

    async def _connect(self) -> _Protocol:
        """A new connection, set up (AUTH, SELECT); the caller bounds the time it takes."""
        async with self._connecting:
            if self._protocol is None or self._protocol.closed:
                loop = asyncio.get_running_loop()
                _, fresh = await loop.create_connection(_Protocol, *self._address)
                for command in self._setup:
                    reply = await fresh.send(command)
                    if isinstance(reply, hiredis.ReplyError):
                        fresh.close()
                        raise StoreUnavailable(f"Redis {command[0]} failed: {reply}")
                self._protocol = fresh
            return self._protocol

    async def _reply(self, args: tuple[str | int, ...], deadline: float) -> Any:
        """Send one command and wait for its reply until `deadline` (the loop's clock).

        The wait is one timer on the reply itself, not a `asyncio.timeout` scope: a reply
        that comes too late is dropped by the protocol, as for a caller that gave up.
        """
        protocol = self._protocol
        if protocol is None or protocol.closed:
            async with asyncio.timeout_at(deadline):
                protocol = await self._connect()
        waiter = protocol.send(args)
        timer = asyncio.get_running_loop().call_at(deadline, _expire, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()

    async def call(self, *args: str | int) -> Any:
        """Send one command and return its reply; an error reply is returned, not raised.

        A connection found dead (Redis restarted, an idle connection cut) is replaced and the
        command sent once more: the hop's commands are a read and a compare-and-set, both safe
        to send again (a set that did happen is refused the second time, and the hop reads).
        Connecting, sending and the reply, retry included, take at most the link's timeout.
        """
        deadline = asyncio.get_running_loop().time() + self._timeout
        try:
            try:
                return await self._reply(args, deadline)
            except _ConnectionLost:
                return await self._reply(args, deadline)
        except TimeoutError:
            raise StoreUnavailable(f"Redis {args[0]} timed out after {self._timeout} s") from None
        except (OSError, _ConnectionLost) as exc:
            raise StoreUnavailable(f"Redis {args[0]} failed: {exc}") from exc

    def close(self) -> None:
        """Close the connection (a later call opens a new one)."""
        if self._protocol is not None:
            self._protocol.close()
            self._protocol = None
