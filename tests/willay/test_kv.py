"""The key-value stores: Redis survives its own restart; the embedded store stays bounded."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

import willay.kv
from tests.fixtures.requirements import missing_service
from tests.fixtures.services import free_port
from willay.kv import MemoryStore, RedisStore, create_redis


class RestartableRedis:
    """A `redis-server` of this test alone, on a free port, killed and started at will."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def own_redis() -> Iterator[RestartableRedis]:
    binary = shutil.which("redis-server")
    if binary is None:
        missing_service("redis-server is not installed; run the suite with `make test`")
    server = RestartableRedis(binary)
    server.start()
    yield server
    server.kill()


@pytest.mark.redis
def test_no_caller_fails_once_a_restarted_redis_answers(own_redis: RestartableRedis) -> None:
    async def scenario() -> list[object]:
        store = RedisStore(create_redis(own_redis.url, name="willay-test"))
        try:
            # ten callers at once: ten pooled connections, all dead after the restart
            await asyncio.gather(*(store.set(f"k{i}", "v") for i in range(10)))
            own_redis.kill()
            own_redis.start()
            first = await asyncio.gather(
                *(store.set(f"k{i}", "again") for i in range(10)), return_exceptions=True
            )
            second = await asyncio.gather(*(store.get(f"k{i}") for i in range(10)))
            return [*first, *second]
        finally:
            await store.close()

    results = asyncio.run(scenario())
    assert results == [None] * 10 + ["again"] * 10


class ShiftedTime:
    """`time` whose monotonic clock a test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset


@pytest.fixture
def shifted(monkeypatch: pytest.MonkeyPatch) -> ShiftedTime:
    clock = ShiftedTime()
    monkeypatch.setattr(willay.kv, "time", clock)
    return clock


class TestMemoryStore:
    def test_expired_keys_are_evicted_as_writes_come(self, shifted: ShiftedTime) -> None:
        async def scenario() -> int:
            store = MemoryStore()
            for i in range(1000):
                await store.set(f"session:{i}", "x" * 100, ttl=300)
            shifted.offset += 301
            await store.set("profile", "kept")  # any write sweeps what has expired
            return len(store._data)

        assert asyncio.run(scenario()) == 1

    def test_rewritten_keys_keep_their_new_deadline(self, shifted: ShiftedTime) -> None:
        async def scenario() -> str | None:
            store = MemoryStore()
            await store.set("session", "old", ttl=10)
            shifted.offset += 8
            await store.set("session", "new", ttl=10)
            shifted.offset += 8  # the first deadline has passed, the second has not
            await store.set("other", "x")
            return await store.get("session")

        assert asyncio.run(scenario()) == "new"

    def test_bounded_by_max_keys_soonest_to_expire_first(self, shifted: ShiftedTime) -> None:
        async def scenario() -> tuple[int, str | None, str | None]:
            store = MemoryStore(max_keys=100)
            await store.set("profile", "forever")
            await store.set("short", "x", ttl=10)
            for i in range(200):
                await store.set(f"session:{i}", "x", ttl=300)
            return len(store._data), await store.get("short"), await store.get("session:199")

        count, short, newest = asyncio.run(scenario())
        assert count == 100 and short is None and newest == "x"

    def test_heap_of_deadlines_stays_bounded_under_rewrites(self, shifted: ShiftedTime) -> None:
        async def scenario() -> int:
            store = MemoryStore()
            for _ in range(50_000):
                await store.set("session", "x", ttl=300)
            return len(store._deadlines)

        assert asyncio.run(scenario()) < 2000
