"""One error shape everywhere, `{"error", "detail"}`, and no internals in it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from shell.app import create_app
from willay.events import MemoryEventSink

FORM = {"sessionId": "ATUid_1", "phoneNumber": "+51987654321", "status": "Success"}


def test_unknown_path_is_404_in_the_shape(client: TestClient) -> None:
    response = client.get("/nothing/here")
    assert response.status_code == 404
    assert response.json() == {"error": "NotFound", "detail": "Not Found: GET /nothing/here"}


def test_wrong_method_is_405_in_the_shape_with_allow(client: TestClient) -> None:
    response = client.get("/ussd/africastalking")
    assert response.status_code == 405
    assert response.json()["error"] == "MethodNotAllowed"
    assert response.headers["allow"] == "POST"


def test_unparseable_body_is_400_in_the_shape(client: TestClient) -> None:
    response = client.post(
        "/ussd/africastalking",
        content=b"--x\r\nbroken",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert response.status_code == 400
    assert set(response.json()) == {"error", "detail"}


def test_unexpected_error_is_500_in_the_shape(settings, events) -> None:
    app = create_app(settings, events=events)

    async def boom() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as c:
        response = c.get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": "InternalServerError",
        "detail": "unexpected error; it has been logged",
    }


class TestServiceDown:
    @pytest.fixture
    def down(self, settings) -> TestClient:
        dead = settings.model_copy(update={"redis_url": "redis://127.0.0.1:6390/0"})
        with TestClient(create_app(dead, events=MemoryEventSink())) as c:
            yield c

    def test_503_names_no_host_port_or_errno(self, down, caplog) -> None:
        response = down.post("/ussd/africastalking/events", data=FORM)
        assert response.status_code == 503
        body = response.json()
        assert body == {
            "error": "StoreUnavailable",
            "detail": "the session store is unavailable; try again shortly",
        }
        assert "6390" in caplog.text  # the details stay in the log

    def test_readyz_names_no_internals(self, down) -> None:
        response = down.get("/readyz")
        assert response.status_code == 503
        assert "6390" not in response.text and "111" not in response.text
