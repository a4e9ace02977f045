"""When a subscriber's weekly tip is due, in local time (Peru by default).

Each person has a preferred day (their own, or `WILLAY_SMS_SEND_DAY`). Their tip for a week is
due from that day on, to the end of the ISO week, if they had subscribed by that day: a run that
missed the day catches up later in the week, and someone who subscribes after their day waits
for the next week. A send the provider refused for now (`retry`) is tried again on the next run;
one left `pending` (never confirmed) only once older than `WILLAY_SMS_PENDING_SECONDS`, and at
most `MAX_ATTEMPTS` times, since each such retry risks a duplicate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sms.store import WeekRecord
from willay.config import Settings
from willay.errors import ConfigurationError
from willay.profiles import Subscriber

__all__ = ["MAX_ATTEMPTS", "WEEKDAYS", "Schedule", "Verdict"]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_ATTEMPTS = 3


class Verdict(StrEnum):
    """Whether a person's weekly tip is to be sent now, and if not, why."""

    due = "due"
    not_subscribed = "not_subscribed"
    not_yet = "not_yet"
    in_flight = "in_flight"
    done = "done"
    gave_up = "gave_up"


@dataclass(frozen=True)
class Schedule:
    """The weekly rhythm: time zone, default day and how long a pending send is trusted."""

    timezone: ZoneInfo
    default_day: int
    pending: dt.timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Schedule:
        """The schedule the settings describe; `ConfigurationError` for an unknown time zone."""
        try:
            zone = ZoneInfo(settings.sms_timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigurationError(
                f"WILLAY_SMS_TIMEZONE: unknown time zone {settings.sms_timezone!r}"
            ) from exc
        return cls(
            timezone=zone,
            default_day=WEEKDAYS.index(settings.sms_send_day),
            pending=dt.timedelta(seconds=settings.sms_pending_seconds),
        )

    def week(self, now: dt.datetime) -> str:
        """The local ISO week of `now`, e.g. `2026-W25`."""
        year, week, _ = now.astimezone(self.timezone).isocalendar()
        return f"{year}-W{week:02d}"

    def send_day(self, subscriber: Subscriber, now: dt.datetime) -> dt.date:
        """The person's preferred day in the local week of `now`."""
        today = now.astimezone(self.timezone).date()
        day = self.default_day if subscriber.sms_day is None else subscriber.sms_day
        return today + dt.timedelta(days=day - today.weekday())

    def verdict(
        self, subscriber: Subscriber, record: WeekRecord | None, *, now: dt.datetime
    ) -> tuple[Verdict, int]:
        """Whether to send this week now, and if so the attempt number to claim."""
        if not subscriber.sms_subscribed or subscriber.sms_since is None:
            return Verdict.not_subscribed, 0
        day = self.send_day(subscriber, now)
        since = subscriber.sms_since.astimezone(self.timezone).date()
        if now.astimezone(self.timezone).date() < day or since > day:
            return Verdict.not_yet, 0
        if record is None:
            return Verdict.due, 1
        if record.state in ("sent", "failed"):
            return Verdict.done, 0
        if record.state == "pending":
            if now - record.at < self.pending:
                return Verdict.in_flight, 0
            if record.attempt >= MAX_ATTEMPTS:
                return Verdict.gave_up, 0
        return Verdict.due, record.attempt + 1
