"""The stand-in provider: the real SDK reaches it, and it refuses what the provider would."""

import pytest
from africastalking.Service import AfricasTalkingException
from africastalking.SMS import SMSService
from africastalking.Voice import VoiceService

from tests.fixtures.africastalking import API_KEY


def test_real_sdk_reaches_the_fake_provider(africastalking) -> None:
    reply = SMSService("sandbox", API_KEY).send("Hola", ["+51987654321"])
    assert reply["SMSMessageData"]["Recipients"][0]["status"] == "Success"
    call = VoiceService("sandbox", API_KEY).call("+51100000000", ["+51987654321"])
    assert call["entries"][0]["status"] == "Queued"
    assert [c.path for c in africastalking.calls] == ["/version1/messaging", "/call"]
    assert africastalking.calls[0].form == {
        "username": "sandbox",
        "to": "+51987654321",
        "message": "Hola",
        "bulkSMSMode": "1",
    }


def test_wrong_key_is_refused_and_reported(africastalking) -> None:
    with pytest.raises(AfricasTalkingException):
        SMSService("sandbox", "wrong-key").send("Hola", ["+51987654321"])
    assert africastalking.problems == ["/version1/messaging: apiKey"]
    africastalking.problems.clear()
