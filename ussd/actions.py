"""The actions a journey's `action` screens run, by name: an explicit registry.

An action reads and changes the `Turn` and answers an outcome naming the `next` branch, or a
`Jump` to a screen. Profile answers are stored only for people who consented.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from recommender import feedback_data, pick_for
from ussd.store import UssdSession
from ussd.turn import Jump, Turn
from willay.events import EventKind
from willay.profiles import Feedback, Subscriber

__all__ = ["ACTIONS", "Action"]

Action = Callable[[Turn], Awaitable[str | Jump]]


async def start(turn: Turn) -> str:
    snapshot = turn.resume
    if snapshot is not None:
        turn.session.lang = turn.session.lang or snapshot.lang
        return "resume"
    return "known" if turn.session.lang else "new"


async def resume(turn: Turn) -> str | Jump:
    snapshot = turn.resume
    turn.drop_resume()
    if snapshot is None:
        return "ok"
    kept = {
        "id",
        "text",
        "hops",
        "replies",
        "drafts",
        "started_at",
        "subscriber",
        "consent",
        "notice",
    }
    for name, value in snapshot:
        if name not in kept:
            setattr(turn.session, name, value)
    return Jump(snapshot.screen, snapshot.page)


async def start_over(turn: Turn) -> str:
    turn.drop_resume()
    return "known" if turn.session.lang else "new"


async def set_language(turn: Turn) -> str:
    turn.session.lang = turn.session.value
    if turn.subscriber is None:
        return "new"
    turn.subscriber.language = turn.lang
    await turn.save_subscriber()
    turn.emit(EventKind.profile_update, field="language")
    return "consented"


async def accept_consent(turn: Turn) -> str:
    turn.subscriber = Subscriber(
        id=turn.session.subscriber, language=turn.lang, consent_at=turn.services.clock()
    )
    await turn.save_subscriber()
    turn.session.consent = True
    turn.emit(EventKind.consent, accepted=True)
    return "ok"


async def decline_consent(turn: Turn) -> str:
    turn.session.consent = False
    turn.emit(EventKind.consent, accepted=False)
    return "ok"


async def _serve_tip(turn: Turn, topic: str | None) -> str:
    session, services = turn.session, turn.services
    picked = pick_for(
        turn.subscriber,
        picker=services.picker,
        catalog=services.catalog,
        now=services.clock(),
        channel="ussd",
        language=turn.lang,
        exclude=session.served,
        topic=topic,
    )
    if picked is None:
        if not services.catalog.current_tips(services.clock().date(), topic):
            return "unsigned"  # nothing reviewed to serve here: the danger signs instead
        session.notice = "no_tip"
        return "none"
    session.topic, session.tip_id, session.tip_done = topic, picked.tip.id, False
    session.served.append(picked.tip.id)
    session.pick = picked.log
    await turn.save_subscriber()
    region = turn.subscriber.region if turn.subscriber else None
    turn.emit(EventKind.tip_served, **picked.served_data(language=turn.lang, region=region))
    return "ok"


async def pick_for_me(turn: Turn) -> str:
    return await _serve_tip(turn, None)


async def pick_in_topic(turn: Turn) -> str:
    return await _serve_tip(turn, turn.session.value)


async def another_tip(turn: Turn) -> str:
    return await _serve_tip(turn, turn.session.topic)


async def _feedback(turn: Turn, *, useful: bool) -> str:
    tip_id = turn.session.tip_id
    if tip_id is None:
        return "ok"
    if turn.subscriber is not None:
        turn.subscriber.feedback.append(
            Feedback(tip_id=tip_id, useful=useful, at=turn.services.clock())
        )
        await turn.save_subscriber()
    data = feedback_data(turn.services.catalog, tip_id=tip_id, useful=useful, log=turn.session.pick)
    turn.emit(EventKind.feedback, **data)
    turn.session.notice = "thanks"
    return "ok"


async def feedback_useful(turn: Turn) -> str:
    return await _feedback(turn, useful=True)


async def feedback_not_useful(turn: Turn) -> str:
    return await _feedback(turn, useful=False)


async def need_consent(turn: Turn) -> str:
    if turn.subscriber is not None:
        return "given"
    turn.session.notice = "need_consent"
    return "missing"


def _answer(field: str, value: str) -> str | bool:
    return value == "yes" if field in {"pregnant", "child_under5"} else value


async def save_profile(turn: Turn) -> str:
    pending, turn.session.pending = turn.session.pending, {}
    if turn.subscriber is None:
        turn.session.notice = "need_consent"
        return "ok"
    for field, value in pending.items():
        setattr(turn.subscriber, field, _answer(field, value))
        shown = {"region": value} if field == "region" else {}
        turn.emit(EventKind.profile_update, field=field, **shown)
    await turn.save_subscriber()
    turn.session.notice = "saved"
    return "ok"


async def sms_status(turn: Turn) -> str:
    if turn.subscriber is None:
        turn.session.notice = "need_consent"
        return "missing"
    return "subscribed" if turn.subscriber.sms_since else "not_subscribed"


async def subscribe_sms(turn: Turn) -> str:
    day = turn.session.value
    if turn.subscriber is not None:
        turn.subscriber.sms_since = turn.services.clock()
        turn.subscriber.sms_number = turn.phone
        turn.subscriber.sms_day = int(day) if day is not None and day.isdigit() else None
        await turn.save_subscriber()
        turn.emit(EventKind.subscribe, medium="sms", day=turn.subscriber.sms_day)
    return "ok"


async def unsubscribe_sms(turn: Turn) -> str:
    if turn.subscriber is not None:
        turn.subscriber.sms_since = turn.subscriber.sms_number = None
        await turn.save_subscriber()
        turn.emit(EventKind.unsubscribe, medium="sms")
    return "ok"


KEPT_ON_ERASURE = {"id", "subscriber", "screen", "page", "lang", "hops", "started_at"}


async def delete_data(turn: Turn) -> str:
    turn.drop_resume()
    turn.emit(EventKind.data_deleted)
    turn.delete_subscriber()
    # this session forgets their answers, choices and keys: only where it is stays
    for name, field in UssdSession.model_fields.items():
        if name not in KEPT_ON_ERASURE:
            setattr(turn.session, name, field.get_default(call_default_factory=True))
    return "ok"


ACTIONS: dict[str, Action] = {
    "start": start,
    "resume": resume,
    "start_over": start_over,
    "set_language": set_language,
    "accept_consent": accept_consent,
    "decline_consent": decline_consent,
    "pick_for_me": pick_for_me,
    "pick_in_topic": pick_in_topic,
    "another_tip": another_tip,
    "feedback_useful": feedback_useful,
    "feedback_not_useful": feedback_not_useful,
    "need_consent": need_consent,
    "save_profile": save_profile,
    "sms_status": sms_status,
    "subscribe_sms": subscribe_sms,
    "unsubscribe_sms": unsubscribe_sms,
    "delete_data": delete_data,
}
