"""Telemetry benchmark: what publishing events costs a request, and how fast they reach InfluxDB.

Three figures, on the real broker and InfluxDB (defaults: the ones `make test` starts):

1. `publish()` call cost: the file sink against the MQTT sink (connected), per event.
2. USSD hop latency in-process (FastAPI TestClient, embedded store) with the file sink and with
   the MQTT sink: the latency publishing adds to a request.
3. Throughput: events published as fast as possible, through the broker and a `willay bridge`
   subprocess, until every one is in InfluxDB (events/s end to end).

It uses its own topic root and database (`willay_bench_<hex>`, dropped at the end) and prints
figures; it asserts nothing.

    .venv/bin/python bench/telemetry.py --events 20000 --sessions 200
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

# This file is bench/telemetry.py: run as a script, its folder would hide the package.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

from fastapi.testclient import TestClient  # noqa: E402

from telemetry import InfluxClient, MqttEventSink  # noqa: E402
from willay.app import create_app  # noqa: E402
from willay.config import Environment, Settings  # noqa: E402
from willay.events import Event, EventSink, FileEventSink  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-pseudonym-key-not-for-production"
HOPS = ["", "1", "1*1", "1*1*1", "1*1*1*98"]  # dial, Spanish, accept, tip for me, next page
ROUNDS = 4


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * p / 100) - 1)]


def sample_event(n: int) -> Event:
    return Event(
        channel="ussd",
        kind="tip_served",
        subscriber="a" * 32,
        session=f"ATUid_bench_{n}",
        lang="es",
        data={"tip_id": "agua-hervir", "topic": "agua", "score": 4.0, "propensity": 0.5},
    )


def publish_cost(sink: EventSink, events: list[Event]) -> float:
    """Mean microseconds per `publish()` call."""
    start = time.perf_counter()
    for event in events:
        sink.publish(event)
    return (time.perf_counter() - start) / len(events) * 1e6


def hop_latencies(settings: Settings, sink: EventSink, sessions: int) -> list[float]:
    """Milliseconds per USSD hop, in process, for `sessions` five-hop sessions."""
    latencies = []
    with TestClient(create_app(settings, events=sink)) as client:
        for n in range(sessions):
            for text in HOPS:
                form = {
                    "sessionId": f"ATUid_bench_{n}",
                    "serviceCode": "*123#",
                    "phoneNumber": f"+51987{n:06d}",
                    "networkCode": "71610",
                    "text": text,
                }
                start = time.perf_counter()
                response = client.post("/ussd/africastalking", data=form)
                latencies.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200
    return latencies


def stored(influx: InfluxClient) -> int:
    series = influx.query('SELECT count("id") FROM "events"')
    return int(series[0]["values"][0][1]) if series else 0


def start_bridge(settings: Settings, batch: int) -> subprocess.Popen[str]:
    """`willay bridge` in a subprocess, returned once it has subscribed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WILLAY_")} | {
        "WILLAY_ENVIRONMENT": "testing",
        "WILLAY_PSEUDONYM_KEY": KEY,
        "WILLAY_MQTT_URL": settings.mqtt_url or "",
        "WILLAY_MQTT_TOPIC_ROOT": settings.mqtt_topic_root,
        "WILLAY_SPOOL_DIR": str(settings.spool_dir),
        "WILLAY_BRIDGE_CLIENT_ID": settings.bridge_client_id or "",
        "WILLAY_BRIDGE_GROUP": settings.bridge_group,
        "WILLAY_BRIDGE_BATCH_SIZE": str(batch),
        "WILLAY_BRIDGE_BATCH_SECONDS": "0.2",
        "WILLAY_BRIDGE_SESSION_EXPIRY": "60",
        "WILLAY_INFLUX_URL": settings.influx_url or "",
        "WILLAY_INFLUX_DATABASE": settings.influx_database,
    }
    bridge = subprocess.Popen(
        [sys.executable, "-m", "willay", "--verbose", "bridge"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert bridge.stderr is not None
    for line in bridge.stderr:
        if "bridge subscribed" in line:
            break
    threading.Thread(target=bridge.stderr.read, daemon=True).start()  # keep the pipe drained
    return bridge


def connected_sink(settings: Settings) -> MqttEventSink:
    sink = MqttEventSink.from_settings(settings)
    while not sink.connected:
        time.sleep(0.01)
    return sink


def settled(influx: InfluxClient) -> int:
    """The count of stored events once it has stopped changing for a second."""
    count, last = stored(influx), -1
    while count != last:
        time.sleep(1)
        count, last = stored(influx), count
    return count


def throughput(settings: Settings, events: int) -> tuple[float, float, int]:
    """(publish seconds, seconds until all are stored, events stored) through the bridge."""
    influx = InfluxClient.from_settings(settings)
    before = settled(influx)  # the earlier figures' events are all in
    sink = connected_sink(settings)
    start = time.perf_counter()
    for n in range(events):
        sink.publish(sample_event(n))
    published = time.perf_counter() - start
    deadline = time.monotonic() + 300
    while stored(influx) - before < events and time.monotonic() < deadline:
        time.sleep(0.05)
    done = time.perf_counter() - start
    sink.close()
    return published, done, stored(influx) - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mqtt-url", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--influx-url", default="http://127.0.0.1:8086")
    parser.add_argument("--events", type=int, default=20_000, help="events for throughput")
    parser.add_argument("--sessions", type=int, default=200, help="USSD sessions per sink")
    parser.add_argument("--batch", type=int, default=1000, help="bridge batch size")
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            environment=Environment.testing,
            pseudonym_key=KEY,
            events_file=Path(tmp) / "events.jsonl",
            mqtt_url=args.mqtt_url,
            mqtt_topic_root=f"bench-{run}",
            spool_dir=Path(tmp) / "spool",
            bridge_group=f"bench-{run}",
            bridge_client_id=f"bench-bridge-{run}",
            influx_url=args.influx_url,
            influx_database=f"willay_bench_{run}",
        )
        influx = InfluxClient.from_settings(settings)
        influx.create_database()
        bridge = start_bridge(settings, args.batch)
        try:
            print(f"telemetry bench: broker {args.mqtt_url}, InfluxDB {args.influx_url}")
            events = [sample_event(n) for n in range(10_000)]
            costs: dict[str, list[float]] = {"file sink": [], "MQTT sink": []}
            by_sink: dict[str, list[float]] = {"file sink": [], "MQTT sink": []}
            warm = FileEventSink(Path(tmp) / "warm.jsonl")
            hop_latencies(settings, warm, 20)
            warm.close()
            for round_ in range(ROUNDS):  # alternate, so a busy moment hits both alike
                file_sink = FileEventSink(Path(tmp) / f"cost-{round_}.jsonl")
                costs["file sink"].append(publish_cost(file_sink, events))
                file_sink.close()
                mqtt_sink = connected_sink(settings)
                costs["MQTT sink"].append(publish_cost(mqtt_sink, events))
                mqtt_sink.close()
                file_sink = FileEventSink(Path(tmp) / f"hops-{round_}.jsonl")
                by_sink["file sink"] += hop_latencies(settings, file_sink, args.sessions // ROUNDS)
                file_sink.close()
                mqtt_sink = connected_sink(settings)
                by_sink["MQTT sink"] += hop_latencies(settings, mqtt_sink, args.sessions // ROUNDS)
                mqtt_sink.close()
            print(f"publish() per event, median of {ROUNDS} rounds of {len(events)} events:")
            for name, values in costs.items():
                print(f"  {name}  {statistics.median(values):8.1f} us")
            by_file, by_mqtt = by_sink["file sink"], by_sink["MQTT sink"]
            print(f"USSD hop latency in process, {len(by_file)} hops each (ms):")
            for name, values in (("file sink", by_file), ("MQTT sink", by_mqtt)):
                print(
                    f"  {name}  mean {statistics.fmean(values):6.3f}  "
                    f"p50 {percentile(values, 50):6.3f}  p99 {percentile(values, 99):6.3f}"
                )
            added = statistics.fmean(by_mqtt) - statistics.fmean(by_file)
            print(f"  added by MQTT publishing: {added * 1000:+.0f} us per hop (mean)")

            published, done, count = throughput(settings, args.events)
            print(f"throughput, {args.events} events, bridge batch {args.batch}:")
            print(f"  published in {published:.2f} s ({args.events / published:,.0f} events/s)")
            print(
                f"  {count} in InfluxDB after {done:.2f} s: {count / done:,.0f} events/s end to end"
            )
        finally:
            bridge.terminate()
            bridge.wait(timeout=30)
            influx._call("POST", "/query", {"q": f'DROP DATABASE "{influx.database}"'})


if __name__ == "__main__":
    main()
