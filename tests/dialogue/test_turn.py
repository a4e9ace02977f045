"""The dialogue layer on its own: a fake text channel drives turns through the shared actions
and the action runner, its conversations and the profiles on real Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import random
from collections.abc import Awaitable, Callable
from typing import ClassVar

import pytest
from pydantic import BaseModel

from dialogue import (
    ACTIONS,
    MAX_ACTION_CHAIN,
    ActionStep,
    Conversation,
    Jump,
    Services,
    Turn,
    run_actions,
)
from recommender import RuleBasedPicker
from willay.catalog import Catalog, load_catalog
from willay.config import PROJECT_ROOT
from willay.errors import ConfigurationError
from willay.events import EventKind, MemoryEventSink
from willay.kv import KeyValueStore, RedisStore, create_redis
from willay.profiles import SubscriberStore, event_subject

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


class Chat(BaseModel):
    """A text chat's conversation: what the `Conversation` protocol asks for, a step, notices."""

    consent: bool | None = None
    id: str
    lang: str | None = None
    pick: dict[str, float | str] = {}
    said: list[str] = []  # the notices, in order
    served: list[str] = []
    step: str = "start"
    subscriber: str | None
    tip_done: bool = False
    tip_id: str | None = None
    topic: str | None = None
    value: str | None = None


@dataclasses.dataclass(kw_only=True)
class ChatTurn(Turn):
    channel: ClassVar[str] = "chat"

    chat: Chat
    tips_shown: int = 0

    @property
    def conversation(self) -> Conversation:
        return self.chat

    def note(self, notice: str) -> None:
        self.chat.said.append(notice)

    def tip_served(self) -> None:
        self.tips_shown += 1


def rest(name: str) -> ActionStep:
    """An action step every outcome of which leads to `name` (built for any outcome)."""
    outcomes = ("ok", "new", "known", "consented", "anonymous", "none", "unsigned")
    return ActionStep(type="action", run="start", next=dict.fromkeys(outcomes, name))


# the chat's flow: steps that are ActionSteps run, any other object is a step to rest on
FLOW: dict[str, object] = {
    "start": ActionStep(type="action", run="start", next={"known": "menu", "new": "language"}),
    "language": "asks the language",
    "set_language": ActionStep(
        type="action",
        run="set_language",
        next={"consented": "menu", "new": "consent", "anonymous": "menu"},
    ),
    "consent": "asks for consent",
    "accept": ActionStep(type="action", run="accept_consent", next={"ok": "menu"}),
    "decline": ActionStep(type="action", run="decline_consent", next={"ok": "menu"}),
    "menu": "the main menu",
    "pick": ActionStep(
        type="action", run="pick_for_me", next={"ok": "tip", "none": "menu", "unsigned": "help"}
    ),
    "topic": ActionStep(
        type="action", run="pick_in_topic", next={"ok": "tip", "none": "menu", "unsigned": "help"}
    ),
    "tip": "shows the tip",
    "useful": ActionStep(type="action", run="feedback_useful", next={"ok": "menu"}),
    "help": "the danger signs",
}


class ChatChannel:
    """Conversations under `<prefix>:chat:<id>`; a turn's profile and events leave on commit."""

    def __init__(self, kv: KeyValueStore, *, prefix: str, services: Services) -> None:
        self.kv, self.prefix, self.services = kv, prefix, services

    async def turn(self, chat_id: str, *, subscriber: str | None) -> ChatTurn:
        raw = await self.kv.get(f"{self.prefix}:chat:{chat_id}")
        chat = Chat.model_validate_json(raw) if raw else Chat(id=chat_id, subscriber=subscriber)
        profile = await self.services.subscribers.get(subscriber) if subscriber else None
        return ChatTurn(services=self.services, chat=chat, subscriber=profile)

    async def go(self, turn: ChatTurn, step: str, *, value: str | None = None) -> str:
        turn.chat.value = value
        rest = run_actions(turn, step, steps=FLOW, actions=ACTIONS)
        assert isinstance(rest, str)
        turn.chat.step = rest
        return rest

    async def commit(self, turn: ChatTurn) -> None:
        await self.kv.set(f"{self.prefix}:chat:{turn.chat.id}", turn.chat.model_dump_json(), ttl=60)
        if turn.profile_changed and turn.subscriber is not None:
            await self.services.subscribers.save(turn.subscriber)
        turn.publish()


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(PROJECT_ROOT / "content")


@pytest.fixture
def sink() -> MemoryEventSink:
    return MemoryEventSink()


@pytest.fixture
def on_redis(redis_url: str, redis_prefix: str, raw_redis, catalog: Catalog, sink: MemoryEventSink):
    """Runs a scenario with a chat channel on real Redis, under this test's prefix."""

    def run(scenario: Callable[[ChatChannel], Awaitable[None]]) -> None:
        async def main() -> None:
            kv = RedisStore(create_redis(redis_url, name="test-dialogue"))
            services = Services(
                catalog=catalog,
                subscribers=SubscriberStore(kv, prefix=redis_prefix),
                picker=RuleBasedPicker(rng=random.Random(7)),
                events=sink,
                clock=lambda: NOW,
            )
            try:
                await scenario(ChatChannel(kv, prefix=redis_prefix, services=services))
            finally:
                await kv.close()

        asyncio.run(main())

    return run


def test_a_new_person_consents_hears_a_tip_and_rates_it(on_redis, sink) -> None:
    async def scenario(channel: ChatChannel) -> None:
        turn = await channel.turn("c1", subscriber="p-1")
        assert await channel.go(turn, "start") == "language"
        assert await channel.go(turn, "set_language", value="quy") == "consent"
        assert await channel.go(turn, "accept") == "menu"
        assert await channel.go(turn, "pick") == "tip"
        tip_id = turn.chat.tip_id
        assert tip_id is not None and turn.chat.served == [tip_id] and turn.tips_shown == 1
        assert sink.events == [] and await channel.services.subscribers.get("p-1") is None
        await channel.commit(turn)

        assert sink.kinds() == ["consent", "tip_served"]
        assert {(e.channel, e.subscriber, e.session, e.lang) for e in sink.events} == {
            ("chat", "p-1", "c1", "quy")
        }
        profile = await channel.services.subscribers.get("p-1")
        assert profile is not None and profile.language == "quy" and profile.consent_at == NOW

        later = await channel.turn("c1", subscriber="p-1")  # the next turn reads what was stored
        assert (later.chat.step, later.chat.tip_id, later.lang) == ("tip", tip_id, "quy")
        assert await channel.go(later, "useful") == "menu"
        assert later.chat.said == ["thanks"]
        await channel.commit(later)
        assert sink.kinds()[-1] == "feedback" and sink.events[-1].data["useful"] is True
        profile = await channel.services.subscribers.get("p-1")
        assert profile is not None and [f.tip_id for f in profile.feedback] == [tip_id]

    on_redis(scenario)


def test_a_known_person_goes_straight_to_the_menu_and_keeps_a_new_language(on_redis, sink) -> None:
    async def scenario(channel: ChatChannel) -> None:
        first = await channel.turn("c2", subscriber="p-2")
        await channel.go(first, "set_language", value="es")
        await channel.go(first, "accept")
        await channel.commit(first)

        again = await channel.turn("c3", subscriber="p-2")
        again.chat.lang = again.subscriber.language if again.subscriber else None
        assert await channel.go(again, "start") == "menu"
        assert await channel.go(again, "set_language", value="quz") == "menu"
        await channel.commit(again)
        profile = await channel.services.subscribers.get("p-2")
        assert profile is not None and profile.language == "quz"
        assert sink.events[-1].data == {"field": "language"}

    on_redis(scenario)


def test_nothing_is_kept_for_a_withheld_number_or_a_declined_consent(on_redis, sink) -> None:
    async def scenario(channel: ChatChannel) -> None:
        hidden = await channel.turn("c4", subscriber=None)
        assert await channel.go(hidden, "set_language", value="es") == "menu"  # anonymous
        assert await channel.go(hidden, "accept") == "menu"
        assert hidden.subscriber is None and not hidden.profile_changed

        declined = await channel.turn("c5", subscriber="p-5")
        await channel.go(declined, "decline")
        assert await channel.go(declined, "set_language", value="es") == "menu"  # anonymous
        assert await channel.go(declined, "pick") == "tip"
        await channel.commit(hidden)
        await channel.commit(declined)
        assert await channel.services.subscribers.get("p-5") is None
        assert [e.data for e in sink.events if e.kind == "consent"] == [{"accepted": False}]
        assert {(e.session, e.subscriber) for e in sink.events} == {
            ("c5", event_subject(None, "c5"))
        }

    on_redis(scenario)


def test_a_turns_events_name_the_person_only_from_their_consent_on(on_redis) -> None:
    async def scenario(channel: ChatChannel) -> None:
        turn = await channel.turn("c6", subscriber="p-6")
        turn.emit(EventKind.hop)
        turn.emit(EventKind.menu_step)
        assert await channel.go(turn, "accept") == "menu"
        turn.emit(EventKind.hop)
        turn.subscriber, turn.chat.id = None, "c7"  # data deleted; a conversation of another id
        turn.emit(EventKind.hop)
        assert [e.subscriber for e in turn.events] == [
            event_subject(None, "c6"),
            event_subject(None, "c6"),
            "p-6",
            "p-6",
            event_subject(None, "c7"),
        ]

    on_redis(scenario)


def test_a_topic_without_a_current_tip_falls_back_to_the_danger_signs(on_redis, sink) -> None:
    async def scenario(channel: ChatChannel) -> None:
        turn = await channel.turn("c6", subscriber=None)
        turn.chat.lang = "es"
        assert await channel.go(turn, "topic", value="no-such-topic") == "help"
        assert turn.chat.tip_id is None and turn.chat.said == [] and turn.events == []

    on_redis(scenario)


def test_every_tip_heard_leaves_none_and_says_so(on_redis, catalog) -> None:
    async def scenario(channel: ChatChannel) -> None:
        turn = await channel.turn("c7", subscriber=None)
        turn.chat.lang = "es"
        topic = catalog.topics[0].id
        turn.chat.served = [t.id for t in catalog.tips if t.topic == topic]
        assert await channel.go(turn, "topic", value=topic) == "menu"
        assert turn.chat.said == ["no_tip"]

    on_redis(scenario)


def test_the_runner_stops_a_loop_an_unknown_outcome_and_follows_a_jump(on_redis) -> None:
    async def scenario(channel: ChatChannel) -> None:
        turn = await channel.turn("c8", subscriber=None)
        loop = {"a": rest("b"), "b": rest("a")}
        with pytest.raises(ConfigurationError, match=f"more than {MAX_ACTION_CHAIN} actions"):
            run_actions(turn, "a", steps=loop, actions=ACTIONS)
        no_branch = {"a": ActionStep(type="action", run="start", next={"known": "b"}), "b": "b"}
        with pytest.raises(ConfigurationError, match="no next for outcome 'new'"):
            run_actions(turn, "a", steps=no_branch, actions=ACTIONS)

        def jump(turn: ChatTurn) -> Jump:
            return Jump("b", page=2)

        steps = {"a": ActionStep(type="action", run="jump", next={"ok": "c"}), "b": "b", "c": "c"}
        assert run_actions(turn, "a", steps=steps, actions={"jump": jump}) == Jump("b", 2)
        plays = {"p": "plays a clip on the way", "c": "c"}
        passed = run_actions(
            turn,
            "p",
            steps=plays,
            actions=ACTIONS,
            passes=lambda s: "c" if s.startswith("plays") else None,
        )
        assert passed == "c"

    on_redis(scenario)
