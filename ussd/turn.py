"""One hop of one session: the state an action may read and change, and what it may call.

Nothing a turn does leaves the process until the hop commits: profile changes, a dropped resume
snapshot and events are held in the turn, written in the hop's one atomic write and published
after it, so a hop that loses a race (and is computed again) leaves no trace.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from recommender import TipPicker
from ussd.store import HopWrite, SessionStore, UssdSession
from willay.alerts import AlertFeed
from willay.catalog import Catalog
from willay.events import Event, EventKind, EventSink
from willay.languages import DEFAULT_LANGUAGE
from willay.messaging import TipTexter
from willay.profiles import Subscriber, SubscriberStore, event_subject

__all__ = ["Jump", "Services", "Turn"]

CHANNEL = "ussd"


@dataclass(frozen=True)
class Jump:
    """An action's answer that names the screen (and page) to show, bypassing `next`."""

    screen: str
    page: int = 0


@dataclass(frozen=True)
class Services:
    """What the engine and its actions work with, built once by the app."""

    catalog: Catalog
    sessions: SessionStore
    subscribers: SubscriberStore
    picker: TipPicker
    events: EventSink
    clock: Callable[[], dt.datetime]
    texter: TipTexter | None = None  # "text me this": SMS the tip of a session cut short
    alerts: AlertFeed | None = None  # regional alerts, one line above the first screen


@dataclass
class Turn:
    """The session being served, the person's profile (if they consented) and the services."""

    services: Services
    session: UssdSession
    subscriber: Subscriber | None
    phone: str
    resume: UssdSession | None = None  # the snapshot of this person's session cut short
    events: list[Event] = field(default_factory=list)
    profile_changed: bool = False
    profile_deleted: bool = False
    resume_dropped: bool = False

    @property
    def lang(self) -> str:
        return self.session.lang or DEFAULT_LANGUAGE

    def emit(self, kind: EventKind, **data: object) -> None:
        """Record an event of this session, to publish once the hop is committed."""
        self.events.append(
            Event(
                channel=CHANNEL,
                kind=kind,
                subscriber=event_subject(self.subscriber, self.session.id),
                session=self.session.id,
                lang=self.session.lang,
                data=data,
            )
        )

    def publish(self) -> None:
        """Publish the events recorded, in order."""
        for event in self.events:
            self.services.events.publish(event)
        self.events.clear()

    async def save_subscriber(self) -> None:
        """Store the profile (if there is one) with the hop."""
        self.profile_changed = self.subscriber is not None

    def delete_subscriber(self) -> None:
        """Erase the profile with the hop."""
        self.subscriber, self.profile_deleted = None, True

    def drop_resume(self) -> None:
        """Forget the resume snapshot with the hop."""
        self.resume, self.resume_dropped = None, True

    def write(self) -> HopWrite:
        """The hop's changes to store in its one atomic write."""
        profile = self.subscriber if self.profile_changed else None
        return HopWrite(
            session=self.session.model_dump_json(),
            profile=profile.model_dump_json() if profile is not None else None,
            delete_profile=self.profile_deleted and self.subscriber is None,
            sms_subscribed=profile is not None and profile.sms_subscribed,
            drop_resume=self.resume_dropped,
        )
