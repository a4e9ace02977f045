"""The key-value store under sessions and subscriber profiles.

`KeyValueStore` is the protocol; `RedisStore` is the real implementation and `MemoryStore` the
embedded default for a first run with no Redis. Redis errors are translated into
`StoreUnavailable` where they enter, so channels handle one family.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from willay.errors import StoreUnavailable

__all__ = ["KeyValueStore", "MemoryStore", "RedisStore", "create_redis"]


class KeyValueStore(Protocol):
    """Strings under keys, each with an optional time to live in seconds, and sets of strings."""

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str, *, ttl: int | None = None) -> None: ...

    async def set_new(self, key: str, value: str, *, ttl: int | None = None) -> bool: ...

    async def add_members(self, key: str, *members: str) -> None: ...

    async def remove_members(self, key: str, *members: str) -> None: ...

    async def members(self, key: str) -> set[str]: ...

    async def delete(self, *keys: str) -> None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class MemoryStore:
    """An in-process store for the embedded default and unit tests; expiry is checked on read."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[str, float | None]] = {}
        self._sets: dict[str, set[str]] = {}

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
        self._data[key] = (value, time.monotonic() + ttl if ttl else None)

    async def set_new(self, key: str, value: str, *, ttl: int | None = None) -> bool:
        """Store `value` under `key` unless the key exists; True if stored."""
        if await self.get(key) is not None:
            return False
        await self.set(key, value, ttl=ttl)
        return True

    async def add_members(self, key: str, *members: str) -> None:
        """Add `members` to the set under `key`."""
        self._sets.setdefault(key, set()).update(members)

    async def remove_members(self, key: str, *members: str) -> None:
        """Remove `members` from the set under `key`; missing ones are ignored."""
        self._sets.get(key, set()).difference_update(members)

    async def members(self, key: str) -> set[str]:
        """The members of the set under `key` (empty if none)."""
        return set(self._sets.get(key, ()))

    async def delete(self, *keys: str) -> None:
        """Remove `keys`; missing keys are ignored."""
        for key in keys:
            self._data.pop(key, None)
            self._sets.pop(key, None)

    async def ping(self) -> None:
        """Always reachable."""

    async def close(self) -> None:
        """Nothing to close."""


def create_redis(url: str, *, name: str) -> aioredis.Redis:
    """A Redis client with timeouts well inside a USSD hop's reply deadline."""
    return aioredis.Redis.from_url(
        url,
        client_name=name,
        decode_responses=True,
        socket_connect_timeout=0.5,
        socket_timeout=1.0,
        health_check_interval=30,
        retry_on_timeout=False,
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

    async def add_members(self, key: str, *members: str) -> None:
        """Add `members` to the set under `key`."""
        with _translated("SADD"):
            await self._redis.sadd(key, *members)

    async def remove_members(self, key: str, *members: str) -> None:
        """Remove `members` from the set under `key`."""
        with _translated("SREM"):
            await self._redis.srem(key, *members)

    async def members(self, key: str) -> set[str]:
        """The members of the set under `key` (empty if none)."""
        with _translated("SMEMBERS"):
            return set(await self._redis.smembers(key))

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
