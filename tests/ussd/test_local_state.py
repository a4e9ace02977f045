"""A process starts a session's next hop from what its own last commit left, on real Redis.

Two apps on one Redis prefix stand for two server processes. The state a process remembers
saves the read; the compare-and-set still checks it against the store, so whatever another
process did in between (moved the session, changed the profile) wins, and nothing is applied
twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

import ussd.store
from shell.app import create_app
from tests.fixtures.ussd import FixedClock, Phone
from ussd.store import SessionStore, UssdSession
from willay.config import Settings
from willay.events import MemoryEventSink
from willay.profiles import Subscriber, pseudonym

from ..fixtures.environment import TEST_KEY

pytestmark = pytest.mark.redis

NUMBER = "+51987650001"


class Process:
    """One app, with a count of the hop reads that went to Redis."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.store: SessionStore = client.app_state["ussd"].engine.services.sessions
        self.reads = 0
        backend = self.store._hops
        read = backend.read

        async def counted(keys: ussd.store.HopKeys) -> tuple[str | None, ...]:
            self.reads += 1
            return await read(keys)

        backend.read = counted  # type: ignore[method-assign]

    def phone(self, session_id: str = "") -> Phone:
        return Phone(self.client, number=NUMBER, session_id=session_id)


@pytest.fixture
def processes(
    redis_settings: Settings, events: MemoryEventSink, clock: FixedClock
) -> Iterator[tuple[Process, Process]]:
    with (
        TestClient(create_app(redis_settings, events=events, clock=clock)) as a,
        TestClient(create_app(redis_settings, events=events, clock=clock)) as b,
    ):
        yield Process(a), Process(b)


@pytest.fixture
def consenting(processes: tuple[Process, Process]) -> tuple[Process, Process, Phone]:
    """A new person's session on process a, at the consent screen (a remembers it)."""
    a, b = processes
    phone = a.phone()
    phone.dial()
    assert "1 Acepto" in at(phone, "1")
    return a, b, phone


def at(phone: Phone, *inputs: str) -> str:
    """The screen for the session's text `inputs`, sent as the gateway sends it."""
    phone.inputs = list(inputs)
    reply = phone.hop()
    assert reply.status == 200, reply.body
    return reply.body


def stored(raw_redis, redis_prefix: str, key: str) -> dict:
    return json.loads(raw_redis.get(f"{redis_prefix}:{key}"))


def kinds(events: MemoryEventSink, session_id: str, kind: str) -> int:
    return sum(e.session == session_id and e.kind == kind for e in events.events)


def test_a_sessions_next_hops_in_one_process_read_nothing(
    consenting, raw_redis, redis_prefix
) -> None:
    a, _, phone = consenting  # dialed (read), then the consent screen
    assert a.reads == 1
    assert "1 Consejo para mi" in at(phone, "1", "1")
    tip = at(phone, "1", "1", "1")
    assert a.reads == 1  # the first hop read; the next three started from their commits
    session = stored(raw_redis, redis_prefix, f"ussd:session:{phone.session_id}")
    assert (session["text"], session["hops"], session["screen"]) == ("1*1*1", 4, "tip")
    assert session["replies"]["1*1*1"] == tip


def test_a_hop_from_memory_parses_nothing_its_last_commit_wrote(
    consenting, monkeypatch, raw_redis, redis_prefix
) -> None:
    a, _, phone = consenting
    parsed: list[str] = []
    for model in (UssdSession, Subscriber):
        parse = model.model_validate_json

        def counted(raw: str, *, _parse=parse, _name=model.__name__, **kwargs) -> object:
            parsed.append(_name)
            return _parse(raw, **kwargs)

        monkeypatch.setattr(model, "model_validate_json", counted)
    assert "1 Consejo para mi" in at(phone, "1", "1")  # consent: the profile is written
    tip = at(phone, "1", "1", "1")  # a tip, on the session and profile the consent wrote
    assert parsed == [] and a.reads == 1
    profile = stored(raw_redis, redis_prefix, f"sub:{pseudonym(NUMBER, TEST_KEY)}")
    session = stored(raw_redis, redis_prefix, f"ussd:session:{phone.session_id}")
    assert list(profile["heard"]) == session["served"] and len(session["served"]) == 1
    assert (session["screen"], session["replies"]["1*1*1"]) == ("tip", tip)


def test_a_hop_after_another_process_moved_the_session_is_applied_on_that(
    consenting, events, raw_redis, redis_prefix
) -> None:
    a, b, phone = consenting
    main = at(b.phone(phone.session_id), "1", "1")  # b accepts: the main menu
    assert "1 Consejo para mi" in main
    reads = a.reads
    tip = at(phone, "1", "1", "1")  # a's memory is stale: refused, applied on b's state
    assert a.reads == reads  # the refusal brought b's state: no read on top of it
    assert "Consejo para mi" not in tip  # a tip's first page (a long tip's "Fuente" is later)
    assert kinds(events, phone.session_id, "consent") == 1
    session = stored(raw_redis, redis_prefix, f"ussd:session:{phone.session_id}")
    assert (session["hops"], session["screen"], session["replies"]["1*1*1"]) == (4, "tip", tip)


def test_a_retry_to_a_process_that_missed_the_hop_gets_the_stored_screen(
    consenting, events, raw_redis, redis_prefix
) -> None:
    a, b, phone = consenting
    main = at(b.phone(phone.session_id), "1", "1")
    assert at(phone, "1", "1") == main  # the gateway retried b's hop on a
    assert kinds(events, phone.session_id, "consent") == 1
    assert stored(raw_redis, redis_prefix, f"ussd:session:{phone.session_id}")["hops"] == 3


def test_a_retry_is_answered_as_the_store_has_it_not_from_memory(
    consenting, events, raw_redis, redis_prefix
) -> None:
    a, b, phone = consenting
    main = at(phone, "1", "1")  # a remembers the reply to "1*1"
    at(b.phone(phone.session_id), "1", "1", "1")  # b moves the session on
    reads = a.reads
    assert at(phone, "1", "1") == main
    assert a.reads == reads + 1  # a retry asks the store, which may know later hops
    session = stored(raw_redis, redis_prefix, f"ussd:session:{phone.session_id}")
    assert (session["hops"], session["screen"]) == (4, "tip")


def test_a_profile_changed_elsewhere_is_kept_by_the_next_hop(
    consenting, raw_redis, redis_prefix
) -> None:
    a, _, phone = consenting
    at(phone, "1", "1")  # consent: a remembers the new profile
    profile_key = f"sub:{pseudonym(NUMBER, TEST_KEY)}"
    profile = stored(raw_redis, redis_prefix, profile_key)
    profile["region"] = "puno"  # another channel changes it meanwhile
    raw_redis.set(f"{redis_prefix}:{profile_key}", json.dumps(profile))
    at(phone, "1", "1", "1")  # a tip: the hop writes the profile (the tip heard)
    after = stored(raw_redis, redis_prefix, profile_key)
    assert after["region"] == "puno"  # not overwritten by a's stale copy
    assert len(after["heard"]) == 1


def test_memory_is_bounded_and_ends_with_the_session(
    processes, monkeypatch, raw_redis, redis_prefix
) -> None:
    monkeypatch.setattr(ussd.store, "RECENT_KEPT", 3)
    a, _ = processes
    phones = [Phone(a.client, number=f"+5198765{n:04d}") for n in range(5)]
    for phone in phones:
        phone.dial()
    assert len(a.store._recent) == 3
    reads = a.reads
    at(phones[0], "1")  # forgotten: read again
    assert a.reads == reads + 1
    at(phones[-1], "1")  # remembered
    assert a.reads == reads + 1
    assert phones[-1].hang_up() == 200  # the session is over: its state and memory go
    assert f"{redis_prefix}:ussd:session:{phones[-1].session_id}" not in a.store._recent
    assert raw_redis.get(f"{redis_prefix}:ussd:session:{phones[-1].session_id}") is None


def test_memory_older_than_a_session_is_not_used(processes, monkeypatch) -> None:
    a, _ = processes
    phone = a.phone()
    phone.dial()
    reads = a.reads
    later = time.monotonic() + a.client.app_state["ussd"].engine.services.sessions._ttl
    monkeypatch.setattr(ussd.store.time, "monotonic", lambda: later)
    assert "1 Acepto" in at(phone, "1")
    assert a.reads == reads + 1  # the store may have let the session go: read


def test_an_erasure_leaves_no_copy_of_the_person_in_memory(
    processes, raw_redis, redis_prefix
) -> None:
    a, _ = processes
    first, second = a.phone(), a.phone()
    first.dial()
    at(first, "1")
    at(first, "1", "1")  # consented: a remembers the profile with this session
    second.dial()  # the same person, a second session: straight to the main menu
    at(second, "5")
    assert "borrados" in at(second, "5", "1")  # confirmed: erased
    who = pseudonym(NUMBER, TEST_KEY)
    assert raw_redis.get(f"{redis_prefix}:sub:{who}") is None
    assert all(
        read.subscriber != who or read.profile is None for _, read in a.store._recent.values()
    )
    assert f"{redis_prefix}:ussd:session:{first.session_id}" not in a.store._recent
