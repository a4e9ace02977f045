"""What the SMS channel works with, and the one way it sends: `SmsServices.deliver`.

`deliver` sends one text to a group of people in one provider request and records what the
provider answered for each: accepted messages are kept by id (for delivery reports) and
published as `sms_sent` with their segment count, refusals as `sms_failed`; a person the
provider reports as blacklisted (they opted out with the provider) is unsubscribed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from recommender import TipPicker
from sms.gateway import BLACKLISTED, Receipt, SmsGateway
from sms.message import SmsText
from sms.schedule import Schedule
from sms.store import MessageRecord, Purpose, SmsStore
from willay.catalog import Catalog
from willay.config import Settings
from willay.errors import ConfigurationError
from willay.events import Event, EventKind, EventSink
from willay.profiles import Subscriber, SubscriberStore

__all__ = ["CHANNEL", "Recipient", "SmsServices"]

CHANNEL = "sms"


@dataclass(frozen=True)
class Recipient:
    """Who gets a message: the pseudonym for records and events, the number for the provider."""

    subscriber: str
    number: str
    lang: str


@dataclass(frozen=True)
class SmsServices:
    """Built once by the app (or the CLI) and shared by the sender, the texter and the inbox."""

    settings: Settings
    schedule: Schedule
    store: SmsStore
    subscribers: SubscriberStore
    catalog: Catalog
    picker: TipPicker
    events: EventSink
    gateway: SmsGateway | None
    clock: Callable[[], dt.datetime]

    def emit(
        self,
        event: EventKind,
        /,
        *,
        subscriber: str,
        lang: str | None = None,
        session: str | None = None,
        **data: Any,
    ) -> None:
        """Publish an SMS event, leaving out empty data; `subscriber` is a pseudonym."""
        self.events.publish(
            Event(
                channel=CHANNEL,
                kind=event,
                subscriber=subscriber,
                session=session,
                lang=lang,
                data={name: value for name, value in data.items() if value is not None},
            )
        )

    async def end_subscription(self, subscriber_id: str, *, via: str) -> Subscriber | None:
        """Stop the weekly SMS of this person (forgetting their number); their profile, if any."""
        subscriber = await self.subscribers.get(subscriber_id)
        if subscriber is None or not subscriber.sms_subscribed:
            return subscriber
        subscriber.sms_since = subscriber.sms_number = None
        await self.subscribers.save(subscriber)
        self.emit(
            EventKind.unsubscribe,
            subscriber=subscriber_id,
            lang=subscriber.language,
            medium="sms",
            via=via,
        )
        return subscriber

    async def deliver(
        self,
        message: SmsText,
        recipients: Sequence[Recipient],
        *,
        purpose: Purpose,
        session: str | None = None,
        week: str | None = None,
        tip_id: str | None = None,
        per_recipient: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> dict[str, Receipt | None]:
        """Send `message` to `recipients` in one request; each one's receipt, by pseudonym.

        `per_recipient` adds data to each person's event (how their tip was picked). A recipient
        missing from the provider's answer gets None. Raises `ProviderError` (or
        `ProviderTimeout`) when the request as a whole failed.
        """
        if self.gateway is None:
            raise ConfigurationError("WILLAY_AT_API_KEY is not set: SMS cannot be sent")
        receipts = await self.gateway.send(message.text, [r.number for r in recipients])
        found: dict[str, Receipt | None] = {}
        for recipient in recipients:
            receipt = found[recipient.subscriber] = receipts.get(recipient.number)
            if receipt is None:
                continue
            extra = (per_recipient or {}).get(recipient.subscriber, {})
            common = {"purpose": purpose, "tip_id": tip_id, "status": receipt.status, **extra}
            common |= {"lang": recipient.lang, "session": session}
            if receipt.accepted:
                if receipt.message_id is not None:
                    await self.store.put_message(
                        receipt.message_id,
                        MessageRecord(
                            subscriber=recipient.subscriber,
                            purpose=purpose,
                            lang=recipient.lang,
                            segments=message.segments,
                            tip_id=tip_id,
                            week=week,
                            session=session,
                        ),
                    )
                self.emit(
                    EventKind.sms_sent,
                    subscriber=recipient.subscriber,
                    segments=message.segments,
                    septets=message.septets,
                    message_id=receipt.message_id,
                    **common,
                )
                continue
            self.emit(
                EventKind.sms_failed,
                subscriber=recipient.subscriber,
                status_code=receipt.status_code,
                **common,
            )
            if receipt.status_code == BLACKLISTED:
                await self.end_subscription(recipient.subscriber, via="provider_blacklist")
        return found
