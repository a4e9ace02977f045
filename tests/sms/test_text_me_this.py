""" "Text me this" end to end: USSD over HTTP, the end-of-session notice, SMS through the SDK."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from shell.app import create_app
from sms import compose_tip
from tests.fixtures.sms import SmsHarness, new_number
from tests.fixtures.ussd import Phone
from willay.gsm7 import to_gsm7
from willay.languages import LANGUAGES

pytestmark = pytest.mark.redis


def reader(sms: SmsHarness, *, language: str = "1", accept: bool = True) -> Phone:
    """A new person who picks a language, answers the consent screen and opens a tip."""
    phone = Phone(sms.client, number=new_number())
    phone.dial()
    phone.press(language, "1" if accept else "2")
    tip = phone.press("1")
    engine = sms.client.app_state["ussd"].engine
    shown = next(t for t in engine.services.catalog.tips if t.id == served_tip(sms, phone))
    lang = list(LANGUAGES)[int(language) - 1]  # the language screen lists them in this order
    assert not tip.end and tip.screen == to_gsm7(str(engine.tip_pages(shown, lang)[0]))
    return phone


def served_tip(sms: SmsHarness, phone: Phone) -> str:
    return next(
        e.data["tip_id"]
        for e in sms.events.events
        if e.kind == "tip_served" and e.session == phone.session_id
    )


def test_a_tip_cut_short_is_texted_once_in_their_language(sms) -> None:
    phone = reader(sms, language="2")  # Runasimi Chanka
    assert phone.hang_up("Incomplete") == 200
    assert phone.hang_up("Incomplete") == 200  # the provider retries its notice
    sms.drain()
    tip = sms.channel.services.catalog.by_id[served_tip(sms, phone)]
    assert sms.texts_to(phone.number) == [compose_tip(tip, "quy").text]
    (event,) = [e for e in sms.events.events if e.kind == "sms_sent"]
    assert (event.session, event.lang, event.data["purpose"]) == (phone.session_id, "quy", "texted")
    assert event.data["tip_id"] == tip.id and event.data["segments"] >= 1
    assert phone.number[1:] not in event.to_json()


def test_each_session_cut_short_texts_its_own_tip(sms) -> None:
    phone = reader(sms)
    phone.hang_up("Incomplete")
    phone.dial()
    phone.press("2")  # start over rather than resume
    phone.press("1")
    phone.hang_up("Incomplete")
    sms.drain()
    assert len(sms.texts_to(phone.number)) == 2


@pytest.mark.parametrize("status", ["Success", "Failed"])
def test_a_session_not_cut_short_texts_nothing(sms, status: str) -> None:
    phone = reader(sms)
    phone.hang_up(status)
    sms.drain()
    assert sms.provider.sms() == []


def test_no_tip_on_screen_texts_nothing(sms) -> None:
    phone = reader(sms)
    phone.press("00")  # back to the main menu
    phone.hang_up("Incomplete")
    sms.drain()
    assert sms.provider.sms() == []


def test_without_consent_nothing_is_texted(sms) -> None:
    phone = reader(sms, accept=False)
    phone.hang_up("Incomplete")
    sms.drain()
    assert sms.provider.sms() == []


def test_the_notice_is_answered_even_when_the_provider_fails(sms) -> None:
    phone = reader(sms)
    sms.provider.fail_next = 1
    assert phone.hang_up("Incomplete") == 200
    sms.drain()
    (failed,) = [e for e in sms.events.events if e.kind == "sms_failed"]
    assert (failed.session, failed.data["purpose"], failed.data["status"]) == (
        phone.session_id,
        "texted",
        "ProviderError",
    )


def test_without_provider_credentials_the_notice_still_works(
    redis_settings, events, clock, africastalking
) -> None:
    with TestClient(create_app(redis_settings, events=events, clock=clock)) as client:
        phone = Phone(client, number=new_number())
        phone.dial()
        phone.press("1", "1", "1")
        assert phone.hang_up("Incomplete") == 200
        assert "se corto" in phone.dial().screen
    assert africastalking.sms() == []
