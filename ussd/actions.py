"""The actions a journey's `action` screens run, by name: the dialogue's shared actions and
those only USSD has (resume, the profile form, SMS subscription, erasure).

An action reads and changes the `UssdTurn` and answers an outcome naming the `next` branch, or a
`Jump` to a screen. Profile answers are stored only for people who consented.
"""

from __future__ import annotations

from dialogue import ACTIONS as SHARED_ACTIONS
from dialogue import Action, Jump, answers
from dialogue.actions import start as open_conversation
from ussd.store import UssdSession
from ussd.turn import UssdTurn
from willay.events import EventKind

__all__ = ["ACTIONS"]

RESUME_KEEPS = {"id", "text", "hops", "replies", "drafts", "started_at", "subscriber"}
RESUME_KEEPS |= {"consent", "notice"}
KEPT_ON_ERASURE = {"id", "subscriber", "screen", "page", "lang", "hops", "started_at"}


@answers("resume", "known", "new")
def start(turn: UssdTurn) -> str | Jump:
    """Open a session: `resume` if one was cut short, else `known` or `new` by language."""
    snapshot = turn.resume
    if snapshot is not None:
        turn.session.lang = turn.session.lang or snapshot.lang
        return "resume"
    return open_conversation(turn)


@answers("ok")
def resume(turn: UssdTurn) -> str | Jump:
    """Take up the session cut short where it stood (its screen and page)."""
    snapshot = turn.resume
    turn.drop_resume()
    if snapshot is None:
        return "ok"
    for name, value in snapshot:
        if name not in RESUME_KEEPS:
            setattr(turn.session, name, value)
    return Jump(snapshot.screen, snapshot.page)


@answers("known", "new")
def start_over(turn: UssdTurn) -> str | Jump:
    """Forget the session cut short and open this one afresh."""
    turn.drop_resume()
    return open_conversation(turn)


@answers("given", "missing")
def need_consent(turn: UssdTurn) -> str:
    """`given` for a person who consented; else `missing`, saying consent is needed."""
    if turn.subscriber is not None:
        return "given"
    turn.note("need_consent")
    return "missing"


def _answer(field: str, value: str) -> str | bool:
    return value == "yes" if field in {"pregnant", "child_under5"} else value


@answers("ok")
def save_profile(turn: UssdTurn) -> str:
    """Store the profile answers this session gathered (for a person who consented)."""
    pending, turn.session.pending = turn.session.pending, {}
    if turn.subscriber is None:
        turn.note("need_consent")
        return "ok"
    for field, value in pending.items():
        setattr(turn.subscriber, field, _answer(field, value))
        shown = {"region": value} if field == "region" else {}
        turn.emit(EventKind.profile_update, field=field, **shown)
    turn.keep_subscriber()
    turn.note("saved")
    return "ok"


@answers("subscribed", "not_subscribed", "missing")
def sms_status(turn: UssdTurn) -> str:
    """`subscribed` or `not_subscribed` to the weekly SMS; `missing` without consent."""
    if turn.subscriber is None:
        turn.note("need_consent")
        return "missing"
    return "subscribed" if turn.subscriber.sms_since else "not_subscribed"


@answers("ok")
def subscribe_sms(turn: UssdTurn) -> str:
    """Subscribe this number to the weekly SMS, on the day chosen."""
    day = turn.session.value
    if turn.subscriber is not None:
        turn.subscriber.sms_since = turn.services.clock()
        turn.subscriber.sms_number = turn.phone
        turn.subscriber.sms_day = int(day) if day is not None and day.isdigit() else None
        turn.keep_subscriber()
        turn.emit(EventKind.subscribe, medium="sms", day=turn.subscriber.sms_day)
    return "ok"


@answers("ok")
def unsubscribe_sms(turn: UssdTurn) -> str:
    """Stop the weekly SMS and forget the number."""
    if turn.subscriber is not None:
        turn.subscriber.sms_since = turn.subscriber.sms_number = None
        turn.keep_subscriber()
        turn.emit(EventKind.unsubscribe, medium="sms")
    return "ok"


@answers("ok")
def delete_data(turn: UssdTurn) -> str:
    """Erase the person's profile and everything this session knows of them but where it is."""
    turn.drop_resume()
    turn.emit(EventKind.data_deleted)
    turn.delete_subscriber()
    for name, field in UssdSession.model_fields.items():
        if name not in KEPT_ON_ERASURE:
            setattr(turn.session, name, field.get_default(call_default_factory=True))
    return "ok"


ACTIONS: dict[str, Action[UssdTurn]] = {
    **SHARED_ACTIONS,
    "start": start,
    "resume": resume,
    "start_over": start_over,
    "need_consent": need_consent,
    "save_profile": save_profile,
    "sms_status": sms_status,
    "subscribe_sms": subscribe_sms,
    "unsubscribe_sms": unsubscribe_sms,
    "delete_data": delete_data,
}
