"""The request guard on a real uvicorn server: auth before the body, body caps, stalled bodies."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from shell.app import CALLBACK_BODY_BYTES, DEFAULT_BODY_BYTES, create_app
from willay import security
from willay.config import Settings
from willay.security import error_body

TOKEN = "guard-test-token-0123456789abcdef"
FORM = "sessionId=ATUid_1&serviceCode=%2A123%23&phoneNumber=%2B51987654321&text="


def raw_post(base: str, path: str, *, headers: dict[str, str], body: bytes) -> socket.socket:
    """Open a connection and send a POST's head and the first part of its body only."""
    url = urlsplit(base)
    sock = socket.create_connection((url.hostname, url.port), timeout=10)
    head = [f"POST {path} HTTP/1.1", f"Host: {url.hostname}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    sock.close()
    return received


@pytest.fixture
def guarded(settings: Settings, serve: Callable[[Settings], str]) -> str:
    """A real server whose callbacks need the token, with a 1 s body deadline."""
    update = {"callback_token": SecretStr(TOKEN), "body_timeout": 1.0}
    return serve(settings.model_copy(update=update))


FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


class TestAuthBeforeBody:
    def test_unauthenticated_gigabyte_is_refused_without_reading_it(self, guarded) -> None:
        headers = {**FORM_HEADERS, "Content-Length": str(1 << 30)}
        sock = raw_post(guarded, "/ussd/africastalking", headers=headers, body=b"f=" + b"a" * 1000)
        answer = read_until_closed(sock)  # the server closes: it will not read a gigabyte
        assert answer.startswith(b"HTTP/1.1 403")
        assert b"connection: close" in answer.lower()
        assert answer.endswith(
            b'{"error": "Forbidden", "detail": "missing or wrong callback token"}'
        )

    def test_unauthenticated_chunked_body_is_refused(self, guarded) -> None:
        headers = {**FORM_HEADERS, "Transfer-Encoding": "chunked"}
        sock = raw_post(guarded, "/ivr/africastalking?token=wrong", headers=headers, body=b"")
        sock.sendall(b"400\r\n" + b"a" * 1024 + b"\r\n")
        assert read_until_closed(sock).startswith(b"HTTP/1.1 403")

    def test_network_refused_before_the_body(self, settings, serve) -> None:
        from ipaddress import ip_network

        elsewhere = settings.model_copy(update={"callback_networks": [ip_network("10.9.0.0/16")]})
        base = serve(elsewhere)
        headers = {**FORM_HEADERS, "Content-Length": str(1 << 30)}
        answer = read_until_closed(
            raw_post(base, "/sms/africastalking/inbound", headers=headers, body=b"")
        )
        assert answer.startswith(b"HTTP/1.1 403") and b"network" in answer


class TestBodyCaps:
    def test_declared_length_over_the_callback_cap_is_413_at_once(self, guarded) -> None:
        headers = {**FORM_HEADERS, "Content-Length": str(CALLBACK_BODY_BYTES + 1)}
        sock = raw_post(guarded, f"/ussd/africastalking?token={TOKEN}", headers=headers, body=b"")
        answer = read_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 413")
        assert f"over {CALLBACK_BODY_BYTES:,} bytes".encode() in answer

    def test_streamed_body_over_the_cap_is_counted_and_refused(self, guarded) -> None:
        headers = {**FORM_HEADERS, "Transfer-Encoding": "chunked"}
        sock = raw_post(guarded, f"/ussd/africastalking?token={TOKEN}", headers=headers, body=b"")
        chunk = b"f=" + b"a" * 4094
        for _ in range(CALLBACK_BODY_BYTES // len(chunk)):  # exactly the cap, then one byte more
            sock.sendall(b"1000\r\n" + chunk + b"\r\n")
        sock.sendall(b"1\r\na\r\n")
        answer = read_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 413")
        assert b'"error": "PayloadTooLarge"' in answer

    def test_a_callback_within_the_cap_is_served(self, guarded) -> None:
        body = FORM.encode()
        headers = {**FORM_HEADERS, "Content-Length": str(len(body)), "Connection": "close"}
        sock = raw_post(guarded, f"/ussd/africastalking?token={TOKEN}", headers=headers, body=body)
        answer = read_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 200") and b"CON " in answer

    def test_other_routes_have_the_default_cap(self, client: TestClient) -> None:
        response = client.post(
            "/healthz", content=b"x", headers={"Content-Length": str(DEFAULT_BODY_BYTES + 1)}
        )
        assert response.status_code == 413 and response.json()["error"] == "PayloadTooLarge"

    def test_a_content_length_that_is_not_a_number_is_400(self, client: TestClient) -> None:
        response = client.post(
            "/ussd/africastalking", content=b"x", headers={"Content-Length": "x1"}
        )
        assert response.status_code == 400 and "Content-Length" in response.json()["detail"]


class TestStalledBodies:
    def test_a_stalled_body_is_answered_408_and_closed(self, guarded) -> None:
        body = FORM.encode()
        headers = {**FORM_HEADERS, "Content-Length": str(len(body) + 100)}
        started = time.monotonic()
        sock = raw_post(guarded, f"/ussd/africastalking?token={TOKEN}", headers=headers, body=body)
        answer = read_until_closed(sock)  # 100 bytes never come
        assert answer.startswith(b"HTTP/1.1 408")
        assert b'"error": "RequestTimeout"' in answer
        assert 0.9 < time.monotonic() - started < 5

    def test_a_body_dripping_in_is_cut_at_the_deadline(self, guarded) -> None:
        headers = {**FORM_HEADERS, "Content-Length": "100"}
        sock = raw_post(guarded, f"/ussd/africastalking?token={TOKEN}", headers=headers, body=b"f=")
        started = time.monotonic()
        try:
            for _ in range(10):  # a byte every 0.3 s: each read is quick, the whole body is not
                time.sleep(0.3)
                sock.sendall(b"a")
        except OSError:
            pass  # closed by the server
        answer = read_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 408")
        assert time.monotonic() - started < 3

    def test_many_stalled_uploads_are_all_closed(self, guarded) -> None:
        headers = {**FORM_HEADERS, "Content-Length": "1000"}
        socks = [
            raw_post(guarded, f"/ussd/africastalking?token={TOKEN}", headers=headers, body=b"f=")
            for _ in range(30)
        ]
        answers = [read_until_closed(s) for s in socks]
        assert all(a.startswith(b"HTTP/1.1 408") for a in answers)


def test_the_guard_knows_every_callback_route(settings) -> None:
    app = create_app(settings)
    guard = next(m for m in app.user_middleware if m.cls.__name__ == "RequestGuard")
    assert guard.kwargs["rules"].callbacks == {
        "/ussd/africastalking",
        "/ussd/africastalking/events",
        "/ivr/africastalking",
        "/sms/africastalking/inbound",
        "/sms/africastalking/delivery",
    }


CALLBACK_PATHS = [
    "/ussd/africastalking",
    "/ussd/africastalking/events",
    "/ivr/africastalking",
    "/sms/africastalking/inbound",
    "/sms/africastalking/delivery",
]


@pytest.mark.parametrize("path", CALLBACK_PATHS)
@pytest.mark.parametrize("query", ["", "?token=nope"])
def test_an_unauthenticated_callback_is_refused_once_with_one_body(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, path: str, query: str
) -> None:
    """Multipart goes through the framework's routing: still one check, the guard's 403."""
    checks: list[str] = []
    refusal = security.callback_refusal

    def counted(client: str, **kwargs: object) -> str | None:
        checks.append(client)
        return refusal(client, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(security, "callback_refusal", counted)
    secured = settings.model_copy(update={"callback_token": SecretStr(TOKEN)})
    with TestClient(create_app(secured)) as client:
        refused = client.post(path + query, data={"a": "b"}, files={"x": ("x", b"")})
        served = client.post(f"{path}?token={TOKEN}", files={"x": ("x", b"")})
    assert refused.status_code == 403
    assert refused.content == error_body("Forbidden", "missing or wrong callback token")
    assert served.status_code != 403  # past the guard: the route itself answers
    assert len(checks) == 2  # one per request, the guard's alone
