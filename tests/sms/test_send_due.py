"""`send-due` on real Redis through the real SDK: due or not, once a week, crashes, refusals."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import pytest

from sms import SendReport, WeeklySender
from tests.fixtures.catalog import raw_tip, write_content
from tests.fixtures.sms import SmsHarness, new_number
from tests.fixtures.ussd import Phone
from willay.catalog import load_catalog
from willay.config import Settings
from willay.profiles import Subscriber

pytestmark = pytest.mark.redis

TOPICS = sorted(t.id for t in load_catalog(Settings().content_dir).topics)

WATER = {"es": "Hierve el agua de tomar por un minuto.", "quy": "Upyana yakuta timpuchiy."}
PREGNANCY = {
    "es": "En el embarazo ve a tus controles cada mes: la obstetra mide tu presión, tu peso y "
    "el latido del bebé, te da hierro y ácido fólico y te dice qué señales de peligro vigilar "
    "en casa.",
    "quy": "Wiksayasqa kaspaqa sapa killa hampina wasiman riy.",
}


@pytest.fixture
def sms_settings(sms_settings: Settings, tmp_path) -> Settings:
    """A catalog of two tips: a short one for everyone, a long one for pregnancy."""
    content = write_content(
        tmp_path / "content",
        [
            raw_tip(id="agua-hervir", topic="agua", text=WATER),
            raw_tip(
                id="embarazo-control", topic="embarazo", text=PREGNANCY, audiences=["pregnant"]
            ),
        ],
        topics=TOPICS,  # every topic the USSD and IVR menus name
    )
    return sms_settings.model_copy(update={"content_dir": content})


def week_record(sms: SmsHarness, subscriber: Subscriber):
    services = sms.channel.services
    return sms.run(services.store.week, services.schedule.week(sms.clock.now), subscriber.id)


def sent(sms: SmsHarness) -> list:
    return [e for e in sms.events.events if e.kind == "sms_sent"]


class TestWhoGetsATip:
    def test_due_subscribers_get_one_tip_each_one_request_per_message(self, sms) -> None:
        ana, beto, killa = sms.subscribe(), sms.subscribe(), sms.subscribe(lang="quy")
        report = sms.send_due()
        assert (report.sent, report.requests, report.segments, report.error) == (3, 2, 3, None)
        spanish, quechua = sorted(sms.provider.sms(), key=lambda c: len(c.form["to"]), reverse=True)
        assert set(spanish.form["to"].split(",")) == {ana.sms_number, beto.sms_number}
        assert spanish.form["message"] == (
            "Willay: Hierve el agua de tomar por un minuto. Fuente: Minsa\n"
            "Para no recibir mas, responde BAJA."
        )
        assert quechua.form["to"] == killa.sms_number
        assert quechua.form["message"].endswith("SAQIY kutichiy.")
        events = sent(sms)
        assert {e.subscriber for e in events} == {ana.id, beto.id, killa.id}
        assert all(e.data["purpose"] == "weekly" and e.data["segments"] == 1 for e in events)
        assert all(e.data["tip_id"] == "agua-hervir" and "propensity" in e.data for e in events)
        record = week_record(sms, ana)
        assert record.state == "sent" and record.message_id.startswith("ATXid_")
        assert "agua-hervir" in sms.profile(ana.id).heard

    def test_events_never_carry_the_phone_number(self, sms) -> None:
        ana = sms.subscribe()
        sms.send_due()
        digits = ana.sms_number.lstrip("+")
        assert sms.events.events
        assert all(digits not in e.to_json() for e in sms.events.events)

    def test_a_long_tip_takes_two_segments_and_the_report_counts_them(self, sms) -> None:
        sms.subscribe(pregnant=True)
        sms.subscribe()
        report = sms.send_due()
        assert (report.sent, report.segments) == (2, 3)
        long = next(e for e in sent(sms) if e.data["tip_id"] == "embarazo-control")
        assert long.data["segments"] == 2 and long.data["septets"] > 160
        assert "3 segments" in report.summary()

    def test_not_due_before_their_day_or_when_subscribed_after_it(self, sms) -> None:
        sms.clock.now += dt.timedelta(days=2)  # Wednesday
        thursday = sms.subscribe(day=3)
        late = sms.subscribe(day=0, since=sms.clock.now - dt.timedelta(days=1))
        caught_up = sms.subscribe(day=0, since=sms.clock.now - dt.timedelta(days=4))
        report = sms.send_due()
        assert (report.sent, dict(report.skipped)) == (1, {"not_yet": 2})
        assert sms.texts_to(caught_up.sms_number) and not sms.texts_to(thursday.sms_number)
        assert not sms.texts_to(late.sms_number)

    def test_subscribing_and_unsubscribing_by_ussd(self, sms) -> None:
        phone = Phone(sms.client, number=new_number())
        phone.dial()
        phone.press("1", "1", "4")  # Español, accept, weekly SMS
        assert phone.press("1").end  # subscribe
        assert sms.send_due().sent == 1
        assert len(sms.texts_to(phone.number)) == 1
        phone.dial()
        assert "1 Dejar de recibir" in phone.press("4").screen
        phone.press("1")
        sms.clock.now += dt.timedelta(days=7)
        report = sms.send_due()
        assert (report.subscribers, report.sent) == (0, 0)
        assert len(sms.texts_to(phone.number)) == 1


class TestOncePerWeek:
    def test_running_twice_in_a_week_sends_once(self, sms) -> None:
        person = sms.subscribe()
        assert sms.send_due().sent == 1
        again = sms.send_due()
        assert (again.sent, dict(again.skipped)) == (0, {"done": 1})
        sms.clock.now += dt.timedelta(days=3)
        assert sms.send_due().sent == 0
        sms.clock.now += dt.timedelta(days=4)  # next Monday
        assert sms.send_due().sent == 1
        assert len(sms.texts_to(person.sms_number)) == 2

    def test_two_runs_at_once_send_each_tip_once(self, sms) -> None:
        people = [sms.subscribe() for _ in range(6)]
        sender = sms.channel.sender

        async def both() -> list[SendReport]:
            return await asyncio.gather(sender.send_due(), sender.send_due())

        reports = sms.run(both)
        assert sum(r.sent for r in reports) == 6
        assert all(len(sms.texts_to(p.sms_number)) == 1 for p in people)

    def test_crash_after_the_claim_is_retried_only_after_the_window(self, sms) -> None:
        person = sms.subscribe()
        planned = sms.run(sms.channel.sender.plan, SendReport())  # then the process dies
        assert len(planned) == 1 and week_record(sms, person).state == "pending"
        too_soon = sms.send_due()
        assert (too_soon.sent, dict(too_soon.skipped)) == (0, {"in_flight": 1})
        window = sms.channel.services.settings.sms_pending_seconds
        sms.clock.now += dt.timedelta(seconds=window + 1)
        assert sms.send_due().sent == 1
        assert sms.send_due().sent == 0
        assert len(sms.texts_to(person.sms_number)) == 1
        assert week_record(sms, person).attempt == 2

    def test_crash_after_the_provider_accepted_is_confirmed_by_its_report(self, sms) -> None:
        person = sms.subscribe()
        (batch,) = sms.run(sms.channel.sender.plan, SendReport())
        gateway = sms.channel.services.gateway
        receipts = sms.run(gateway.send, batch.message.text, [person.sms_number])
        # the process died here, before recording the provider's answer
        message_id = receipts[person.sms_number].message_id
        answer = sms.report(message_id, person.sms_number, "Success")
        assert answer.status_code == 200 and answer.json() == {"state": "delivered", "known": True}
        record = week_record(sms, person)
        assert (record.state, record.message_id) == ("sent", message_id)
        sms.clock.now += dt.timedelta(hours=5)
        assert sms.send_due().sent == 0
        assert len(sms.texts_to(person.sms_number)) == 1
        kinds = [(e.kind, e.subscriber) for e in sms.events.events if e.kind.startswith("sms")]
        assert kinds == [("sms_sent", person.id), ("sms_delivered", person.id)]
        assert sms.events.events[-2].data["confirmed_by"] == "delivery_report"

    def test_gives_up_after_the_last_unconfirmed_attempt(self, sms) -> None:
        person = sms.subscribe()
        window = dt.timedelta(seconds=sms.channel.services.settings.sms_pending_seconds + 1)
        for _ in range(3):
            sms.run(sms.channel.sender.plan, SendReport())
            sms.clock.now += window
        report = sms.send_due()
        assert (report.sent, report.failed) == (0, 1)
        assert week_record(sms, person).state == "failed"
        assert sms.provider.sms() == []

    def test_batches_hold_at_most_the_batch_size(self, sms) -> None:
        people = [sms.subscribe() for _ in range(5)]
        settings = sms.channel.services.settings.model_copy(update={"sms_batch_size": 2})
        sender = WeeklySender(dataclasses.replace(sms.channel.services, settings=settings))
        report = sms.run(sender.send_due)
        assert (report.sent, report.requests) == (5, 3)
        assert sorted(len(c.form["to"].split(",")) for c in sms.provider.sms()) == [1, 2, 2]
        assert all(len(sms.texts_to(p.sms_number)) == 1 for p in people)


class TestProviderRefusals:
    def test_a_failed_request_leaves_everyone_for_the_next_run(self, sms) -> None:
        people = [sms.subscribe(), sms.subscribe(lang="quy")]
        sms.provider.fail_next = 1
        report = sms.send_due()
        assert (report.sent, report.retry) == (0, 2)
        assert report.error and "SMS send failed" in report.error
        assert {week_record(sms, p).state for p in people} == {"retry"}
        again = sms.send_due()
        assert (again.sent, again.error) == (2, None)
        assert {week_record(sms, p).attempt for p in people} == {2}

    def test_a_number_blacklisted_with_the_provider_is_unsubscribed(self, sms) -> None:
        person, other = sms.subscribe(), sms.subscribe()
        sms.provider.sms_statuses[person.sms_number] = (406, "UserInBlacklist")
        report = sms.send_due()
        assert (report.sent, report.failed) == (1, 1)
        profile = sms.profile(person.id)
        assert profile is not None and not profile.sms_subscribed and profile.sms_number is None
        assert week_record(sms, person).state == "failed"
        kinds = [(e.kind, e.subscriber) for e in sms.events.events if e.subscriber == person.id]
        assert kinds == [("sms_failed", person.id), ("unsubscribe", person.id)]
        assert person.id not in sms.run(sms.channel.services.subscribers.sms_subscribers)
        assert other.id in sms.run(sms.channel.services.subscribers.sms_subscribers)

    def test_a_refusal_for_now_is_retried_on_the_next_run(self, sms) -> None:
        person = sms.subscribe()
        sms.provider.sms_statuses[person.sms_number] = (405, "InsufficientBalance")
        assert sms.send_due().retry == 1
        del sms.provider.sms_statuses[person.sms_number]
        assert sms.send_due().sent == 1
        assert len(sms.texts_to(person.sms_number)) == 2


def test_survey_says_where_the_week_stands(sms) -> None:
    sms.subscribe()
    sms.subscribe(day=4)
    sms.send_due()
    week, counts = sms.run(sms.channel.sender.survey)
    assert week == "2026-W25" and counts == {"sent": 1, "not_yet": 1}
