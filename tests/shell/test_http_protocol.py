"""One write per response, on a real uvicorn server over a real socket, byte for byte as stock."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shell.http_protocol import OneWriteProtocol, TickWriter
from tests.fixtures.browser import LoopbackServers

WAIT = 10  # seconds before a missing byte fails the test
BODY = b"CON Bienvenido a Willay\n1. Consejos de salud\n2. Alertas\n3. Idioma\n4. Ayuda"
REQUEST = b"GET /ussd HTTP/1.1\r\nHost: t\r\n\r\n"
CLOSING = b"GET /ussd HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
STREAM_GO_ON = threading.Event()  # set by the test: the stream may send its last chunk


async def ussd_answer(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A small answer in two ASGI messages, as a USSD hop sends it; `/stream` a two-chunk stream."""
    if scope["path"] == "/stream":
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        await asyncio.to_thread(STREAM_GO_ON.wait, WAIT)
        await send({"type": "http.response.body", "body": b"data: 2\n\n"})
        return
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(BODY))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


@pytest.fixture
def serve(loopback: LoopbackServers) -> Iterator[Callable[[type[HttpToolsProtocol]], int]]:
    """`serve(protocol)` runs `ussd_answer` on uvicorn with `protocol` in a thread; its port."""

    def start(protocol: type[HttpToolsProtocol]) -> int:
        return loopback.start(
            ussd_answer,
            http=protocol,
            lifespan="off",
            server_header=False,
            date_header=False,  # so stock and ours can be compared byte for byte
        )

    STREAM_GO_ON.clear()
    yield start
    STREAM_GO_ON.set()  # before the servers stop: a stream may be waiting for it


def connect(port: int) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


def data_segments_in(client: socket.socket) -> int:
    """Segments carrying data this socket has received: Linux's `tcp_info.tcpi_data_segs_in`."""
    info = client.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return int.from_bytes(info[152:156], sys.byteorder)  # its offset in struct tcp_info


def read_response(client: socket.socket) -> bytes:
    """One whole response with a content-length, however many `recv`s it takes."""
    data = _more(client, b"")
    while b"\r\n\r\n" not in data:
        data = _more(client, data)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body = _more(client, body)
    return head + b"\r\n\r\n" + body


def _more(client: socket.socket, data: bytes) -> bytes:
    chunk = client.recv(65536)
    if not chunk:
        raise ConnectionError(f"closed by the server after {data!r}")
    return data + chunk


def keep_alive_exchange(port: int, requests: int) -> list[bytes]:
    with connect(port) as client:
        responses = []
        for _ in range(requests):
            client.sendall(REQUEST)
            responses.append(read_response(client))
        return responses


def test_each_response_arrives_as_one_segment(serve) -> None:
    for protocol, segments_each in ((OneWriteProtocol, 1), (HttpToolsProtocol, 2)):
        with connect(serve(protocol)) as client:
            for _ in range(3):
                before = data_segments_in(client)
                client.sendall(REQUEST)
                assert read_response(client).endswith(b"\r\n\r\n" + BODY)
                assert data_segments_in(client) - before == segments_each, protocol.__name__


def test_keep_alive_answers_are_byte_identical_to_stock(serve) -> None:
    ours = keep_alive_exchange(serve(OneWriteProtocol), requests=5)
    stock = keep_alive_exchange(serve(HttpToolsProtocol), requests=5)
    assert ours == stock
    assert all(response.endswith(BODY) for response in ours)


def test_a_stream_sends_its_head_and_first_chunk_before_it_ends(serve) -> None:
    port = serve(OneWriteProtocol)
    with connect(port) as client:
        client.sendall(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        data = b""
        while b"data: 1\n\n" not in data:
            chunk = client.recv(65536)
            assert chunk, "closed before the first chunk"
            data += chunk  # a held head or chunk times out here: the stream waits on us
        assert data.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"data: 2" not in data
        STREAM_GO_ON.set()
        while not data.endswith(b"0\r\n\r\n"):
            data += client.recv(65536)
        assert b"data: 2\n\n" in data


def test_connection_close_closes_after_the_body(serve) -> None:
    port = serve(OneWriteProtocol)
    with connect(port) as client:
        client.sendall(CLOSING)
        data = b""
        while chunk := client.recv(65536):
            data += chunk
    assert b"\r\nconnection: close\r\n" in data
    assert data.endswith(b"\r\n\r\n" + BODY)


class RecordingTransport:
    """What a `TickWriter` does to its transport, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def close(self) -> None:
        self.calls.append(("close", b""))

    def write_eof(self) -> None:
        self.calls.append(("write_eof", b""))

    def abort(self) -> None:
        self.calls.append(("abort", b""))

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str) -> str:
        return f"extra {name}"

    def get_write_buffer_size(self) -> int:
        return 100


def on_a_tick_writer(scenario: Callable[[TickWriter, RecordingTransport], Any]) -> list:
    """Run `scenario(writer, transport)` (a coroutine function) in a loop; the transport's calls."""
    transport = RecordingTransport()

    async def run() -> None:
        await scenario(TickWriter(transport, asyncio.get_running_loop()), transport)  # type: ignore[arg-type]

    asyncio.run(run())
    return transport.calls


class TestTickWriter:
    def test_the_writes_of_one_tick_leave_as_one_at_the_next(self) -> None:
        async def scenario(writer: TickWriter, transport: RecordingTransport) -> None:
            writer.write(b"head ")
            writer.write(b"body")
            assert transport.calls == []
            await asyncio.sleep(0)
            writer.write(b"next")

        assert on_a_tick_writer(scenario) == [("write", b"head body"), ("write", b"next")]

    def test_past_the_high_water_mark_it_writes_at_once(self) -> None:
        async def scenario(writer: TickWriter, transport: RecordingTransport) -> None:
            writer.write(b"head ")
            writer.write(b"x" * HIGH_WATER_LIMIT)
            assert transport.calls == [("write", b"head " + b"x" * HIGH_WATER_LIMIT)]

        assert len(on_a_tick_writer(scenario)) == 1  # nothing left for the next tick

    @pytest.mark.parametrize("ending", ["close", "write_eof"])
    def test_closing_writes_what_is_gathered_first(self, ending: str) -> None:
        async def scenario(writer: TickWriter, transport: RecordingTransport) -> None:
            writer.write(b"body")
            getattr(writer, ending)()

        assert on_a_tick_writer(scenario) == [("write", b"body"), (ending, b"")]

    def test_abort_drops_what_is_gathered(self) -> None:
        async def scenario(writer: TickWriter, transport: RecordingTransport) -> None:
            writer.write(b"body")
            writer.abort()
            await asyncio.sleep(0)

        assert on_a_tick_writer(scenario) == [("abort", b"")]

    def test_a_transport_closing_meanwhile_gets_nothing(self) -> None:
        async def scenario(writer: TickWriter, transport: RecordingTransport) -> None:
            writer.write(b"body")
            transport.closing = True
            await asyncio.sleep(0)
            writer.close()

        assert on_a_tick_writer(scenario) == [("close", b"")]

    def test_anything_else_is_the_transports(self) -> None:
        async def scenario(writer: TickWriter, transport: RecordingTransport) -> None:
            assert writer.get_extra_info("peername") == "extra peername"
            assert not writer.is_closing()

        assert on_a_tick_writer(scenario) == []

    def test_writelines_never_overtakes_what_is_gathered(self) -> None:
        async def scenario(writer: TickWriter, transport: RecordingTransport) -> None:
            writer.write(b"HTTP/1.1 200 OK\r\n\r\n")
            writer.writelines([b"bo", b"dy"])
            assert writer.get_write_buffer_size() == 100 + 23  # the transport's and the gathered

        assert on_a_tick_writer(scenario) == [("write", b"HTTP/1.1 200 OK\r\n\r\nbody")]
