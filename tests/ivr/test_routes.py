"""The voice route: malformed requests, the callback guard, Redis down, and the XML itself."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from audio_cache import Manifest
from ivr.schemas import AtVoiceForm
from shell.app import create_app
from tests.fixtures.audio import PUBLIC_URL, SERVICE_NUMBER, TOKEN, Caller, VoiceChecker
from tests.fixtures.services import free_port


class TestRequests:
    def test_malformed_request_is_400_with_a_reason(self, ivr_client: TestClient):
        response = ivr_client.post(
            "/ivr/africastalking", params={"token": TOKEN}, data={"isActive": "1"}
        )
        assert response.status_code == 400
        assert response.json() == {"error": "BadRequest", "detail": "sessionId: Field required"}

    def test_digits_outside_the_keypad_are_refused(self, ivr_client: TestClient):
        data = {"isActive": "1", "sessionId": "ATVId_x", "dtmfDigits": "1<2"}
        response = ivr_client.post("/ivr/africastalking", params={"token": TOKEN}, data=data)
        assert response.status_code == 400 and "dtmfDigits" in response.json()["detail"]

    @pytest.mark.parametrize("amount", ["inf", "1e309", "-inf", "nan", "Infinity"])
    def test_non_finite_amount_is_refused(self, ivr_client: TestClient, events, amount):
        data = {"isActive": "0", "sessionId": "ATVId_end", "amount": amount}
        response = ivr_client.post("/ivr/africastalking", params={"token": TOKEN}, data=data)
        assert response.status_code == 400 and "amount" in response.json()["detail"]
        assert not any(e.kind == "call_end" for e in events.events)

    def test_finite_amount_is_kept(self, ivr_client: TestClient, events):
        data = {"isActive": "0", "sessionId": "ATVId_end", "amount": "0.35"}
        response = ivr_client.post("/ivr/africastalking", params={"token": TOKEN}, data=data)
        assert response.status_code == 200 and response.content.endswith(b"<Response />")
        assert [e.data["amount"] for e in events.events if e.kind == "call_end"] == [0.35]

    @pytest.mark.parametrize("token", [None, "wrong"])
    def test_callback_without_the_secret_is_403(self, ivr_client: TestClient, token):
        params = {"token": token} if token else {}
        data = {"isActive": "1", "sessionId": "ATVId_x", "callerNumber": "+51987654321"}
        response = ivr_client.post("/ivr/africastalking", params=params, data=data)
        assert response.status_code == 403 and response.json()["error"] == "Forbidden"

    def test_answer_is_application_xml_built_by_a_library(self, caller: Caller):
        status, body = caller.post(sessionId="ATVId_xml")
        assert status == 200
        assert body.startswith(b"<?xml version='1.0' encoding='utf-8'?>\n<Response>")
        response = caller.client.post(
            "/ivr/africastalking",
            params={"token": TOKEN},
            data={"isActive": "1", "sessionId": "ATVId_xml", "dtmfDigits": "1"},
        )
        assert response.headers["content-type"] == "application/xml"


def test_redis_down_gives_a_spoken_apology(ivr_settings, events, clock, built_audio):
    down = ivr_settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    with TestClient(create_app(down, events=events, clock=clock)) as client:
        caller = Caller(client, VoiceChecker(client, built_audio.manifest))
        reply = caller.dial()
    assert reply.plays == ["prompt:unavailable.es", "prompt:unavailable.quy"]
    assert reply.asks is None
    assert events.events[-1].kind == "error"
    assert events.events[-1].data["error"] == "StoreUnavailable"


def test_without_audio_the_provider_reads_the_text(ivr_settings, events, clock, tmp_path):
    empty = ivr_settings.model_copy(update={"audio_dir": tmp_path / "no-audio"})
    with TestClient(create_app(empty, events=events, clock=clock)) as client:
        caller = Caller(client, VoiceChecker(client, Manifest()))
        reply = caller.dial()
    assert reply.root.find(".//Play") is None
    assert reply.asks is not None and reply.asks.startswith("say:Willay, consejos de salud.")


class TestChecker:
    """The XML check used by every test must be able to fail."""

    @pytest.fixture
    def checker(self, ivr_client: TestClient, built_audio) -> VoiceChecker:
        return VoiceChecker(ivr_client, built_audio.manifest)

    @pytest.mark.parametrize(
        "body",
        [
            b"<Response><GetDigits>",  # not well-formed
            b"<Response><Speak>hola</Speak></Response>",  # no such verb
            b'<Response><Say lang="es">hola</Say></Response>',  # no such attribute
            b"<Response><GetDigits><Say>a</Say><Say>b</Say></GetDigits></Response>",
            b'<Response><GetDigits numDigits="one"><Say>a</Say></GetDigits></Response>',
            b'<Response><Play url="http://willay.test/audio/x.mp3"/></Response>',
            b"<Response><Say/></Response>",
            b"<Answer/>",
        ],
    )
    def test_refuses_what_the_provider_would(self, checker: VoiceChecker, body: bytes):
        with pytest.raises(Exception):  # noqa: B017 - ParseError or AssertionError
            checker.check(body)

    def test_refuses_a_play_url_that_does_not_resolve(self, checker: VoiceChecker):
        missing = f'<Response><Play url="{PUBLIC_URL}/audio/{"0" * 24}.mp3"/></Response>'
        with pytest.raises(AssertionError, match="does not resolve"):
            checker.check(missing.encode())


class TestPerson:
    def form(self, **fields: str) -> AtVoiceForm:
        return AtVoiceForm.model_validate({"isActive": "1", "sessionId": "ATVId_1", **fields})

    def test_inbound_caller_is_the_person(self):
        form = self.form(direction="inbound", callerNumber="+51 987 654 321")
        assert form.direction == "Inbound"
        assert form.person(SERVICE_NUMBER) == "+51987654321"

    def test_outbound_the_person_is_whoever_is_not_the_service(self):
        called = self.form(
            direction="Outbound", callerNumber=SERVICE_NUMBER, destinationNumber="+51987654321"
        )
        assert called.person(SERVICE_NUMBER) == "+51987654321"
        reported = self.form(
            direction="Outbound", callerNumber="+51987654321", destinationNumber=SERVICE_NUMBER
        )
        assert reported.person(SERVICE_NUMBER) == "+51987654321"

    def test_withheld_or_malformed_number_is_nobody(self):
        assert self.form().person(None) is None
        assert self.form(callerNumber="anonymous").person(None) is None


def test_any_failure_is_a_spoken_apology_and_the_line_hangs_up(
    caller: Caller, raw_redis, redis_prefix, events, caplog
):
    caller.dial()
    raw_redis.set(f"{redis_prefix}:ivr:call:{caller.session_id}", "{not json")
    caplog.set_level(logging.ERROR)
    reply = caller.press("1")  # valid voice XML, checked against what the provider accepts
    assert reply.plays == ["prompt:unavailable.es", "prompt:unavailable.quy"]
    assert reply.asks is None
    (record,) = [r for r in caplog.records if "failed unexpectedly" in r.getMessage()]
    assert record.exc_info is not None
    assert events.events[-1].kind == "error"
    assert events.events[-1].data["error"] == "ValidationError"
