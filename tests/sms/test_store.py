"""The store operations SMS needs, on both implementations, and the index of SMS subscribers."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable

import pytest

from tests.fixtures.services import free_port
from willay.errors import StoreUnavailable
from willay.kv import KeyValueStore, MemoryStore, RedisStore, create_redis
from willay.profiles import Subscriber, SubscriberStore

AT = dt.datetime(2026, 6, 15, 9, 30, tzinfo=dt.UTC)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def on_store(request, redis_prefix: str) -> Callable[[Callable[..., Awaitable[None]]], None]:
    """Runs a test body against a fresh store of each kind, under this test's prefix."""

    def run(body: Callable[[KeyValueStore, str], Awaitable[None]]) -> None:
        async def main() -> None:
            if request.param == "memory":
                await body(MemoryStore(), redis_prefix)
                return
            request.getfixturevalue("raw_redis")  # deletes the test's keys afterwards
            kv = RedisStore(create_redis(request.getfixturevalue("redis_url"), name="test"))
            try:
                await body(kv, redis_prefix)
            finally:
                await kv.close()

        asyncio.run(main())

    return run


def test_set_new_stores_only_once(on_store) -> None:
    async def body(kv: KeyValueStore, prefix: str) -> None:
        assert await kv.set_new(f"{prefix}:claim", "a", ttl=60)
        assert not await kv.set_new(f"{prefix}:claim", "b", ttl=60)
        assert await kv.get(f"{prefix}:claim") == "a"
        await kv.delete(f"{prefix}:claim")
        assert await kv.set_new(f"{prefix}:claim", "c")

    on_store(body)


def test_set_members(on_store) -> None:
    async def body(kv: KeyValueStore, prefix: str) -> None:
        key = f"{prefix}:set"
        assert await kv.members(key) == set()
        await kv.add_members(key, "a", "b")
        await kv.add_members(key, "b", "c")
        await kv.remove_members(key, "a", "zzz")
        assert await kv.members(key) == {"b", "c"}
        await kv.delete(key)
        assert await kv.members(key) == set()

    on_store(body)


def test_the_sms_index_follows_every_save_and_delete(on_store) -> None:
    async def body(kv: KeyValueStore, prefix: str) -> None:
        store = SubscriberStore(kv, prefix=prefix)
        person = Subscriber(id="a" * 32, language="es", consent_at=AT)
        await store.save(person)
        assert await store.sms_subscribers() == set()
        person.sms_since, person.sms_number = AT, "+51987654321"
        await store.save(person)
        assert await store.sms_subscribers() == {person.id}
        person.sms_since = person.sms_number = None
        await store.save(person)
        assert await store.sms_subscribers() == set()
        person.sms_since, person.sms_number = AT, "+51987654321"
        await store.save(person)
        await store.delete(person.id)
        assert await store.sms_subscribers() == set()

    on_store(body)


def test_a_profile_from_before_the_sms_day_still_loads() -> None:
    old = '{"id": "abc", "language": "quy", "consent_at": "2026-01-01T00:00:00Z"}'
    subscriber = Subscriber.model_validate_json(old)
    assert subscriber.sms_day is None and not subscriber.sms_subscribed


def test_redis_down_is_store_unavailable_for_the_new_operations() -> None:
    async def main() -> None:
        kv = RedisStore(create_redis(f"redis://127.0.0.1:{free_port()}/0", name="test"))
        for call in (
            lambda: kv.set_new("k", "v"),
            lambda: kv.add_members("s", "m"),
            lambda: kv.remove_members("s", "m"),
            lambda: kv.members("s"),
        ):
            with pytest.raises(StoreUnavailable):
                await call()
        await kv.close()

    asyncio.run(main())
