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
import functools
from collections.abc import Awaitable
from typing import Any

import hiredis

from willay.errors import StoreUnavailable

__all__ = ["RedisLink"]


class _ConnectionLost(Exception):
    """The connection closed before the reply came."""


class _Protocol(asyncio.Protocol):
    """One connection: commands out in order, replies matched to their callers in order.

    A caller waits until its deadline at most; one timer, due at the earliest deadline still
    waited for, fails those that passed (a timer per command cost more than its command).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._reader = hiredis.Reader(encoding="utf-8")
        self._waiting: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self._transport: asyncio.Transport | None = None
        self._outgoing: list[bytes] = []
        self._expiry: asyncio.TimerHandle | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            waiter, _ = self._waiting.popleft()
            if not waiter.done():  # a caller that timed out is gone; its reply still comes
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._expiry is not None:
            self._expiry.cancel()
        while self._waiting:
            waiter, _ = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(_ConnectionLost(f"Redis connection lost: {exc}"))

    def send(self, args: tuple[str | int, ...], deadline: float) -> asyncio.Future[Any]:
        """Queue one command, its reply waited for until `deadline` (the loop's clock); the
        commands of one turn of the loop leave in one write."""
        loop = self._loop
        if not self._outgoing:
            loop.call_soon(self._flush)
        # hiredis's stub types its argument as a 1-tuple; it takes a command of any length
        self._outgoing.append(hiredis.pack_command(args))  # type: ignore[arg-type]
        waiter = loop.create_future()
        self._waiting.append((waiter, deadline))
        if self._expiry is None or deadline < self._expiry.when():
            self._expire_at(deadline)
        return waiter

    def _expire_at(self, deadline: float) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry = self._loop.call_at(deadline, self._expire)

    def _expire(self) -> None:
        """Fail the callers whose deadline passed; be due again at the next deadline."""
        self._expiry = None
        now, due = self._loop.time(), None
        for waiter, deadline in self._waiting:
            if waiter.done():
                continue
            if deadline <= now:
                waiter.set_exception(TimeoutError())
            elif due is None or deadline < due:
                due = deadline
        if due is not None:
            self._expire_at(due)

    def _flush(self) -> None:
        if self._transport is not None and not self.closed:
            self._transport.write(b"".join(self._outgoing))
        self._outgoing.clear()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


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

    async def _connect(self, deadline: float) -> _Protocol:
        """A new connection, set up (AUTH, SELECT) by `deadline`; the caller bounds the time it
        takes to connect."""
        async with self._connecting:
            if self._protocol is None or self._protocol.closed:
                loop = asyncio.get_running_loop()
                _, fresh = await loop.create_connection(
                    functools.partial(_Protocol, loop), *self._address
                )
                for command in self._setup:
                    reply = await fresh.send(command, deadline)
                    if isinstance(reply, hiredis.ReplyError):
                        fresh.close()
                        raise StoreUnavailable(f"Redis {command[0]} failed: {reply}")
                self._protocol = fresh
            return self._protocol

    def _send(self, args: tuple[str | int, ...], deadline: float) -> Awaitable[Any]:
        """The reply to one command, waited for until `deadline` (the loop's clock); on the
        open connection, the protocol's future itself (no coroutine of its own).

        The connection's timer fails the wait, not a `asyncio.timeout` scope: a reply that
        comes too late is dropped by the protocol, as for a caller that gave up.
        """
        protocol = self._protocol
        if protocol is None or protocol.closed:
            return self._send_connecting(args, deadline)
        return protocol.send(args, deadline)

    async def _send_connecting(self, args: tuple[str | int, ...], deadline: float) -> Any:
        async with asyncio.timeout_at(deadline):
            protocol = await self._connect(deadline)
        return await protocol.send(args, deadline)

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
                return await self._send(args, deadline)
            except _ConnectionLost:
                return await self._send(args, deadline)
        except TimeoutError:
            raise StoreUnavailable(f"Redis {args[0]} timed out after {self._timeout} s") from None
        except (OSError, _ConnectionLost) as exc:
            raise StoreUnavailable(f"Redis {args[0]} failed: {exc}") from exc

    def close(self) -> None:
        """Close the connection (a later call opens a new one)."""
        if self._protocol is not None:
            self._protocol.close()
            self._protocol = None
