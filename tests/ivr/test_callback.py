"""Missed-call call-back through the real SDK and the stand-in provider."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from shell.app import create_app
from tests.fixtures.africastalking import API_KEY
from tests.fixtures.audio import SERVICE_NUMBER, TOKEN, BuiltAudio, Caller, VoiceChecker
from tests.fixtures.ussd import Phone
from willay.config import Settings
from willay.errors import ConfigurationError
from willay.events import MemoryEventSink

pytestmark = pytest.mark.redis

NUMBER = "+51987650001"


def callback_app(settings: Settings, events, clock, **overrides: object) -> TestClient:
    values = {
        "ivr_callback": True,
        "at_api_key": SecretStr(API_KEY),
        "at_username": "sandbox",
        "ivr_callback_dedup": 120,
        "ivr_callback_limit": 3,
    }
    return TestClient(
        create_app(settings.model_copy(update=values | overrides), events=events, clock=clock)
    )


@pytest.fixture
def callback_client(ivr_settings, events, clock, africastalking) -> Iterator[TestClient]:
    with callback_app(ivr_settings, events, clock) as client:
        yield client


def subscribe(client: TestClient, number: str, language_key: str = "2") -> None:
    """Consent by USSD, the way a person becomes a subscriber."""
    phone = Phone(client, number=number, token=TOKEN)
    phone.dial()
    phone.press(language_key, "1")


@pytest.fixture
def subscriber_caller(callback_client: TestClient, built_audio: BuiltAudio) -> Caller:
    subscribe(callback_client, NUMBER)
    return Caller(
        callback_client, VoiceChecker(callback_client, built_audio.manifest), number=NUMBER
    )


class TestMissedCall:
    def test_subscriber_is_rejected_then_called_back(
        self, subscriber_caller: Caller, africastalking, events: MemoryEventSink
    ):
        reply = subscriber_caller.dial()
        assert reply.rejected and reply.plays == [] and reply.asks is None
        assert len(reply.root) == 1  # <Response><Reject/></Response>, nothing else
        calls = africastalking.voice_calls()
        assert len(calls) == 1
        assert calls[0].form == {"username": "sandbox", "from": SERVICE_NUMBER, "to": NUMBER}
        start = [e for e in events.events if e.kind == "session_start" and e.channel == "ivr"]
        assert start[-1].data == {"direction": "Inbound", "callback": "queued"}
        assert subscriber_caller.hang_up(hangupCause="CALL_REJECTED", amount="0") == 200
        assert events.events[-1].data["hangup_cause"] == "CALL_REJECTED"

        # the provider calls back: the person is the destination, and hears their language
        subscriber_caller.number, subscriber_caller.destination = SERVICE_NUMBER, NUMBER
        reply = subscriber_caller.dial(direction="Outbound")
        assert reply.plays == ["prompt:welcome.quy"] and reply.asks == "prompt:main.quy"
        assert len(africastalking.voice_calls()) == 1

    def test_a_second_ring_is_not_a_second_call_back(
        self, subscriber_caller: Caller, africastalking
    ):
        assert subscriber_caller.dial().rejected
        assert subscriber_caller.dial().rejected
        session = subscriber_caller.session_id
        assert subscriber_caller.post()[0] == 200  # the provider retries the same notification
        assert subscriber_caller.session_id == session
        assert len(africastalking.voice_calls()) == 1

    def test_over_the_limit_the_call_is_answered(
        self, ivr_settings, events, clock, africastalking, built_audio
    ):
        with callback_app(
            ivr_settings, events, clock, ivr_callback_dedup=0, ivr_callback_limit=2
        ) as client:
            subscribe(client, NUMBER)
            caller = Caller(client, VoiceChecker(client, built_audio.manifest), number=NUMBER)
            assert caller.dial().rejected
            assert caller.dial().rejected
            reply = caller.dial()
            assert not reply.rejected and reply.asks == "prompt:main.quy"
        assert len(africastalking.voice_calls()) == 2
        starts = [e.data for e in events.events if e.kind == "session_start" and e.channel == "ivr"]
        assert [d.get("callback") for d in starts] == ["queued", "queued", "limited"]

    def test_someone_without_a_profile_is_answered(
        self, callback_client: TestClient, built_audio: BuiltAudio, africastalking
    ):
        caller = Caller(callback_client, VoiceChecker(callback_client, built_audio.manifest))
        reply = caller.dial()
        assert not reply.rejected and reply.asks == "prompt:choose_language.mul"
        assert africastalking.voice_calls() == []

    def test_provider_failure_is_logged_without_the_number(
        self, subscriber_caller: Caller, africastalking, events, caplog
    ):
        africastalking.fail_next = 1
        with caplog.at_level(logging.ERROR):
            assert subscriber_caller.dial().rejected
        errors = [e for e in events.events if e.kind == "error"]
        assert errors and errors[-1].data["stage"] == "call_back"
        assert NUMBER not in caplog.text and NUMBER[1:] not in caplog.text
        assert "call-back" in caplog.text
        assert all(NUMBER not in e.to_json() for e in events.events)


def test_callbacks_need_the_service_number(ivr_settings, events, clock, africastalking):
    app = callback_app(ivr_settings, events, clock, ivr_voice_number=None)
    with pytest.raises(ConfigurationError, match="WILLAY_IVR_VOICE_NUMBER"), app:
        pass
