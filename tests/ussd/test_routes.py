import json
import logging
from ipaddress import ip_network

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from shell.app import create_app
from tests.fixtures.ussd import Phone
from willay import security
from willay.events import MemoryEventSink
from willay.profiles import event_subject
from willay.retried import RETRY_BODY

FORM = {"sessionId": "ATUid_1", "serviceCode": "*123#", "phoneNumber": "+51987654321", "text": ""}


class TestUssdHop:
    def test_missing_field_is_400_with_reason(self, client: TestClient) -> None:
        response = client.post("/ussd/africastalking", data={"sessionId": "ATUid_1", "text": ""})
        assert response.status_code == 400
        body = response.json()
        assert body["error"] == "BadRequest"
        assert "phoneNumber: Field required" in body["detail"]
        assert "serviceCode: Field required" in body["detail"]

    @pytest.mark.parametrize(
        ("field", "value", "reason"),
        [
            ("phoneNumber", "hello", "phoneNumber"),
            ("sessionId", "bad id with spaces", "sessionId"),
        ],
    )
    def test_malformed_field_is_400(self, client, field, value, reason) -> None:
        response = client.post("/ussd/africastalking", data={**FORM, field: value})
        assert response.status_code == 400 and reason in response.json()["detail"]

    def test_reply_is_plain_text_con(self, client: TestClient) -> None:
        response = client.post("/ussd/africastalking", data=FORM)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert response.text.startswith("CON ")
        assert int(response.headers["x-willay-septets"]) == len(response.text) - 4

    def test_letters_typed_by_a_person_reprompt(self, phone: Phone) -> None:
        phone.dial()
        reply = phone.press("abc")
        assert reply.status == 200 and reply.screen.startswith("Opcion no valida.")


class TestCallbackGuard:
    @pytest.fixture
    def guarded(self, settings, events) -> TestClient:
        secured = settings.model_copy(update={"callback_token": SecretStr("s3cret")})
        with TestClient(create_app(secured, events=events)) as c:
            yield c

    def test_without_or_with_wrong_token_is_403_and_logged(self, guarded, caplog) -> None:
        caplog.set_level(logging.WARNING)
        refused = guarded.post("/ussd/africastalking", data=FORM)
        assert refused.status_code == 403 and refused.json()["error"] == "Forbidden"
        wrong = guarded.post("/ussd/africastalking?token=nope", data=FORM)
        assert wrong.status_code == 403 and wrong.json()["error"] == "Forbidden"
        assert "wrong token" in caplog.text and "nope" not in caplog.text
        ended = guarded.post("/ussd/africastalking/events", data={**FORM, "status": "Success"})
        assert ended.status_code == 403 and ended.json()["error"] == "Forbidden"

    def test_the_documented_route_refuses_too(self, guarded) -> None:
        """A multipart hop goes to the FastAPI route, not the bare url-encoded one."""
        for url in ("/ussd/africastalking", "/ussd/africastalking?token=nope"):
            refused = guarded.post(url, data=FORM, files={"x": ("x", b"")})
            assert refused.status_code == 403 and refused.json()["error"] == "Forbidden"
        served = guarded.post(
            "/ussd/africastalking?token=s3cret", data=FORM, files={"x": ("x", b"")}
        )
        assert served.status_code == 200 and served.text.startswith("CON ")

    def test_with_token_is_served(self, guarded) -> None:
        assert "1 Español" in Phone(guarded, token="s3cret").dial().screen

    def test_a_provider_hop_is_authenticated_once(self, guarded, monkeypatch) -> None:
        checks: list[str] = []
        refusal = security.callback_refusal

        def counted(*args, **kwargs):
            checks.append("checked")
            return refusal(*args, **kwargs)

        monkeypatch.setattr(security, "callback_refusal", counted)
        assert "1 Español" in Phone(guarded, token="s3cret").dial().screen
        assert checks == ["checked"]

    def test_network_allow_list(self, settings, events) -> None:
        only_at = settings.model_copy(
            update={"callback_networks": [ip_network("196.201.214.0/24")]}
        )
        with TestClient(create_app(only_at, events=events)) as c:
            refused = c.post("/ussd/africastalking", data=FORM)
            assert refused.status_code == 403 and refused.json()["error"] == "Forbidden"
        local = settings.model_copy(update={"callback_networks": [ip_network("127.0.0.0/8")]})
        with TestClient(create_app(local, events=events), client=("127.0.0.1", 5000)) as c:
            served = c.post("/ussd/africastalking", data=FORM)
            assert served.status_code == 200 and served.text.startswith("CON ")


class TestNoticeEndpoint:
    def test_bad_status_is_400(self, client) -> None:
        response = client.post("/ussd/africastalking/events", data={**FORM, "status": "Maybe"})
        assert response.status_code == 400 and "status" in response.json()["detail"]


class TestHealth:
    def test_healthz_and_readyz_embedded(self, client) -> None:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz").json()
        assert ready["status"] == "ok" and ready["store"] == "memory"
        assert ready["environment"] == "testing" and ready["servable_tips"]["es"] >= 60

    @pytest.mark.redis
    def test_readyz_with_redis(self, redis_client) -> None:
        ready = redis_client.get("/readyz").json()
        assert (ready["status"], ready["store"]) == ("ok", "redis")


class TestRedisDown:
    @pytest.fixture
    def down(self, settings, events: MemoryEventSink) -> TestClient:
        dead = settings.model_copy(update={"redis_url": "redis://127.0.0.1:9/0"})
        with TestClient(create_app(dead, events=events)) as c:
            yield c

    def test_hop_ends_with_apology_not_500(self, down, events, caplog) -> None:
        caplog.set_level(logging.ERROR)
        response = down.post("/ussd/africastalking", data={**FORM, "text": "1*2"})
        assert response.status_code == 200
        assert response.text.startswith("END Lo sentimos")
        assert "106" in response.text
        assert "USSD hop ATUid_1 failed" in caplog.text
        error = events.events[-1]
        assert error.kind == "error" and error.data["input"] == "1*2"
        assert "987654321" not in error.to_json()

    def test_readyz_names_redis(self, down) -> None:
        response = down.get("/readyz")
        assert response.status_code == 503 and response.json()["redis"] == "down"


class TestUnexpectedFailure:
    """Any failure of a hop, not only a service down, ends the session with the apology."""

    @staticmethod
    def _corrupt_resume(raw_redis, redis_prefix: str, phone: Phone) -> None:
        session = json.loads(raw_redis.get(f"{redis_prefix}:ussd:session:{phone.session_id}"))
        raw_redis.set(f"{redis_prefix}:ussd:resume:{session['subscriber']}", "{not json")

    def test_in_the_sessions_language_with_the_traceback_logged(
        self, redis_phone: Phone, raw_redis, redis_prefix, events, caplog
    ) -> None:
        redis_phone.dial()
        assert redis_phone.press("2").screen.startswith("Yuyaychakuykunata")  # Quechua chosen
        self._corrupt_resume(raw_redis, redis_prefix, redis_phone)
        caplog.set_level(logging.ERROR)
        reply = redis_phone.press("1")
        assert reply.status == 200 and reply.end
        assert reply.screen.startswith("Pampachawayku") and "113" in reply.screen
        assert "json" not in reply.body.lower() and "Error" not in reply.body
        (record,) = [r for r in caplog.records if "failed unexpectedly" in r.getMessage()]
        assert record.exc_info is not None and record.exc_info[0].__name__ == "ValidationError"
        error = events.events[-1]
        assert error.kind == "error" and error.data["error"] == "ValidationError"
        assert error.subscriber.startswith("anon-") and "987654321" not in error.to_json()

    def test_in_spanish_when_the_session_is_unknown(
        self, redis_phone: Phone, raw_redis, redis_prefix
    ) -> None:
        redis_phone.dial()
        self._corrupt_resume(raw_redis, redis_prefix, redis_phone)
        reply = redis_phone.dial()  # a new session: no language known yet
        assert reply.status == 200 and reply.end
        assert reply.screen.startswith("Lo sentimos") and "113 o 106" in reply.screen

    def test_end_of_session_notice_failing_is_503_to_be_retried(
        self, redis_phone: Phone, raw_redis, redis_prefix, caplog
    ) -> None:
        redis_phone.dial()
        raw_redis.set(f"{redis_prefix}:ussd:session:{redis_phone.session_id}", "{not json")
        caplog.set_level(logging.ERROR)
        response = redis_phone.client.post(
            "/ussd/africastalking/events",
            data={**FORM, "sessionId": redis_phone.session_id, "status": "Incomplete"},
        )
        assert response.status_code == 503 and response.headers["retry-after"] == "60"
        assert response.json() == {"error": "ServiceUnavailable", "detail": RETRY_BODY["detail"]}
        assert any(r.exc_info for r in caplog.records if "failed unexpectedly" in r.getMessage())


def test_end_of_an_unknown_session_names_its_subject_by_the_one_rule(phone: Phone, events) -> None:
    phone.session_id = "ATUid_never_seen"
    assert phone.hang_up() == 200
    (ended,) = [e for e in events.events if e.kind == "session_end"]
    assert ended.subscriber == event_subject(None, "ATUid_never_seen")
    assert ended.subscriber != event_subject(None, "ATUid_other")
