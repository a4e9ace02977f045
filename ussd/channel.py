"""The USSD channel as the app holds it: the engine over the journey and its session store,
built in one place, the way every channel is."""

from __future__ import annotations

from dataclasses import dataclass

from dialogue import Services
from ussd.engine import UssdEngine
from ussd.menus import Journey
from ussd.store import SessionStore
from ussd.turn import UssdServices
from willay.config import Settings
from willay.kv import KeyValueStore
from willay.messaging import TipTexter

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
        kv: KeyValueStore,
        services: Services,
        texter: TipTexter | None = None,
    ) -> UssdChannel:
        """Build the channel on the app's services; `texter` sends "text me this"."""
        sessions = SessionStore(
            kv,
            prefix=settings.redis_prefix,
            ttl=settings.ussd_session_ttl,
            resume_ttl=settings.ussd_resume_ttl,
            profiles=services.subscribers,
        )
        engine = UssdEngine(
            journey=journey,
            services=UssdServices(**services.shared(), sessions=sessions, texter=texter),
            page_chars=settings.ussd_page_chars,
            pseudonym_key=settings.pseudonym_key.get_secret_value(),
        )
        return cls(engine=engine)

    def close(self) -> None:
        """Close the session store's own connection."""
        self.engine.services.sessions.close()
