"""What the SMS channel keeps in the key-value store: this week's send per person, each message.

    <prefix>:sms:week:<2026-W25>:<pseudonym>             WeekRecord: pending, sent, retry, failed
    <prefix>:sms:week:<2026-W25>:<pseudonym>:attempt:<n> the claim of attempt n (SET NX)
    <prefix>:sms:msg:<messageId>                         MessageRecord, for delivery reports
    <prefix>:sms:texted:<sessionId>                      a USSD session's tip was texted
    <prefix>:sms:inbound:<id>                            an inbound SMS was handled
    <prefix>:sms:alert:<alert id>:<pseudonym>            AlertRecord of an alert's SMS to a person
    <prefix>:sms:alert:<alert id>:<pseudonym>:attempt:<n> the claim of attempt n (SET NX)

Only one run can win attempt n of a person's week, so two `send-due` runs at once never send
twice. Records expire on their own; none holds a phone number. Week and message records are noted
as the person's (`willay.profiles.PersonalKeys`), so erasing their data removes them too.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel

from willay.kv import KeyValueStore
from willay.profiles import PersonalKeys

__all__ = ["MessageRecord", "Purpose", "SmsStore", "WeekRecord", "WeekState"]

WEEK_TTL = 15 * 86_400
MESSAGE_TTL = 14 * 86_400
TEXTED_TTL = 2 * 86_400

WeekState = Literal["pending", "sent", "retry", "failed"]
Purpose = Literal["weekly", "texted", "stopped", "alert"]


class WeekRecord(BaseModel):
    """One person's weekly tip: claimed (`pending`), `sent`, to `retry`, or `failed` for good."""

    state: WeekState
    attempt: int = 1
    at: dt.datetime
    tip_id: str | None = None
    message_id: str | None = None
    status: str | None = None


class MessageRecord(BaseModel):
    """A message the provider accepted, found again by its id when a delivery report arrives."""

    subscriber: str
    purpose: Purpose
    lang: str | None = None
    segments: int | None = None
    tip_id: str | None = None
    week: str | None = None
    session: str | None = None
    status: str | None = None


class SmsStore:
    """SMS records under `<prefix>:sms:`."""

    def __init__(self, kv: KeyValueStore, *, prefix: str) -> None:
        self._kv = kv
        self._prefix = f"{prefix}:sms"
        self._personal = PersonalKeys(kv, prefix=prefix)

    def _week_key(self, week: str, subscriber: str) -> str:
        return f"{self._prefix}:week:{week}:{subscriber}"

    async def week(self, week: str, subscriber: str) -> WeekRecord | None:
        """This person's record for `week`, if any."""
        raw = await self._kv.get(self._week_key(week, subscriber))
        return WeekRecord.model_validate_json(raw) if raw else None

    async def _claim(self, key: str, subscriber: str, *, record: WeekRecord) -> bool:
        attempt = f"{key}:attempt:{record.attempt}"
        if not await self._kv.set_new(attempt, "1", ttl=WEEK_TTL):
            return False
        await self._kv.set(key, record.model_dump_json(), ttl=WEEK_TTL)
        await self._personal.note(subscriber, key, attempt, ttl=WEEK_TTL)
        return True

    async def claim(self, week: str, subscriber: str, *, record: WeekRecord) -> bool:
        """Record attempt `record.attempt` as pending unless another run claimed it first."""
        return await self._claim(self._week_key(week, subscriber), subscriber, record=record)

    def _alert_key(self, alert_id: str, subscriber: str) -> str:
        return f"{self._prefix}:alert:{alert_id}:{subscriber}"

    async def alert(self, alert_id: str, subscriber: str) -> WeekRecord | None:
        """This person's record of an alert's SMS, if any."""
        raw = await self._kv.get(self._alert_key(alert_id, subscriber))
        return WeekRecord.model_validate_json(raw) if raw else None

    async def claim_alert(self, alert_id: str, subscriber: str, *, record: WeekRecord) -> bool:
        """Claim attempt `record.attempt` of an alert's SMS to a person, as for a week."""
        return await self._claim(self._alert_key(alert_id, subscriber), subscriber, record=record)

    async def put_alert(self, alert_id: str, subscriber: str, *, record: WeekRecord) -> None:
        """Store this person's record of an alert's SMS."""
        key = self._alert_key(alert_id, subscriber)
        await self._kv.set(key, record.model_dump_json(), ttl=WEEK_TTL)
        await self._personal.note(subscriber, key, ttl=WEEK_TTL)

    async def put_week(self, week: str, subscriber: str, *, record: WeekRecord) -> None:
        """Store this person's record for `week`."""
        await self._kv.set(self._week_key(week, subscriber), record.model_dump_json(), ttl=WEEK_TTL)

    async def message(self, message_id: str) -> MessageRecord | None:
        """The message with this provider id, if it is ours and recent."""
        raw = await self._kv.get(f"{self._prefix}:msg:{message_id}")
        return MessageRecord.model_validate_json(raw) if raw else None

    async def put_message(self, message_id: str, record: MessageRecord) -> None:
        """Remember a message the provider accepted."""
        key = f"{self._prefix}:msg:{message_id}"
        await self._kv.set(key, record.model_dump_json(), ttl=MESSAGE_TTL)
        await self._personal.note(record.subscriber, key, ttl=MESSAGE_TTL)

    async def claim_texted(self, session_id: str) -> bool:
        """True the first time a USSD session's tip is to be texted, False ever after."""
        return await self._kv.set_new(f"{self._prefix}:texted:{session_id}", "1", ttl=TEXTED_TTL)

    async def claim_inbound(self, sms_id: str) -> bool:
        """True the first time an inbound SMS (by provider id) is seen: retries are ignored."""
        return await self._kv.set_new(f"{self._prefix}:inbound:{sms_id}", "1", ttl=TEXTED_TTL)
