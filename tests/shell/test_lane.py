"""The hop lane: the provider's hops answered from the parser, byte for byte as the app answers.

Two real uvicorn servers on loopback run the same app: one on `LaneProtocol` (what `willay
serve` runs), one on uvicorn's stock protocol, where every request goes through ASGI. Both get
the same raw requests; a spy in front of each app records what reached ASGI.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import ip_network
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from recommender import RuleBasedPicker
from shell.app import CALLBACK_BODY_BYTES, create_app
from shell.http_protocol import LaneProtocol
from tests.fixtures.browser import LoopbackServers
from tests.fixtures.ussd import FixedClock
from tests.shell.test_http_protocol import data_segments_in, read_response
from ussd.lane import HopLane
from willay.config import Settings
from willay.events import MemoryEventSink

TOKEN = "lane-test-token"
HOP = f"/ussd/africastalking?token={TOKEN}"
WAIT = 10


def form(text: str, session: str = "ATUid_lane1", phone: str = "%2B51987654321") -> bytes:
    return f"sessionId={session}&serviceCode=%2A123%23&phoneNumber={phone}&text={text}".encode()


def post(path: str, body: bytes, *headers: str, version: str = "1.1") -> bytes:
    head = [f"POST {path} HTTP/{version}", "Host: t"]
    head += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
    head += headers
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@dataclass
class Server:
    port: int
    asgi_paths: list[str]  # the paths of the http requests that reached the app through ASGI

    def connect(self) -> socket.socket:
        client = socket.create_connection(("127.0.0.1", self.port), timeout=WAIT)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return client

    def exchange(self, *requests: bytes) -> list[bytes]:
        """Each request in turn on one keep-alive connection; the responses."""
        with self.connect() as client:
            responses = []
            for request in requests:
                client.sendall(request)
                responses.append(read_response(client))
            return responses

    def until_closed(self, *parts: bytes, pause: float = 0) -> bytes:
        """Send `parts` (`pause` seconds apart), then everything until the server closes."""
        with self.connect() as client:
            for part in parts:
                client.sendall(part)
                time.sleep(pause)
            received = b""
            while chunk := client.recv(65536):
                received += chunk
            return received


@pytest.fixture
def pair(
    settings: Settings, clock, loopback: LoopbackServers
) -> Callable[..., tuple[Server, Server]]:
    """`pair(**settings_update)`: the app on the lane and on stock uvicorn, same settings."""

    def one(protocol: type[HttpToolsProtocol], update: dict[str, Any]) -> Server:
        app = create_app(
            settings.model_copy(update=update),
            events=MemoryEventSink(),
            picker=RuleBasedPicker(rng=random.Random(7)),  # the same tips on both servers
            clock=clock,
        )
        paths: list[str] = []

        async def spy(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                paths.append(scope["path"])
            await app(scope, receive, send)

        port = loopback.start(
            spy,
            http=protocol,
            lifespan="on",
            access_log=False,  # as `willay serve` runs it
            server_header=False,
            date_header=False,  # so the two can be compared byte for byte
        )
        return Server(port, paths)

    def start(**update: Any) -> tuple[Server, Server]:
        update = {"callback_token": SecretStr(TOKEN), "body_timeout": 1.0, **update}
        return one(LaneProtocol, update), one(HttpToolsProtocol, update)

    return start


WALK = ["", "1", "1*1", "1*1*1", "1*1*1*0", "1*1*1*0*9"]


def test_a_session_on_the_lane_is_answered_as_the_app_answers_it(pair) -> None:
    lane, stock = pair()
    requests = [post(HOP, form(text)) for text in WALK]
    answered = lane.exchange(*requests)
    assert answered == stock.exchange(*requests)
    assert all(b"\r\n\r\nCON " in a or b"\r\n\r\nEND " in a for a in answered)
    assert b"x-willay-septets: " in answered[0]
    assert lane.asgi_paths == [] and len(stock.asgi_paths) == len(WALK)


def test_each_lane_answer_is_one_segment(pair) -> None:
    lane, _ = pair()
    with lane.connect() as client:
        for text in WALK[:3]:
            before = data_segments_in(client)
            client.sendall(post(HOP, form(text, session="ATUid_segments")))
            answer = read_response(client)
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
            assert data_segments_in(client) - before == 1


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/ussd/africastalking?token=wrong", form(""), b"403"),
        ("/ussd/africastalking", form(""), b"403"),
        (HOP, b"f=" + b"1" * CALLBACK_BODY_BYTES, b"413"),
    ],
)
def test_a_refusal_on_the_head_is_the_guards_and_closes(pair, path, body, status) -> None:
    lane, stock = pair()
    refused = lane.until_closed(post(path, body))
    assert refused.startswith(b"HTTP/1.1 " + status)
    assert refused == stock.until_closed(post(path, body))
    assert lane.asgi_paths == []


def test_nothing_sent_after_a_refusal_is_served(pair) -> None:
    lane, stock = pair()
    refused = post("/ussd/africastalking?token=wrong", form(""))
    dial = post(HOP, form("", session="ATUid_after_refusal"))
    answered = lane.until_closed(refused + dial)
    assert answered.startswith(b"HTTP/1.1 403") and answered.count(b"HTTP/1.1") == 1
    assert answered == stock.until_closed(refused + dial)
    choose = post(HOP, form("1", session="ATUid_after_refusal"))
    assert lane.exchange(choose) == stock.exchange(choose)  # the dial was never applied
    assert lane.asgi_paths == []


def test_the_first_content_type_decides_as_in_the_app(pair) -> None:
    lane, stock = pair()
    request = post(HOP, form("")).replace(
        b"Content-Type:", b"Content-Type: text/plain\r\nContent-Type:"
    )
    answered = lane.exchange(request)
    assert answered[0].startswith(b"HTTP/1.1 400") and answered == stock.exchange(request)


def test_a_form_that_does_not_validate_gets_the_apps_400(pair) -> None:
    lane, stock = pair()
    bad = post(HOP, b"text=1&phoneNumber=%2B51987654321")
    answered = lane.exchange(bad)
    assert answered[0].startswith(b"HTTP/1.1 400")
    assert answered == stock.exchange(bad)
    assert lane.asgi_paths == ["/ussd/africastalking"]


def test_a_body_after_its_head_goes_to_the_app_and_is_answered_alike(pair) -> None:
    lane, stock = pair()
    request = post(HOP, form(""), "Connection: close")
    head, _, body = request.partition(b"\r\n\r\n")
    answers = [s.until_closed(head + b"\r\n\r\n", body, pause=0.1) for s in (lane, stock)]
    assert answers[0].startswith(b"HTTP/1.1 200") and answers[0] == answers[1]
    assert lane.asgi_paths == ["/ussd/africastalking"]


def test_a_body_that_stalls_gets_the_apps_deadline(pair) -> None:
    lane, _ = pair()
    request = post(HOP, form(""))
    started = time.monotonic()
    answer = lane.until_closed(request[:-5])
    assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 5


def test_pipelined_hops_are_answered_in_order(pair) -> None:
    lane, stock = pair()
    both = post(HOP, form("")) + post(HOP, form("1"), "Connection: close")
    answered = lane.until_closed(both)
    assert answered == stock.until_closed(both)
    _, first, second = answered.split(b"HTTP/1.1 200 OK")
    assert first != second and b"connection: close" in second


@pytest.mark.parametrize("request_tail", ["http/1.0", "close", "chunked"])
def test_what_ends_or_streams_a_request_is_answered_as_the_app_does(
    pair, request_tail: str
) -> None:
    lane, stock = pair()
    body = form("")
    if request_tail == "http/1.0":
        request = post(HOP, body, version="1.0")
    elif request_tail == "close":
        request = post(HOP, body, "Connection: close")
    else:
        chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
        request = post(HOP, b"", "Transfer-Encoding: chunked", "Connection: close")
        request = request.replace(b"Content-Length: 0\r\n", b"") + chunked
    answered = lane.until_closed(request)
    assert answered.startswith(b"HTTP/1.1 200") and b"connection: close" in answered
    assert answered == stock.until_closed(request)
    assert lane.asgi_paths == (["/ussd/africastalking"] if request_tail == "chunked" else [])


@pytest.mark.parametrize(
    ("forwarded", "status"),
    [
        (("X-Forwarded-For: 10.9.1.2",), b"200"),
        (("X-Forwarded-For: 192.0.2.7",), b"403"),
        ((), b"403"),
    ],
)
def test_the_caller_checked_is_the_one_a_trusted_proxy_names(pair, forwarded, status) -> None:
    lane, stock = pair(callback_networks=[ip_network("10.9.0.0/16")])
    request = post(HOP, form(""), *forwarded, "Connection: close")
    answered = lane.until_closed(request)
    assert answered.startswith(b"HTTP/1.1 " + status)
    assert answered == stock.until_closed(request)
    assert lane.asgi_paths == []


def test_anything_else_reaches_the_app(pair) -> None:
    lane, stock = pair()
    health = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
    notice = post("/ussd/africastalking/events?token=" + TOKEN, b"sessionId=x")
    assert lane.exchange(health, notice) == stock.exchange(health, notice)
    assert lane.asgi_paths == ["/healthz", "/ussd/africastalking/events"]


def lane_app(settings: Settings, clock: FixedClock) -> FastAPI:
    """The app with the tests' callback token, as the keep-alive tests serve it alone."""
    return create_app(
        settings.model_copy(update={"callback_token": SecretStr(TOKEN)}),
        events=MemoryEventSink(),
        clock=clock,
    )


def test_a_connection_is_closed_once_idle_for_the_keep_alive_timeout(
    settings: Settings, clock, loopback: LoopbackServers
) -> None:
    """One timer per connection: hops 0.1 s apart for twice the timeout are all answered on
    one connection; once it is idle, the server closes it after the timeout."""
    app = lane_app(settings, clock)
    port = loopback.start(
        app, http=LaneProtocol, lifespan="on", access_log=False, timeout_keep_alive=0.3
    )
    with Server(port, []).connect() as client:
        for text in WALK:  # 0.6 s of hops in all
            client.sendall(post(HOP, form(text)))
            assert read_response(client).startswith(b"HTTP/1.1 200 ")
            time.sleep(0.1)
        idle = time.monotonic()
        assert client.recv(1) == b""  # closed by the server
        closed_after = time.monotonic() - idle
    assert 0.1 < closed_after < 1.0  # 0.3 s after the last answer, which came 0.1 s before


def test_a_connection_the_client_closes_keeps_no_keep_alive_timer(
    settings: Settings, clock, loopback: LoopbackServers
) -> None:
    """The timer holds its protocol until due: a closed connection's is cancelled at once."""
    made: list[LaneProtocol] = []

    class Recorded(LaneProtocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            made.append(self)

    app = lane_app(settings, clock)
    port = loopback.start(app, http=Recorded, lifespan="on", access_log=False)
    with Server(port, []).connect() as client:
        client.sendall(post(HOP, form("")))
        assert read_response(client).startswith(b"HTTP/1.1 200 ")
        assert made[0].timeout_keep_alive_task is not None  # armed once answered
    deadline = time.monotonic() + WAIT
    while made[0].parser is not None and time.monotonic() < deadline:  # until connection_lost
        time.sleep(0.01)
    assert made[0].parser is None
    assert made[0].timeout_keep_alive_task is None


def test_a_lane_that_fails_closes_the_connection_unanswered(pair, monkeypatch) -> None:
    """`HopLane.answer` never raises; if a bug makes it, the caller gets a closed connection
    (the provider retries), not a hang, and nothing reaches the app in its place."""

    async def broken(self: HopLane, form: Any) -> Any:  # noqa: ANN401 - any form, no answer
        raise RuntimeError("a bug")

    monkeypatch.setattr(HopLane, "answer", broken)
    lane, _ = pair()
    assert lane.until_closed(post(HOP, form(""))) == b""
    assert lane.asgi_paths == []
