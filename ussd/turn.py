"""One hop of one session: the state an action may read and change, and what it may call."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from recommender import TipPicker
from ussd.store import SessionStore, UssdSession
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

    @property
    def lang(self) -> str:
        return self.session.lang or DEFAULT_LANGUAGE

    def emit(self, kind: EventKind, **data: object) -> None:
        """Publish an event of this session."""
        self.services.events.publish(
            Event(
                channel=CHANNEL,
                kind=kind,
                subscriber=event_subject(self.subscriber, self.session.id),
                session=self.session.id,
                lang=self.session.lang,
                data=data,
            )
        )

    async def save_subscriber(self) -> None:
        """Store the profile, if there is one."""
        if self.subscriber is not None:
            await self.services.subscribers.save(self.subscriber)
