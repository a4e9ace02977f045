"""One turn of a conversation: the state an action may read and change, and what it may call.

A channel's conversation (a USSD session, an IVR call) is stored by the channel; the dialogue
layer sees it through `Conversation`, the fields every channel keeps. Nothing a turn does leaves
the process until the channel commits: profile changes and events are held in the turn, the
channel stores the profile with its own write and calls `publish` after it.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Protocol

from recommender import TipPicker
from willay.alerts import Alert, AlertFeed, alert_data
from willay.catalog import Catalog
from willay.events import Event, EventKind, EventSink
from willay.languages import DEFAULT_LANGUAGE
from willay.profiles import Subscriber, SubscriberStore, event_subject

__all__ = ["Conversation", "Jump", "Services", "Turn"]


class Conversation(Protocol):
    """What a channel keeps of one conversation, as the shared actions read and change it."""

    @property
    def id(self) -> str: ...

    @property
    def subscriber(self) -> str | None: ...  # the pseudonym; None for a withheld number

    lang: str | None
    consent: bool | None
    value: str | None  # the value of the option just chosen
    topic: str | None
    tip_id: str | None
    tip_done: bool
    pick: dict[str, float | str]
    served: list[str]
    alert: str | None  # the alert delivered with the last reply, until the next turn


@dataclass(frozen=True)
class Jump:
    """An action's answer that names the step (and page) to rest on, bypassing `next`."""

    step: str
    page: int = 0


@dataclass(frozen=True, kw_only=True)
class Services:
    """What every channel's engine and the actions work with, built once by the app."""

    catalog: Catalog
    subscribers: SubscriberStore
    picker: TipPicker
    events: EventSink
    clock: Callable[[], dt.datetime]
    alerts: AlertFeed | None = None  # regional alerts, before the first screen or menu

    def shared(self) -> dict[str, Any]:
        """These services by field name, for a channel's services to start from."""
        return {f.name: getattr(self, f.name) for f in fields(Services)}


@dataclass(kw_only=True)
class Turn(ABC):
    """The conversation being served, the person's profile (if they consented), the services.

    A channel subclasses it, naming itself in `channel`, saying how it shows a notice and what
    it does when a tip is picked.
    """

    channel: ClassVar[str]

    services: Services
    subscriber: Subscriber | None
    events: list[Event] = field(default_factory=list)
    profile_changed: bool = False

    @property
    @abstractmethod
    def conversation(self) -> Conversation:
        """The channel's conversation (its session or call)."""

    @property
    def lang(self) -> str:
        """The conversation's language, or the default one before it is chosen."""
        return self.conversation.lang or DEFAULT_LANGUAGE

    @abstractmethod
    def note(self, notice: str) -> None:
        """Say `notice` (a journey notice, a flow prompt) with the next screen or step."""

    @abstractmethod
    def tip_served(self) -> None:
        """A tip was just picked: what the channel does beyond recording it."""

    def emit(self, kind: EventKind, **data: object) -> None:
        """Record an event of this conversation, to publish once the turn is committed."""
        conversation = self.conversation
        self.events.append(
            Event.known(
                channel=self.channel,
                kind=kind,
                subscriber=event_subject(self.subscriber, conversation.id),
                session=conversation.id,
                lang=conversation.lang,
                data=data,
            )
        )

    def publish(self) -> None:
        """Publish the events recorded, in order, as one batch (one write for a file sink)."""
        if self.events:
            self.services.events.publish_all(self.events)
            self.events = []

    @property
    def region(self) -> str | None:
        """The person's region, as events name it (None for an unknown person)."""
        return self.subscriber.region if self.subscriber else None

    def alert_due(self) -> Alert | None:
        """The alert for a known person whose profile region matches (`all`: any known one)."""
        feed = self.services.alerts
        if feed is None or self.subscriber is None:
            return None
        return feed.for_region(self.region, self.services.clock())

    def alert_delivered(self, alert: Alert) -> None:
        """`alert` goes with this turn's reply; the next turn says it was seen."""
        self.conversation.alert = alert.id
        self.emit(EventKind.alert_delivered, **alert_data(alert, region=self.region))

    def alert_seen(self) -> None:
        """The person answered after the alert was shown or played: they saw (heard) it."""
        conversation = self.conversation
        alert_id = conversation.alert
        if alert_id is not None:
            conversation.alert = None
            self.emit(EventKind.alert_seen, alert_id=alert_id, region=self.region)

    def keep_subscriber(self) -> None:
        """Store the profile (if there is one) with the turn's write."""
        self.profile_changed = self.subscriber is not None
