"""What comes back from the provider: SMS people send us, and delivery reports.

An inbound SMS whose first word is BAJA, STOP or SAQIY (any case, with or without accents) ends
the person's weekly SMS and is answered with a confirmation in their language. A delivery
report updates its message: Success is `delivered`; Sent, Submitted and Buffered are `sent`
(kept on the message, no event); Rejected, Failed and Expired are `failed`. Delivered and failed
are published as events under the person's pseudonym. A report also confirms a weekly send left
`pending` by a run that stopped before recording the provider's answer (and publishes the
`sms_sent` that run never did).
"""

from __future__ import annotations

import logging
import unicodedata

from sms.message import compose_stopped
from sms.schemas import (
    AtDeliveryReport,
    AtInboundSms,
    DeliveryState,
    DeliveryStatus,
    InboundAction,
)
from sms.services import Recipient, SmsServices
from sms.store import MessageRecord
from willay.errors import ConfigurationError, ProviderError
from willay.events import EventKind
from willay.profiles import pseudonym

__all__ = ["STATES", "STOP_WORDS", "SmsInbox", "stop_word"]

log = logging.getLogger(__name__)

# stop word -> language of the confirmation when we know nothing of the person
STOP_WORDS = {"baja": "es", "stop": "es", "saqiy": "quy"}

BLACKLIST_REASON = "userinblacklist"

STATES: dict[DeliveryStatus, DeliveryState] = {
    "Success": "delivered",
    "Sent": "sent",
    "Submitted": "sent",
    "Buffered": "sent",
    "Rejected": "failed",
    "Failed": "failed",
    "Expired": "failed",
}


def stop_word(text: str) -> str | None:
    """The stop word `text` starts with (`baja`, `stop`, `saqiy`), if it does."""
    bare = "".join(
        c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c)
    )
    words = "".join(c if c.isalnum() else " " for c in bare).split()
    return words[0] if words and words[0] in STOP_WORDS else None


class SmsInbox:
    """Handles inbound SMS and delivery reports."""

    def __init__(self, services: SmsServices) -> None:
        self._services = services
        self._key = services.settings.pseudonym_key.get_secret_value()

    async def receive(self, sms: AtInboundSms) -> InboundAction:
        """Act on an inbound SMS: a stop word unsubscribes and confirms by SMS."""
        services = self._services
        subscriber_id = pseudonym(sms.sender, self._key)
        word = stop_word(sms.text)
        if word is None:
            log.info("inbound SMS %s from %s ignored: no stop word", sms.id, subscriber_id)
            return "ignored"
        before = await services.subscribers.get(subscriber_id)
        was_subscribed = before is not None and before.sms_subscribed
        subscriber = await services.end_subscription(subscriber_id, via="inbound_sms")
        if not await services.store.claim_inbound(sms.id):  # a retried callback: confirmed once
            return "duplicate"
        lang = subscriber.language if subscriber is not None else STOP_WORDS[word]
        message = compose_stopped(lang, short_code=services.settings.short_code)
        try:
            await services.deliver(
                message, [Recipient(subscriber_id, sms.sender, lang)], purpose="stopped"
            )
        except (ProviderError, ConfigurationError) as exc:
            log.warning("stop confirmation to %s not sent: %s", subscriber_id, exc.message)
            services.emit(
                EventKind.sms_failed,
                subscriber=subscriber_id,
                lang=lang,
                purpose="stopped",
                status=type(exc).__name__,
            )
        return "unsubscribed" if was_subscribed else "not_subscribed"

    async def report(self, dlr: AtDeliveryReport) -> tuple[DeliveryState, bool]:
        """Record a delivery report; the message's state and whether the message is ours."""
        services = self._services
        state = STATES[dlr.status]
        record = await services.store.message(dlr.id)
        if record is None:
            record = await self._adopt(dlr)
            if record is None:
                log.info("delivery report for unknown message %s (%s)", dlr.id, dlr.status)
                return state, False
        if record.purpose == "weekly" and record.week is not None:
            await self._confirm(record.week, record.subscriber, dlr=dlr)
        if record.status == dlr.status:
            return state, True
        record.status = dlr.status
        await services.store.put_message(dlr.id, record)
        if state == "sent":
            return state, True
        event_kind = EventKind.sms_delivered if state == "delivered" else EventKind.sms_failed
        services.emit(
            event_kind,
            subscriber=record.subscriber,
            lang=record.lang,
            session=record.session,
            message_id=dlr.id,
            purpose=record.purpose,
            tip_id=record.tip_id,
            status=dlr.status,
            reason=dlr.failureReason,
            retries=dlr.retryCount,
            network=dlr.networkCode,
        )
        if state == "failed" and (dlr.failureReason or "").casefold() == BLACKLIST_REASON:
            await services.end_subscription(record.subscriber, via="provider_blacklist")
        return state, True

    async def _adopt(self, dlr: AtDeliveryReport) -> MessageRecord | None:
        """A report for a message we never recorded: this week's pending send to that person."""
        services = self._services
        subscriber_id = pseudonym(dlr.phoneNumber, self._key)
        week = services.schedule.week(services.clock())
        pending = await services.store.week(week, subscriber_id)
        if pending is None or pending.state != "pending":
            return None
        # the run that sent it died before publishing the send: publish it now
        services.emit(
            EventKind.sms_sent,
            subscriber=subscriber_id,
            purpose="weekly",
            tip_id=pending.tip_id,
            message_id=dlr.id,
            confirmed_by="delivery_report",
        )
        return MessageRecord(
            subscriber=subscriber_id, purpose="weekly", tip_id=pending.tip_id, week=week
        )

    async def _confirm(self, week: str, subscriber_id: str, *, dlr: AtDeliveryReport) -> None:
        """Mark the person's weekly send as sent if it is still pending."""
        store = self._services.store
        record = await store.week(week, subscriber_id)
        if record is not None and record.state == "pending":
            update = {"state": "sent", "message_id": dlr.id, "status": dlr.status}
            await store.put_week(week, subscriber_id, record=record.model_copy(update=update))
