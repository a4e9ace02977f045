"""The SMS channel put together once, from the settings and the app's shared services."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from recommender import TipPicker
from sms.alerts import AlertTexter
from sms.gateway import SmsGateway
from sms.inbox import SmsInbox
from sms.schedule import Schedule
from sms.sender import WeeklySender
from sms.services import SmsServices
from sms.store import SmsStore
from sms.texter import SmsTipTexter
from willay.catalog import Catalog
from willay.config import Settings
from willay.events import EventSink
from willay.kv import KeyValueStore
from willay.profiles import SubscriberStore
from willay.provider import sms_service

__all__ = ["SmsChannel"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmsChannel:
    """The weekly sender, the callbacks' inbox, "text me this" (None without credentials) and
    the alert texter."""

    services: SmsServices
    sender: WeeklySender
    alerts: AlertTexter
    inbox: SmsInbox
    texter: SmsTipTexter | None

    @classmethod
    def create(
        cls,
        *,
        settings: Settings,
        kv: KeyValueStore,
        events: EventSink,
        catalog: Catalog,
        picker: TipPicker,
        clock: Callable[[], dt.datetime],
    ) -> SmsChannel:
        """The channel on the app's store, events, catalog and picker."""
        gateway = None
        if settings.at_api_key is None:
            log.warning("WILLAY_AT_API_KEY is unset: SMS will not be sent")
        else:
            gateway = SmsGateway(sms_service(settings), sender_id=settings.sms_sender_id)
        services = SmsServices(
            settings=settings,
            schedule=Schedule.from_settings(settings),
            store=SmsStore(kv, prefix=settings.redis_prefix),
            subscribers=SubscriberStore(kv, prefix=settings.redis_prefix),
            catalog=catalog,
            picker=picker,
            events=events,
            gateway=gateway,
            clock=clock,
        )
        return cls(
            services=services,
            sender=WeeklySender(services),
            alerts=AlertTexter(services),
            inbox=SmsInbox(services),
            texter=SmsTipTexter(services) if gateway is not None else None,
        )

    async def close(self) -> None:
        """Wait for the tips being texted."""
        if self.texter is not None:
            await self.texter.drain()
