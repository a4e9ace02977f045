"""One notification of one call: the state an action may read and change, and what it may call."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from ivr.store import CallStore, IvrCall
from recommender import TipPicker
from willay.alerts import AlertFeed
from willay.catalog import Catalog
from willay.events import Event, EventKind, EventSink
from willay.languages import DEFAULT_LANGUAGE
from willay.profiles import Subscriber, SubscriberStore, event_subject

__all__ = ["CHANNEL", "CallTurn", "Services"]

CHANNEL = "ivr"


@dataclass(frozen=True)
class Services:
    """What the engine and its actions work with, built once by the app."""

    catalog: Catalog
    calls: CallStore
    subscribers: SubscriberStore
    picker: TipPicker
    events: EventSink
    clock: Callable[[], dt.datetime]
    alerts: AlertFeed | None = None  # regional alerts, played before the menu


@dataclass
class CallTurn:
    """The call being served, the caller's profile (if they consented) and the services."""

    services: Services
    call: IvrCall
    subscriber: Subscriber | None

    @property
    def lang(self) -> str:
        return self.call.lang or DEFAULT_LANGUAGE

    def emit(self, kind: EventKind, **data: object) -> None:
        """Publish an event of this call."""
        self.services.events.publish(
            Event(
                channel=CHANNEL,
                kind=kind,
                subscriber=event_subject(self.subscriber, self.call.id),
                session=self.call.id,
                lang=self.call.lang,
                data=data,
            )
        )

    async def save_subscriber(self) -> None:
        """Store the profile, if there is one."""
        if self.subscriber is not None:
            await self.services.subscribers.save(self.subscriber)
