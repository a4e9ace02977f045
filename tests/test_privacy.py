"""What is kept about a person, inspected in Redis itself: decline and erasure, every channel."""

from __future__ import annotations

import asyncio

import pytest
import redis

from ivr.store import CallbackLedger
from sms.store import MessageRecord, SmsStore, WeekRecord
from tests.fixtures.audio import Caller
from tests.fixtures.environment import TEST_KEY
from tests.fixtures.ussd import Phone
from willay.kv import RedisStore, create_redis
from willay.profiles import pseudonym

pytestmark = pytest.mark.redis

NUMBER = "+51987654321"
WHO = pseudonym(NUMBER, TEST_KEY)


def keys_about(raw: redis.Redis, prefix: str, *needles: str) -> dict[str, str]:
    """Every key under `prefix` whose name or value mentions one of `needles`, with its value."""
    found = {}
    for key in raw.scan_iter(f"{prefix}:*"):
        kind = raw.type(key)
        value = raw.get(key) if kind == "string" else " ".join(sorted(raw.smembers(key)))
        if any(n in key or n in (value or "") for n in needles):
            found[key] = value or ""
    return found


class TestDecline:
    def test_nothing_outlives_a_declined_session(self, caller: Caller, raw_redis, ivr_settings):
        phone = Phone(caller.client, number=NUMBER, token=caller.token)
        phone.dial()
        phone.press("1", "2")  # Spanish, decline
        reply = phone.press("1")  # a tip anyway
        assert reply.status == 200 and reply.screen.endswith("\n98 Mas")  # a long tip, paged
        phone.press("98")
        assert phone.hang_up("Incomplete") == 200
        assert keys_about(raw_redis, ivr_settings.redis_prefix, WHO, phone.session_id) == {}

    def test_a_declined_call_leaves_nothing(self, caller: Caller, raw_redis, ivr_settings):
        caller.number = NUMBER
        caller.dial()
        caller.press("1")  # Spanish
        caller.press("2")  # decline
        caller.hang_up()
        assert keys_about(raw_redis, ivr_settings.redis_prefix, WHO, caller.session_id) == {}


class TestErasure:
    def test_erasure_removes_everything_on_every_channel(
        self, caller: Caller, raw_redis, ivr_settings, clock
    ) -> None:
        prefix = ivr_settings.redis_prefix
        phone = Phone(caller.client, number=NUMBER, token=caller.token)
        phone.dial()
        phone.press("1", "1")  # Spanish, accept
        phone.press("3", "3", "1")  # my profile, pregnancy: yes
        phone.press("00", "1")  # home, a tip for me
        phone.hang_up("Incomplete")  # a resume point
        # a call still going (its final notification never comes), with a tip served
        caller.number = NUMBER
        caller.dial()
        caller.press("1")
        # SMS records and a call-back ledger for the same person
        week = "2026-W25"

        async def other_channels() -> None:
            kv = RedisStore(create_redis(ivr_settings.redis_url, name="willay-test"))
            try:
                sms = SmsStore(kv, prefix=prefix)
                await sms.claim(week, WHO, record=WeekRecord(state="pending", at=clock()))
                await sms.put_message("ATXid_1", MessageRecord(subscriber=WHO, purpose="weekly"))
                ledger = CallbackLedger(kv, prefix=prefix, dedup=120, limit=3, window=86400)
                await ledger.claim(WHO, clock())
            finally:
                await kv.close()

        asyncio.run(other_channels())
        before = keys_about(raw_redis, prefix, WHO)
        assert any(":ivr:call:" in k for k in before) and any(":sms:msg:" in k for k in before)
        assert any(":ussd:resume:" in k for k in before) and any(":sub:" in k for k in before)

        phone.dial()
        phone.press("1")  # continue where I was? start over
        reply = phone.press("00", "5", "1")  # home, delete my data, yes
        assert reply.end and "borrados" in reply.screen

        left = keys_about(raw_redis, prefix, WHO, "embarazo", "pregnant")
        # only this session's place remains, holding none of their answers or inputs
        assert list(left) == [f"{prefix}:ussd:session:{phone.session_id}"]
        session = left[f"{prefix}:ussd:session:{phone.session_id}"]
        for answer in ('"served":[]', '"pending":{}', '"text":""', '"consent":null', '"pick":{}'):
            assert answer in session
        assert not raw_redis.sismember(f"{prefix}:sms:subscribers", WHO)


def test_note_keeps_the_longest_ttl(raw_redis, redis_settings) -> None:
    from willay.profiles import PersonalKeys

    async def scenario() -> None:
        kv = RedisStore(create_redis(redis_settings.redis_url, name="willay-test"))
        try:
            keys = PersonalKeys(kv, prefix=redis_settings.redis_prefix)
            await keys.note("who", "a", ttl=1000)
            await keys.note("who", "b", ttl=10)
        finally:
            await kv.close()

    asyncio.run(scenario())
    index = f"{redis_settings.redis_prefix}:about:who"
    assert raw_redis.smembers(index) == {"a", "b"}
    assert 990 < raw_redis.ttl(index) <= 1000
