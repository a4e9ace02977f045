"""The USSD channel as the app holds it: the engine over the journey and its session store,
built in one place, the way every channel is."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from recommender import TipPicker
from ussd.engine import UssdEngine
from ussd.menus import Journey
from ussd.store import SessionStore
from ussd.turn import UssdServices
from willay.alerts import AlertFeed
from willay.catalog import Catalog
from willay.config import Settings
from willay.events import EventSink
from willay.kv import KeyValueStore
from willay.messaging import TipTexter
from willay.profiles import SubscriberStore

__all__ = ["UssdChannel"]


@dataclass(frozen=True)
class UssdChannel:
    engine: UssdEngine

    @classmethod
    def create(
        cls,
        *,
        settings: Settings,
        journey: Journey,
        catalog: Catalog,
        kv: KeyValueStore,
        events: EventSink,
        picker: TipPicker,
        clock: Callable[[], dt.datetime],
        texter: TipTexter | None = None,
        alerts: AlertFeed | None = None,
    ) -> UssdChannel:
        """Build the channel; `texter` sends "text me this" for a session cut short."""
        subscribers = SubscriberStore(kv, prefix=settings.redis_prefix)
        services = UssdServices(
            catalog=catalog,
            sessions=SessionStore(
                kv,
                prefix=settings.redis_prefix,
                ttl=settings.ussd_session_ttl,
                resume_ttl=settings.ussd_resume_ttl,
                profiles=subscribers,
            ),
            subscribers=subscribers,
            picker=picker,
            events=events,
            clock=clock,
            texter=texter,
            alerts=alerts,
        )
        engine = UssdEngine(
            journey=journey,
            services=services,
            page_chars=settings.ussd_page_chars,
            pseudonym_key=settings.pseudonym_key.get_secret_value(),
        )
        return cls(engine=engine)

    def close(self) -> None:
        """Close the session store's own connection."""
        self.engine.services.sessions.close()
