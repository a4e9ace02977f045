"""The key-value store under sessions and subscriber profiles.

`KeyValueStore` is the protocol; `RedisStore` is the real implementation and `MemoryStore` the
embedded default for a first run with no Redis (production refuses to start without Redis: the
embedded store is per process). Redis errors are translated into `StoreUnavailable` where they
enter, so channels handle one family.
"""

from __future__ import annotations

import builtins
import heapq
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from willay.errors import StoreUnavailable

__all__ = ["KeyValueStore", "MemoryStore", "RedisStore", "create_redis"]

log = logging.getLogger(__name__)


class KeyValueStore(Protocol):
    """Strings under keys, each with an optional time to live in seconds, and sets of strings."""

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str, *, ttl: int | None = None) -> None: ...

    async def set_new(self, key: str, value: str, *, ttl: int | None = None) -> bool: ...

    async def add_members(self, key: str, *members: str, ttl: int | None = None) -> None: ...

    async def remove_members(self, key: str, *members: str) -> None: ...

    async def members(self, key: str) -> builtins.set[str]: ...

    async def delete(self, *keys: str) -> None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class MemoryStore:
    """An in-process store for the embedded default and unit tests, bounded in memory.

    Expired keys are evicted as writes come (a heap of deadlines, so each write does a little of
    the work); past `max_keys` the keys closest to expiring go first, then the oldest.
    """

    def __init__(self, *, max_keys: int = 100_000) -> None:
        self._data: dict[str, tuple[str, float | None]] = {}
        self._sets: dict[str, set[str]] = {}
        self._set_deadlines: dict[str, float] = {}
        self._deadlines: list[tuple[float, str]] = []
        self._max_keys = max_keys
        self._warned = False

    async def get(self, key: str) -> str | None:
        """The value under `key`, or None if missing or expired."""
        item = self._data.get(key)
        if item is None:
            return None
        value, deadline = item
        if deadline is not None and time.monotonic() >= deadline:
            del self._data[key]
            return None
        return value

    async def set(self, key: str, value: str, *, ttl: int | None = None) -> None:
        """Store `value` under `key`, expiring after `ttl` seconds if given."""
        now = time.monotonic()
        deadline = now + ttl if ttl else None
        self._data.pop(key, None)  # a rewrite moves the key to the young end
        self._data[key] = (value, deadline)
        if deadline is not None:
            heapq.heappush(self._deadlines, (deadline, key))
        self._evict(now)

    def _evict(self, now: float) -> None:
        """Drop what has expired, then the soonest to expire and the oldest past `max_keys`."""
        heap = self._deadlines
        while heap and (heap[0][0] <= now or len(self._data) > self._max_keys):
            deadline, key = heapq.heappop(heap)
            item = self._data.get(key)
            if item is not None and item[1] == deadline:  # else rewritten since: a stale entry
                del self._data[key]
            elif self._set_deadlines.get(key) == deadline:
                del self._set_deadlines[key], self._sets[key]
        while len(self._data) > self._max_keys:
            del self._data[next(iter(self._data))]
        if len(heap) > 2 * len(self._data) + 1024:  # stale entries of rewritten keys
            self._deadlines = [(d, k) for k, (_, d) in self._data.items() if d is not None]
            self._deadlines += [(d, k) for k, d in self._set_deadlines.items()]
            heapq.heapify(self._deadlines)
        if len(self._data) >= self._max_keys and not self._warned:
            self._warned = True
            log.warning("embedded store full (%d keys): evicting; use Redis", self._max_keys)

    async def set_new(self, key: str, value: str, *, ttl: int | None = None) -> bool:
        """Store `value` under `key` unless the key exists; True if stored."""
        if await self.get(key) is not None:
            return False
        await self.set(key, value, ttl=ttl)
        return True

    async def add_members(self, key: str, *members: str, ttl: int | None = None) -> None:
        """Add `members` to the set under `key`; with `ttl`, it lives at least that long more."""
        await self.members(key)  # drops the set if it has expired
        self._sets.setdefault(key, set()).update(members)
        if ttl:
            now = time.monotonic()
            deadline = max(self._set_deadlines.get(key, 0.0), now + ttl)
            self._set_deadlines[key] = deadline
            heapq.heappush(self._deadlines, (deadline, key))
            self._evict(now)

    async def remove_members(self, key: str, *members: str) -> None:
        """Remove `members` from the set under `key`; missing ones are ignored."""
        self._sets.get(key, set()).difference_update(members)

    async def members(self, key: str) -> builtins.set[str]:
        """The members of the set under `key` (empty if none or expired)."""
        deadline = self._set_deadlines.get(key)
        if deadline is not None and time.monotonic() >= deadline:
            del self._set_deadlines[key], self._sets[key]
        return set(self._sets.get(key, ()))

    async def delete(self, *keys: str) -> None:
        """Remove `keys`; missing keys are ignored."""
        for key in keys:
            self._data.pop(key, None)
            self._sets.pop(key, None)
            self._set_deadlines.pop(key, None)

    async def ping(self) -> None:
        """Always reachable."""

    async def close(self) -> None:
        """Nothing to close."""


def create_redis(url: str, *, name: str) -> aioredis.Redis:
    """A Redis client with timeouts well inside a USSD hop's reply deadline.

    A pooled connection that died with the server (Redis restarted) fails once: the command is
    retried at once on a fresh connection, so once Redis answers no caller sees the failure.
    A timeout is not retried: the command may have run, and the hop's deadline is short.
    """
    return aioredis.Redis.from_url(
        url,
        client_name=name,
        decode_responses=True,
        socket_connect_timeout=0.5,
        socket_timeout=1.0,
        health_check_interval=30,
        retry=Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,)),
        retry_on_error=[RedisConnectionError],
    )


@contextmanager
def _translated(operation: str) -> Iterator[None]:
    try:
        yield
    except (RedisError, OSError) as exc:
        raise StoreUnavailable(f"Redis {operation} failed: {exc}") from exc


class RedisStore:
    """`KeyValueStore` on Redis; every Redis failure becomes `StoreUnavailable`."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client

    @property
    def client(self) -> aioredis.Redis:
        """The Redis client, for what needs more than strings and sets (scripts, pipelines)."""
        return self._redis

    async def get(self, key: str) -> str | None:
        """The value under `key`, or None."""
        with _translated("GET"):
            return cast(str | None, await self._redis.get(key))

    async def set(self, key: str, value: str, *, ttl: int | None = None) -> None:
        """Store `value` under `key`, expiring after `ttl` seconds if given."""
        with _translated("SET"):
            await self._redis.set(key, value, ex=ttl)

    async def set_new(self, key: str, value: str, *, ttl: int | None = None) -> bool:
        """Store `value` under `key` unless the key exists (SET NX); True if stored."""
        with _translated("SET NX"):
            return bool(await self._redis.set(key, value, ex=ttl, nx=True))

    async def add_members(self, key: str, *members: str, ttl: int | None = None) -> None:
        """Add `members` to the set under `key`; with `ttl`, it lives at least that long more."""
        with _translated("SADD"):
            if not ttl:
                await self._redis.sadd(key, *members)
                return
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.sadd(key, *members)
                pipe.expire(key, ttl, nx=True)  # a new set gets the TTL ...
                pipe.expire(key, ttl, gt=True)  # ... an older one only a longer one
                await pipe.execute()

    async def remove_members(self, key: str, *members: str) -> None:
        """Remove `members` from the set under `key`."""
        with _translated("SREM"):
            await self._redis.srem(key, *members)

    async def members(self, key: str) -> builtins.set[str]:
        """The members of the set under `key` (empty if none)."""
        with _translated("SMEMBERS"):
            return cast("builtins.set[str]", set(await self._redis.smembers(key)))  # decoded

    async def delete(self, *keys: str) -> None:
        """Remove `keys`."""
        with _translated("DEL"):
            await self._redis.delete(*keys)

    async def ping(self) -> None:
        """Raise `StoreUnavailable` unless Redis answers."""
        with _translated("PING"):
            await self._redis.ping()

    async def close(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()
