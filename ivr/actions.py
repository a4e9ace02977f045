"""The actions a flow's `action` nodes run, by name: an explicit registry.

An action reads and changes the `CallTurn` and answers the outcome naming the `next` branch.
The language and the answers go into the profile only for people who consented; the profile
is the one USSD uses, so a language chosen on either channel holds on both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ivr.turn import CHANNEL, CallTurn
from recommender import feedback_data, pick_for
from willay.events import EventKind
from willay.profiles import Feedback, Subscriber

__all__ = ["ACTIONS", "Action"]

Action = Callable[[CallTurn], Awaitable[str]]


async def start(turn: CallTurn) -> str:
    return "known" if turn.call.lang else "new"


async def set_language(turn: CallTurn) -> str:
    turn.call.lang = turn.call.value
    if turn.subscriber is not None:
        turn.subscriber.language = turn.lang
        await turn.save_subscriber()
        turn.emit(EventKind.profile_update, field="language")
        return "consented"
    if turn.call.subscriber is None or turn.call.consent is False:
        return "anonymous"  # nothing can be kept: a withheld number, or consent declined
    return "new"


async def accept_consent(turn: CallTurn) -> str:
    if turn.call.subscriber is None:
        return "ok"  # a withheld number: there is nobody to keep anything for
    turn.subscriber = Subscriber(
        id=turn.call.subscriber, language=turn.lang, consent_at=turn.services.clock()
    )
    await turn.save_subscriber()
    turn.call.consent = True
    turn.emit(EventKind.consent, accepted=True)
    return "ok"


async def decline_consent(turn: CallTurn) -> str:
    turn.call.consent = False
    turn.emit(EventKind.consent, accepted=False)
    return "ok"


async def _serve_tip(turn: CallTurn, topic: str | None) -> str:
    call, services = turn.call, turn.services
    picked = pick_for(
        turn.subscriber,
        picker=services.picker,
        catalog=services.catalog,
        now=services.clock(),
        channel=CHANNEL,
        language=turn.lang,
        exclude=call.served,
        topic=topic,
    )
    if picked is None:
        call.notices.append("no_tip")
        return "none"
    call.topic, call.tip_id, call.tip_done, call.play_tip = topic, picked.tip.id, False, True
    call.served.append(picked.tip.id)
    call.pick = picked.log
    await turn.save_subscriber()
    region = turn.subscriber.region if turn.subscriber else None
    turn.emit(EventKind.tip_served, **picked.served_data(language=turn.lang, region=region))
    return "ok"


async def pick_for_me(turn: CallTurn) -> str:
    return await _serve_tip(turn, None)


async def pick_in_topic(turn: CallTurn) -> str:
    return await _serve_tip(turn, turn.call.value)


async def another_tip(turn: CallTurn) -> str:
    return await _serve_tip(turn, turn.call.topic)


async def repeat_tip(turn: CallTurn) -> str:
    turn.call.play_tip = turn.call.tip_id is not None
    return "ok"


async def _feedback(turn: CallTurn, *, useful: bool) -> str:
    tip_id = turn.call.tip_id
    if tip_id is None:
        return "ok"
    if turn.subscriber is not None:
        turn.subscriber.feedback.append(
            Feedback(tip_id=tip_id, useful=useful, at=turn.services.clock())
        )
        await turn.save_subscriber()
    data = feedback_data(turn.services.catalog, tip_id=tip_id, useful=useful, log=turn.call.pick)
    turn.emit(EventKind.feedback, **data)
    turn.call.notices.append("thanks")
    return "ok"


async def feedback_useful(turn: CallTurn) -> str:
    return await _feedback(turn, useful=True)


async def feedback_not_useful(turn: CallTurn) -> str:
    return await _feedback(turn, useful=False)


ACTIONS: dict[str, Action] = {
    "start": start,
    "set_language": set_language,
    "accept_consent": accept_consent,
    "decline_consent": decline_consent,
    "pick_for_me": pick_for_me,
    "pick_in_topic": pick_in_topic,
    "another_tip": another_tip,
    "repeat_tip": repeat_tip,
    "feedback_useful": feedback_useful,
    "feedback_not_useful": feedback_not_useful,
}
