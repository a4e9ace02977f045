"""The SMS callbacks over HTTP: malformed requests first, then opt-out and delivery reports."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from shell.app import create_app
from tests.fixtures.sms import SmsHarness, new_number
from willay.retried import RETRY_BODY

pytestmark = pytest.mark.redis

INBOUND = {
    "from": "+51987654321",
    "to": "12345",
    "text": "BAJA",
    "date": "2026-06-15 09:31:00",
    "id": "ATSid_1",
}
REPORT = {"id": "ATXid_1", "status": "Success", "phoneNumber": "+51987654321"}


def weekly_tip_to(sms: SmsHarness, **profile) -> tuple[str, str]:
    """Subscribe someone and send the weekly tips: their number and the message id."""
    person = sms.subscribe(**profile)
    sms.send_due()
    event = next(e for e in sms.events.events if e.kind == "sms_sent")
    return person.sms_number, event.data["message_id"]


class TestInboundSms:
    @pytest.mark.parametrize(
        ("form", "reason"),
        [
            ({k: v for k, v in INBOUND.items() if k != "from"}, "from: Field required"),
            ({**INBOUND, "from": "hello"}, "from: Value error, not an international phone"),
            ({**INBOUND, "text": "x" * 2000}, "text: String should have at most 1600"),
            ({**INBOUND, "id": ""}, "id: Field required"),
            ({**INBOUND, "networkCode": "abc"}, "networkCode: String should match"),
            ({"garbage": "yes"}, "from: Field required; to: Field required"),
        ],
    )
    def test_malformed_is_400_with_the_reason(self, sms, form, reason) -> None:
        response = sms.client.post("/sms/africastalking/inbound", data=form)
        assert response.status_code == 400
        assert response.json()["error"] == "BadRequest" and reason in response.json()["detail"]
        assert sms.provider.sms() == []

    def test_not_a_form_is_400(self, sms) -> None:
        response = sms.client.post("/sms/africastalking/inbound", content=b"\x00\xff garbage")
        assert response.status_code == 400 and response.json()["detail"].startswith(
            "from: Field required"
        )

    def test_baja_unsubscribes_and_confirms_in_their_language(self, sms) -> None:
        person = sms.subscribe(lang="quy")
        response = sms.inbound(person.sms_number, "Saqíy")
        assert response.status_code == 200 and response.json() == {"action": "unsubscribed"}
        assert not sms.profile(person.id).sms_subscribed
        (confirmation,) = sms.texts_to(person.sms_number)
        assert confirmation.startswith("Willay: manañam SMS-pi") and "*123#" in confirmation
        kinds = [(e.kind, e.data.get("via") or e.data.get("purpose")) for e in sms.events.events]
        assert ("unsubscribe", "inbound_sms") in kinds and ("sms_sent", "stopped") in kinds
        assert all(person.sms_number[1:] not in e.to_json() for e in sms.events.events)
        assert sms.send_due().sent == 0

    @pytest.mark.parametrize("word", ["BAJA", "baja", "Bája.", "STOP", "stop please"])
    def test_every_stop_word_works(self, sms, word: str) -> None:
        person = sms.subscribe()
        assert sms.inbound(person.sms_number, word).json() == {"action": "unsubscribed"}
        assert sms.texts_to(person.sms_number)[0].startswith("Willay: ya no recibiras")

    def test_a_stranger_saying_stop_is_answered_without_storing_anything(self, sms) -> None:
        number = new_number()
        assert sms.inbound(number, "SAQIY").json() == {"action": "not_subscribed"}
        assert sms.texts_to(number)[0].startswith("Willay: manañam")
        assert not [e for e in sms.events.events if e.kind == "unsubscribe"]

    def test_other_text_is_ignored(self, sms) -> None:
        person = sms.subscribe()
        assert sms.inbound(person.sms_number, "hola, gracias").json() == {"action": "ignored"}
        assert sms.profile(person.id).sms_subscribed and sms.provider.sms() == []

    def test_a_retried_callback_confirms_once(self, sms) -> None:
        person = sms.subscribe()
        first = sms.inbound(person.sms_number, "BAJA", id="ATSid_retried")
        again = sms.inbound(person.sms_number, "BAJA", id="ATSid_retried")
        assert (first.json()["action"], again.json()["action"]) == ("unsubscribed", "duplicate")
        assert len(sms.texts_to(person.sms_number)) == 1

    def test_unsubscribes_even_if_the_confirmation_fails(self, sms) -> None:
        person = sms.subscribe()
        sms.provider.fail_next = 1
        assert sms.inbound(person.sms_number, "BAJA").json() == {"action": "unsubscribed"}
        assert not sms.profile(person.id).sms_subscribed
        failed = [e for e in sms.events.events if e.kind == "sms_failed"]
        assert failed[0].data == {"purpose": "stopped", "status": "ProviderError"}


class TestDeliveryReport:
    @pytest.mark.parametrize(
        ("form", "reason"),
        [
            ({**REPORT, "status": "Lost"}, "status: Input should be 'Sent'"),
            ({k: v for k, v in REPORT.items() if k != "id"}, "id: Field required"),
            ({**REPORT, "id": "ATXid 1; DROP"}, "id: String should match"),
            ({**REPORT, "phoneNumber": "0"}, "phoneNumber: Value error"),
            ({**REPORT, "retryCount": "-1"}, "retryCount: Input should be greater than"),
            ({**REPORT, "retryCount": "many"}, "retryCount: Input should be a valid integer"),
        ],
    )
    def test_malformed_is_400_with_the_reason(self, sms, form, reason) -> None:
        response = sms.client.post("/sms/africastalking/delivery", data=form)
        assert response.status_code == 400 and reason in response.json()["detail"]

    def test_success_is_a_delivered_event_under_the_pseudonym(self, sms) -> None:
        number, message_id = weekly_tip_to(sms)
        response = sms.report(message_id, number, "Success", retryCount="0")
        assert response.json() == {"state": "delivered", "known": True}
        (event,) = [e for e in sms.events.events if e.kind == "sms_delivered"]
        assert event.channel == "sms" and event.subscriber == sms.events.events[0].subscriber
        assert event.data == {
            "message_id": message_id,
            "purpose": "weekly",
            "tip_id": event.data["tip_id"],
            "status": "Success",
            "retries": 0,
            "network": "71610",
        }
        assert number[1:] not in event.to_json()

    @pytest.mark.parametrize("status", ["Sent", "Submitted", "Buffered"])
    def test_on_the_way_is_sent_without_an_event(self, sms, status: str) -> None:
        number, message_id = weekly_tip_to(sms)
        before = len(sms.events.events)
        assert sms.report(message_id, number, status).json() == {"state": "sent", "known": True}
        assert len(sms.events.events) == before

    @pytest.mark.parametrize("status", ["Rejected", "Failed", "Expired"])
    def test_failure_is_a_failed_event_with_the_reason(self, sms, status: str) -> None:
        number, message_id = weekly_tip_to(sms)
        response = sms.report(message_id, number, status, failureReason="DeliveryFailure")
        assert response.json() == {"state": "failed", "known": True}
        event = sms.events.events[-1]
        assert event.kind == "sms_failed" and event.data["reason"] == "DeliveryFailure"

    def test_blacklisted_by_the_provider_unsubscribes(self, sms) -> None:
        number, message_id = weekly_tip_to(sms)
        sms.report(message_id, number, "Failed", failureReason="UserInBlackList")
        assert [e.kind for e in sms.events.events][-2:] == ["sms_failed", "unsubscribe"]
        assert sms.events.events[-1].data == {"medium": "sms", "via": "provider_blacklist"}

    def test_a_repeated_report_is_one_event(self, sms) -> None:
        number, message_id = weekly_tip_to(sms)
        sms.report(message_id, number, "Buffered")
        for _ in range(2):
            sms.report(message_id, number, "Success")
        assert [e.kind for e in sms.events.events].count("sms_delivered") == 1

    def test_a_message_not_ours_is_acknowledged_without_an_event(self, sms) -> None:
        before = len(sms.events.events)
        response = sms.report("ATXid_unknown", new_number(), "Success")
        assert response.json() == {"state": "delivered", "known": False}
        assert len(sms.events.events) == before


class TestCallbackGuard:
    @pytest.fixture
    def guarded(self, sms_settings, events, africastalking) -> TestClient:
        """The app with a callback token; what it texts goes to the fake provider."""
        secured = sms_settings.model_copy(update={"callback_token": SecretStr("s3cret")})
        with TestClient(create_app(secured, events=events)) as client:
            yield client

    @pytest.mark.parametrize("path", ["inbound", "delivery"])
    def test_without_the_token_is_403_and_logged(self, guarded, caplog, path: str) -> None:
        caplog.set_level(logging.WARNING)
        form = INBOUND if path == "inbound" else REPORT
        response = guarded.post(f"/sms/africastalking/{path}", data=form)
        assert response.status_code == 403 and response.json()["error"] == "Forbidden"
        assert "missing or wrong token" in caplog.text
        ok = guarded.post(f"/sms/africastalking/{path}?token=s3cret", data=form)
        answers = {
            "inbound": {"action": "not_subscribed"},
            "delivery": {"state": "delivered", "known": False},
        }
        assert ok.status_code == 200 and ok.json() == answers[path]


def test_any_failure_of_a_delivery_report_is_503_to_be_retried(
    sms, raw_redis, redis_prefix, caplog
) -> None:
    number, message_id = weekly_tip_to(sms)
    (key,) = raw_redis.scan_iter(f"{redis_prefix}:*msg:{message_id}")
    stored = raw_redis.get(key)
    raw_redis.set(key, "{not json")
    caplog.set_level(logging.ERROR)
    response = sms.report(message_id, number, "Success")
    assert response.status_code == 503 and response.headers["retry-after"] == "60"
    assert response.json() == {"error": "ServiceUnavailable", "detail": RETRY_BODY["detail"]}
    assert any(r.exc_info for r in caplog.records if "failed unexpectedly" in r.getMessage())
    raw_redis.set(key, stored)  # the provider's retry, once the store is sound, is recorded
    retried = sms.report(message_id, number, "Success")
    assert retried.status_code == 200 and retried.json() == {"state": "delivered", "known": True}
