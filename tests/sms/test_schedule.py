"""When a weekly tip is due: the person's day in Lima time, once per ISO week, bounded retries."""

from __future__ import annotations

import datetime as dt

import pytest

from sms import Schedule, Verdict, WeekRecord
from sms.schedule import MAX_ATTEMPTS
from willay.config import Settings
from willay.errors import ConfigurationError
from willay.profiles import Subscriber

UTC = dt.UTC
MONDAY = dt.datetime(2026, 6, 15, 15, 0, tzinfo=UTC)  # 10:00 in Lima


@pytest.fixture
def schedule(settings: Settings) -> Schedule:
    return Schedule.from_settings(settings)


def subscriber(*, day: int | None = None, since: dt.datetime | None = None) -> Subscriber:
    at = since or MONDAY - dt.timedelta(days=30)
    return Subscriber(
        id="p" * 32,
        language="es",
        consent_at=at,
        sms_since=at,
        sms_number="+51987654321",
        sms_day=day,
    )


def test_week_is_the_local_iso_week(schedule: Schedule) -> None:
    assert schedule.week(MONDAY) == "2026-W25"
    # 03:00 UTC on Monday is still Sunday evening in Lima: the previous week
    assert schedule.week(dt.datetime(2026, 6, 15, 3, 0, tzinfo=UTC)) == "2026-W24"


def test_due_from_the_preferred_day_to_the_end_of_the_week(schedule: Schedule) -> None:
    wednesday = subscriber(day=2)
    assert schedule.verdict(wednesday, None, now=MONDAY) == (Verdict.not_yet, 0)
    for days in (2, 3, 6):
        assert schedule.verdict(wednesday, None, now=MONDAY + dt.timedelta(days=days)) == (
            Verdict.due,
            1,
        )


def test_default_day_comes_from_the_settings(settings: Settings) -> None:
    friday = Schedule.from_settings(settings.model_copy(update={"sms_send_day": "friday"}))
    assert friday.verdict(subscriber(), None, now=MONDAY)[0] is Verdict.not_yet
    assert friday.verdict(subscriber(), None, now=MONDAY + dt.timedelta(days=4))[0] is Verdict.due
    assert (
        Schedule.from_settings(settings).verdict(subscriber(), None, now=MONDAY)[0] is Verdict.due
    )


def test_monday_morning_in_utc_is_not_yet_monday_in_lima(schedule: Schedule) -> None:
    early = dt.datetime(2026, 6, 15, 3, 0, tzinfo=UTC)
    sunday_subscriber = subscriber(day=0, since=early - dt.timedelta(days=20))
    # Sunday 22:00 in Lima: last week's Monday is the day, and it is due for that week
    assert schedule.send_day(sunday_subscriber, early) == dt.date(2026, 6, 8)


def test_who_subscribes_after_their_day_waits_for_next_week(schedule: Schedule) -> None:
    late = subscriber(day=0, since=MONDAY + dt.timedelta(days=1))
    tuesday = MONDAY + dt.timedelta(days=2)
    assert schedule.verdict(late, None, now=tuesday)[0] is Verdict.not_yet
    assert schedule.verdict(late, None, now=tuesday + dt.timedelta(days=6))[0] is Verdict.due
    same_day = subscriber(day=0, since=MONDAY + dt.timedelta(hours=2))
    assert schedule.verdict(same_day, None, now=tuesday)[0] is Verdict.due


def test_not_subscribed_is_never_due(schedule: Schedule) -> None:
    gone = subscriber().model_copy(update={"sms_since": None, "sms_number": None})
    assert schedule.verdict(gone, None, now=MONDAY)[0] is Verdict.not_subscribed


@pytest.mark.parametrize(
    ("state", "attempt", "age", "expected"),
    [
        ("sent", 1, dt.timedelta(days=2), (Verdict.done, 0)),
        ("failed", 1, dt.timedelta(days=2), (Verdict.done, 0)),
        ("pending", 1, dt.timedelta(minutes=5), (Verdict.in_flight, 0)),
        ("pending", 1, dt.timedelta(hours=2), (Verdict.due, 2)),
        ("pending", MAX_ATTEMPTS, dt.timedelta(hours=2), (Verdict.gave_up, 0)),
        ("retry", 1, dt.timedelta(minutes=1), (Verdict.due, 2)),
        ("retry", MAX_ATTEMPTS + 2, dt.timedelta(minutes=1), (Verdict.due, MAX_ATTEMPTS + 3)),
    ],
)
def test_a_record_of_this_week(schedule, state, attempt, age, expected) -> None:
    record = WeekRecord(state=state, attempt=attempt, at=MONDAY - age)
    assert schedule.verdict(subscriber(), record, now=MONDAY) == expected


def test_unknown_time_zone_is_a_configuration_error(settings: Settings) -> None:
    with pytest.raises(ConfigurationError, match="WILLAY_SMS_TIMEZONE"):
        Schedule.from_settings(settings.model_copy(update={"sms_timezone": "Mars/Olympus"}))
