"""Retried and racing hops at a real `willay serve --workers 2` on real Redis: each applied once.

A gateway retries a hop (same session, same text) while the first is in flight or after it was
answered; two different hops of one session may also arrive together. Every retry must get the
first answer and change nothing; different hops must be applied one after the other.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import hiredis
import httpx2
import pytest
import redis
from typer.testing import CliRunner

from bench.serving import delete_keys
from shell.cli import app as cli
from tests.fixtures.services import free_port, serving_workers
from ussd.store import HopWrite, SessionStore, _RedisHops
from ussd.wire import RedisLink
from willay.errors import StoreUnavailable
from willay.kv import MemoryStore, RedisStore, create_redis
from willay.profiles import SubscriberStore, pseudonym

from ..fixtures.environment import TEST_KEY

ROOT = Path(__file__).resolve().parents[2]
TIP = ["", "1", "1*1", "1*1*1"]  # dial, Spanish, accept, a tip for me
MAIN = ["", "1", "1*1"]
_numbers = itertools.count(1)


@dataclass
class Server:
    url: str
    prefix: str
    events_file: Path
    redis: redis.Redis
    http: httpx2.Client

    def hop(self, session: str, phone: str, text: str) -> str:
        form = {"sessionId": session, "serviceCode": "*123#", "phoneNumber": phone, "text": text}
        response = self.http.post(f"{self.url}/ussd/africastalking", data=form)
        assert response.status_code == 200, response.text
        return response.text

    def walk(self, texts: list[str]) -> tuple[str, str]:
        """A new phone's session through `texts`, one hop after the other."""
        session, phone = f"ATUid_{uuid.uuid4().hex[:12]}", f"+5197{next(_numbers):07d}"
        for text in texts:
            self.hop(session, phone, text)
        return session, phone

    def at_once(self, session: str, phone: str, texts: list[str]) -> list[str]:
        """Send the hops together, each on its own connection; replies in the order of `texts`."""
        with ThreadPoolExecutor(len(texts)) as pool:
            return list(pool.map(lambda text: self.hop(session, phone, text), texts))

    def events(self, session: str) -> list[dict]:
        lines = self.events_file.read_text(encoding="utf-8").splitlines()
        return [e for e in map(json.loads, lines) if e.get("session") == session]

    def profile(self, phone: str) -> dict | None:
        raw = self.redis.get(f"{self.prefix}:sub:{pseudonym(phone, TEST_KEY)}")
        return json.loads(raw) if raw else None

    def session(self, session: str) -> dict:
        return json.loads(self.redis.get(f"{self.prefix}:ussd:session:{session}"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Server]:
    """`willay serve --workers 2` as its own process tree, on the test Redis."""
    client = redis.Redis.from_url(redis_url, decode_responses=True, socket_connect_timeout=1)
    http = httpx2.Client(trust_env=False, timeout=30, limits=httpx2.Limits(max_connections=8))
    folder = tmp_path_factory.mktemp("workers")
    try:
        with serving_workers(redis_url, folder) as workers:
            try:
                assert http.get(f"{workers.base}/readyz").json()["store"] == "redis"
                yield Server(workers.base, workers.prefix, folder / "events.jsonl", client, http)
            finally:
                delete_keys(redis_url, workers.prefix)
    finally:
        http.close()
        client.close()


class TestRetriedHop:
    def test_retries_in_flight_get_the_first_screen_and_apply_once(self, server) -> None:
        for _ in range(10):
            session, phone = server.walk(TIP)
            replies = server.at_once(session, phone, ["1*1*1*1"] * 4)
            assert len(set(replies)) == 1, replies
            assert "Gracias" in replies[0]
            kinds = Counter(e["kind"] for e in server.events(session))
            assert kinds["feedback"] == 1
            assert kinds["hop"] + kinds["session_start"] == len(TIP) + 1
            assert len(server.profile(phone)["feedback"]) == 1
            assert server.session(session)["hops"] == len(TIP) + 1

    def test_a_retry_after_the_answer_changes_nothing(self, server) -> None:
        session, phone = server.walk(TIP)
        first = server.hop(session, phone, "1*1*1*1")
        stored, events = server.session(session), server.events(session)
        profile = server.profile(phone)
        assert server.hop(session, phone, "1*1*1*1") == first
        assert server.session(session) == stored
        assert server.events(session) == events
        assert server.profile(phone) == profile

    def test_a_late_retry_of_an_earlier_hop_is_answered_as_then(self, server) -> None:
        session, phone = server.walk(MAIN)
        main_menu = server.hop(session, phone, "1*1")  # the retry of the consent hop
        tip = server.hop(session, phone, "1*1*1")
        stored = server.session(session)
        assert server.hop(session, phone, "1*1") == main_menu
        assert server.session(session) == stored
        assert "Willay salud" in main_menu and tip != main_menu

    def test_the_first_hop_retried_opens_one_session(self, server) -> None:
        session, phone = f"ATUid_{uuid.uuid4().hex[:12]}", f"+5196{next(_numbers):07d}"
        replies = server.at_once(session, phone, ["", "", ""])
        assert len(set(replies)) == 1 and "1 Español" in replies[0]
        kinds = Counter(e["kind"] for e in server.events(session))
        assert kinds == {"session_start": 1}


class TestRacingHops:
    def test_different_hops_apply_one_after_the_other(self, server) -> None:
        for _ in range(10):
            session, phone = server.walk(TIP)
            useful, not_useful = server.at_once(session, phone, ["1*1*1*1", "1*1*1*2"])
            feedback = [e for e in server.events(session) if e["kind"] == "feedback"]
            assert len(feedback) == 1  # the second lands on "another tip?", where 2 is invalid
            assert len(server.profile(phone)["feedback"]) == 1
            kinds = Counter(e["kind"] for e in server.events(session))
            if feedback[0]["data"]["useful"]:  # then 2 on "another tip?" is not an option
                assert "Gracias" in useful and "no valida" in not_useful
                assert kinds["tip_served"] == 1
            else:  # then 1 on "another tip?" serves another tip
                assert "Gracias" in not_useful and "Gracias" not in useful
                assert kinds["tip_served"] == 2
            steps = sorted(
                (e for e in server.events(session) if e["kind"] == "menu_step"),
                key=lambda e: e["ts"],
            )
            assert all(a["data"]["to"] == b["data"]["screen"] for a, b in itertools.pairwise(steps))
            assert server.session(session)["screen"] == steps[-1]["data"]["to"]

    def test_a_confirmed_delete_erases_whatever_raced_it(self, server) -> None:
        for _ in range(10):
            session, phone = server.walk(MAIN)
            replies = server.at_once(session, phone, ["1*1*5", "1*1*5*1"])
            kinds = Counter(e["kind"] for e in server.events(session))
            if any("fueron borrados" in r for r in replies):
                assert server.profile(phone) is None
                assert kinds["data_deleted"] == 1
            else:
                assert server.profile(phone) is not None and kinds["data_deleted"] == 0
            assert kinds["hop"] + kinds["session_start"] == len(MAIN) + 2


@pytest.mark.parametrize("backend", ["memory", "lean link", "redis-py"])
def test_a_commit_on_a_stale_read_is_refused(backend, redis_url, redis_prefix) -> None:
    """The compare-and-set itself, on every store: the second of two hops read alike loses."""
    asyncio.run(_stale_read_refused(backend, redis_url, redis_prefix))


async def _stale_read_refused(backend: str, redis_url: str, redis_prefix: str) -> None:
    kv = MemoryStore() if backend == "memory" else RedisStore(create_redis(redis_url, name="t"))
    profiles = SubscriberStore(kv, prefix=redis_prefix)
    store = SessionStore(kv, prefix=redis_prefix, ttl=60, resume_ttl=60, profiles=profiles)
    if backend == "redis-py":  # what Redis over TLS or a Unix socket goes through
        store._hops = _RedisHops(kv.client)
    try:
        first = await store.read_hop("S1", "who")
        second = await store.read_hop("S1", "who")
        assert (
            await store.commit_hop(first, HopWrite(session='{"a": 1}', profile='{"p": 1}')) is None
        )
        refused = await store.commit_hop(second, HopWrite(session='{"b": 2}', delete_profile=True))
        assert refused is not None and not refused.local  # what the store holds: start over
        assert (refused.session, refused.profile, refused.resume) == ('{"a": 1}', '{"p": 1}', None)
        again = await store.read_hop("S1", "who")
        assert (again.session, again.profile) == ('{"a": 1}', '{"p": 1}')
        assert (
            await store.commit_hop(again, HopWrite(session='{"c": 3}', delete_profile=True)) is None
        )
        final = await store.read_hop("S1", "who", stored=True)  # not what memory holds of it
        assert (final.session, final.profile, final.local) == ('{"c": 3}', None, False)
        assert not (await store.read_hop("S1", "who")).local  # memory's copy was taken once
        assert await kv.get(f"{redis_prefix}:ussd:session:S1") == '{"c": 3}'
    finally:
        await kv.delete(f"{redis_prefix}:ussd:session:S1", profiles.key("who"))
        store.close()
        await kv.close()


def test_the_lean_link_reconnects_and_reports_a_dead_redis(redis_url) -> None:
    async def scenario() -> None:
        parts = urlsplit(redis_url)
        link = RedisLink(host=parts.hostname, port=parts.port, db=int(parts.path[1:] or 0))
        assert await link.call("PING") == "PONG"
        link.close()
        assert await link.call("PING") == "PONG"  # opened again
        killer = redis.Redis.from_url(redis_url)
        killer.client_kill_filter(_id=await link.call("CLIENT", "ID"))  # Redis cuts it
        killer.close()
        assert await link.call("PING") == "PONG"  # sent again on a fresh connection
        assert isinstance(await link.call("NOSUCHCOMMAND"), hiredis.ReplyError)
        link.close()
        dead = RedisLink(host="127.0.0.1", port=free_port(), timeout=0.5)
        with pytest.raises(StoreUnavailable):
            await dead.call("PING")

    asyncio.run(scenario())


def test_the_lean_link_gives_up_on_a_late_reply_and_keeps_replies_in_order() -> None:
    """A server answering its first command late: that call times out, and the next call gets
    its own reply, not the late one."""

    async def scenario() -> None:
        served = asyncio.Event()

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            for number in range(2):
                await reader.readuntil(b"PING\r\n")
                if number == 0:
                    await asyncio.sleep(0.3)
                writer.write(b"+reply %d\r\n" % number)
            await writer.drain()
            await reader.read()  # until the link closes
            writer.close()
            await writer.wait_closed()
            served.set()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        link = RedisLink(host="127.0.0.1", port=port, timeout=0.1)
        started = asyncio.get_running_loop().time()
        with pytest.raises(StoreUnavailable, match="timed out after 0.1 s"):
            await link.call("PING")
        assert asyncio.get_running_loop().time() - started < 0.25
        await asyncio.sleep(0.3)  # the late reply arrives meanwhile, for nobody
        assert await link.call("PING") == "reply 1"
        link.close()
        await served.wait()
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())


def test_the_lean_link_times_out_each_call_at_its_own_deadline() -> None:
    """A server that never answers: calls sent at different times each fail a timeout after
    their own start, neither sooner (at an earlier call's deadline) nor never."""

    async def scenario() -> None:
        served = asyncio.Event()

        async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # reads every command, answers none, until the link closes
            writer.close()
            await writer.wait_closed()
            served.set()

        server = await asyncio.start_server(mute, "127.0.0.1", 0)
        link = RedisLink(host="127.0.0.1", port=server.sockets[0].getsockname()[1], timeout=0.2)
        loop = asyncio.get_running_loop()

        async def timed_out_after() -> float:
            started = loop.time()
            with pytest.raises(StoreUnavailable, match="timed out after 0.2 s"):
                await link.call("PING")
            return loop.time() - started

        first = asyncio.ensure_future(timed_out_after())
        await asyncio.sleep(0.1)
        async with asyncio.timeout(2):  # a call never timed out fails here, not hangs
            second = await timed_out_after()
        assert 0.19 < await first < 0.3
        assert 0.19 < second < 0.3
        link.close()
        await served.wait()
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())


def test_serve_refuses_workers_without_redis() -> None:
    result = CliRunner().invoke(cli, ["serve", "--workers", "2"])
    assert result.exit_code == 1
    assert "needs WILLAY_REDIS_URL" in " ".join(result.stderr.split())
