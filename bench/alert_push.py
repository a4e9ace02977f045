"""How an alert reaches an open app page, and what keeping the page informed costs in data.

Runs the app on a loopback port on the real broker (`--mqtt`, default mqtt://127.0.0.1:1883,
under a topic root of its own, cleared afterwards), opens the Server-Sent Events stream as a
browser does (a raw socket, so every byte is counted: headers, chunk framing, events), publishes
alerts through the broker as `willay alerts publish` does, and prints the latency from publishing
to the event on the page, the bytes of opening the stream and of each alert, and what polling
`GET /app/alerts` instead would cost for the same freshness.

    .venv/bin/python -m bench.alert_push [--alerts 10]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import secrets
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import uvicorn

from alerts import MqttAlertBoard
from shell.app import create_app
from ussd.actions import ACTIONS
from ussd.menus import JOURNEY_FILE, alert_room, load_journey
from willay.alerts import draft_alert
from willay.catalog import load_catalog
from willay.config import Environment, Settings

TCP_IP_HEADERS = 52  # bytes of IPv4 + TCP (with timestamps) per segment, each way's ACK alike
HEARTBEAT_SECONDS = 60


def serve(settings: Settings) -> tuple[uvicorn.Server, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="error"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, sock.getsockname()[1]


def request(port: int, path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n"
        "Accept-Encoding: gzip\r\n\r\n"
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=10)
    parser.add_argument("--mqtt", default="mqtt://127.0.0.1:1883")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    folder = Path(tempfile.mkdtemp())
    settings = Settings(
        environment=Environment.testing,
        pseudonym_key=secrets.token_hex(16),
        events_file=folder / "events.jsonl",
        mqtt_url=args.mqtt,
        mqtt_topic_root=f"bench-{secrets.token_hex(4)}",
        spool_dir=folder / "spool",
    )
    catalog = load_catalog(settings.content_dir)
    journey = load_journey(JOURNEY_FILE, actions=ACTIONS, budget=settings.ussd_page_chars)
    server, port = serve(settings)
    editor = MqttAlertBoard.from_settings(settings)
    assert editor.wait_ready(), "no broker"
    path = "/app/alerts/stream?session=bench0001&region=puno&lang=es"
    page = socket.create_connection(("127.0.0.1", port))
    page.sendall(request(port, path))
    page.settimeout(10)
    opening = page.recv(65536)
    latencies, sizes = [], []
    try:
        for n in range(args.alerts):
            now = dt.datetime.now(dt.UTC)
            alert = draft_alert(
                region="puno",
                starts=now - dt.timedelta(hours=1),
                ends=now + dt.timedelta(days=1),
                text={"es": f"Helada fuerte esta noche ({n}): abriga a los ninos."},
                catalog=catalog,
                room=lambda lang: alert_room(journey, page_chars=160, lang=lang),
                now=now,
            )
            started = time.perf_counter()
            editor.publish(alert)
            chunk = page.recv(65536)
            latencies.append((time.perf_counter() - started) * 1000)
            sizes.append(len(chunk))
        poll = socket.create_connection(("127.0.0.1", port))
        poll.sendall(request(port, "/app/alerts?session=bench0002&region=puno"))
        polled = poll.recv(65536)
        poll.close()
    finally:
        page.close()
        editor.withdraw("puno")
        editor.close()
        server.should_exit = True
    per_poll = len(request(port, "/app/alerts?session=bench0002&region=puno")) + len(polled)
    per_poll += 4 * TCP_IP_HEADERS  # request, response and their ACKs
    beat = len(b"3\r\n:\n\n\r\n") + 2 * TCP_IP_HEADERS
    print(f"{args.alerts} alerts published through the broker to an open stream:")
    print(
        f"  latency publish -> event on the page: median {statistics.median(latencies):.1f} ms,"
        f" max {max(latencies):.1f} ms"
    )
    print(f"  opening the stream: {len(request(port, path))} B up, {len(opening)} B down")
    print(f"  each alert: {statistics.median(sizes):.0f} B down (event and chunk framing)")
    print(
        f"  idle: a heartbeat every {HEARTBEAT_SECONDS} s, {beat} B with TCP/IP headers ="
        f" {beat * 3600 // HEARTBEAT_SECONDS:,} B per hour open"
    )
    for every in (60, 300):
        print(
            f"  polling GET /app/alerts every {every} s instead: {per_poll} B a poll ="
            f" {per_poll * 3600 // every:,} B per hour, and up to {every} s late"
        )


if __name__ == "__main__":
    main()
