"""The actions every channel shares, by name: an explicit registry a channel extends.

An action reads and changes the `Turn` and answers the outcome naming the step's `next` branch
(or a `Jump`); it declares the outcomes it can answer with `answers`, so a loader can refuse a
step whose `next` misses one. The language and the answers go into the profile only for people
who consented; the profile is one across channels, so a language chosen on one holds on all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar, cast

from dialogue.turn import Jump, Turn
from recommender import feedback_data, pick_for
from willay.events import EventKind
from willay.profiles import Feedback, Subscriber

__all__ = ["ACTIONS", "Action", "answers", "start"]

T = TypeVar("T", bound=Turn)
T_contra = TypeVar("T_contra", bound=Turn, contravariant=True)

Run = Callable[[T], str | Jump]


class Action(Protocol[T_contra]):
    """A step's action: answers one of its `outcomes` (or a `Jump`, which needs no branch)."""

    outcomes: frozenset[str]

    def __call__(self, turn: T_contra, /) -> str | Jump: ...


def answers(*outcomes: str) -> Callable[[Run[T]], Action[T]]:
    """Declare the outcomes an action can answer: the `next` branches its step must give."""

    def declare(run: Run[T]) -> Action[T]:
        run.outcomes = frozenset(outcomes)  # type: ignore[attr-defined]
        return cast("Action[T]", run)

    return declare


@answers("known", "new")
def start(turn: Turn) -> str:
    """Open a conversation: `known` if its language is known, else `new`."""
    return "known" if turn.conversation.lang else "new"


@answers("consented", "new", "anonymous")
def set_language(turn: Turn) -> str:
    """Set the chosen language (kept in the profile of a person who consented).

    Outcomes: `consented`; `new` (consent may be asked); `anonymous` (nothing can be kept: a
    withheld number, or consent declined).
    """
    conversation = turn.conversation
    conversation.lang = conversation.value
    if turn.subscriber is not None:
        turn.subscriber.language = turn.lang
        turn.keep_subscriber()
        turn.emit(EventKind.profile_update, field="language")
        return "consented"
    if conversation.subscriber is None or conversation.consent is False:
        return "anonymous"
    return "new"


@answers("ok")
def accept_consent(turn: Turn) -> str:
    """Start the person's profile with their consent (a withheld number: nobody to keep)."""
    conversation = turn.conversation
    if conversation.subscriber is None:
        return "ok"
    turn.subscriber = Subscriber(
        id=conversation.subscriber, language=turn.lang, consent_at=turn.services.clock()
    )
    turn.keep_subscriber()
    conversation.consent = True
    turn.emit(EventKind.consent, accepted=True)
    return "ok"


@answers("ok")
def decline_consent(turn: Turn) -> str:
    """Record that the person declined: nothing about them outlives the conversation."""
    turn.conversation.consent = False
    turn.emit(EventKind.consent, accepted=False)
    return "ok"


SERVED = ("ok", "none", "unsigned")  # a tip served; none left; nothing signed off to serve


def _serve_tip(turn: Turn, topic: str | None) -> str:
    conversation, services = turn.conversation, turn.services
    picked = pick_for(
        turn.subscriber,
        picker=services.picker,
        catalog=services.catalog,
        now=services.clock(),
        channel=turn.channel,
        language=turn.lang,
        exclude=conversation.served,
        topic=topic,
    )
    if picked is None:
        if not services.catalog.current_tips(services.clock().date(), topic):
            return "unsigned"  # nothing reviewed to serve here: the danger signs instead
        turn.note("no_tip")
        return "none"
    conversation.topic, conversation.tip_id = topic, picked.tip.id
    conversation.tip_done = False
    conversation.served.append(picked.tip.id)
    conversation.pick = picked.log
    turn.tip_served()
    turn.keep_subscriber()
    turn.emit(EventKind.tip_served, **picked.served_data(language=turn.lang, region=turn.region))
    return "ok"


@answers(*SERVED)
def pick_for_me(turn: Turn) -> str:
    """Serve the tip the picker ranks first for this person (`ok`, `none`, `unsigned`)."""
    return _serve_tip(turn, None)


@answers(*SERVED)
def pick_in_topic(turn: Turn) -> str:
    """Serve a tip of the topic just chosen (`ok`, `none`, `unsigned`)."""
    return _serve_tip(turn, turn.conversation.value)


@answers(*SERVED)
def another_tip(turn: Turn) -> str:
    """Serve another tip of the topic being served (`ok`, `none`, `unsigned`)."""
    return _serve_tip(turn, turn.conversation.topic)


def _feedback(turn: Turn, *, useful: bool) -> str:
    conversation = turn.conversation
    tip_id = conversation.tip_id
    if tip_id is None:
        return "ok"
    if turn.subscriber is not None:
        turn.subscriber.feedback.append(
            Feedback(tip_id=tip_id, useful=useful, at=turn.services.clock())
        )
        turn.keep_subscriber()
    data = feedback_data(turn.services.catalog, tip_id=tip_id, useful=useful, log=conversation.pick)
    turn.emit(EventKind.feedback, **data)
    turn.note("thanks")
    return "ok"


@answers("ok")
def feedback_useful(turn: Turn) -> str:
    """Record that the tip served was useful, and thank the person."""
    return _feedback(turn, useful=True)


@answers("ok")
def feedback_not_useful(turn: Turn) -> str:
    """Record that the tip served was not useful, and thank the person."""
    return _feedback(turn, useful=False)


ACTIONS: dict[str, Action[Turn]] = {
    "start": start,
    "set_language": set_language,
    "accept_consent": accept_consent,
    "decline_consent": decline_consent,
    "pick_for_me": pick_for_me,
    "pick_in_topic": pick_in_topic,
    "another_tip": another_tip,
    "feedback_useful": feedback_useful,
    "feedback_not_useful": feedback_not_useful,
}
