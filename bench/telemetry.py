"""Telemetry benchmark: what publishing events costs a request, and how fast they reach InfluxDB.

Three figures, through a Mosquitto of its own on a free port (`--broker willay`: configured
like deploy/; `stock`: Mosquitto's defaults, max_queued_messages 1000; or a URL) and the real
InfluxDB:

1. `publish()` call cost: the file sink against the MQTT sink (connected), per event.
2. USSD hop latency in-process (FastAPI TestClient, embedded store) with the file sink and with
   the MQTT sink: the latency publishing adds to a request (`--sessions 0` skips 1 and 2).
3. Throughput: events (made beforehand, as requests make them) published as fast as
   `publish()` takes them, through the broker and a `willay bridge` subprocess, until the
   bridge's `sequence` points say every number is stored. The last line,
   `end to end N events/s, lost L, duplicated D`, takes L and D from the bridge's counts and
   from InfluxDB, never from what the publisher sent.

It uses its own topic root and database (`willay_bench_<hex>`, dropped at the end) and prints
figures; it asserts nothing.

    .venv/bin/python bench/telemetry.py --broker stock --sessions 0
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

# This file is bench/telemetry.py: run as a script, its folder would hide the package.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

from fastapi.testclient import TestClient  # noqa: E402

from shell.app import create_app  # noqa: E402
from telemetry import InfluxClient, MqttEventSink  # noqa: E402
from telemetry._influx import quote_string  # noqa: E402
from willay.config import Environment, Settings  # noqa: E402
from willay.events import Event, EventSink, FileEventSink  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-pseudonym-key-not-for-production"
HOPS = ["", "1", "1*1", "1*1*1", "1*1*1*98"]  # dial, Spanish, accept, tip for me, next page
ROUNDS = 4
STALL_SECONDS = 5.0  # no progress this long: what has not arrived is not coming


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


BROKER_CONFIGS = {
    # what a user who brings a stock Mosquitto has: max_queued_messages 1000 (the default)
    "stock": "",
    # deploy/mosquitto/mosquitto.conf's queue settings
    "willay": "persistence true\npersistence_location {workdir}/\nmax_queued_messages 0\n",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def own_broker(kind: str, workdir: Path) -> Iterator[tuple[str, int]]:
    """A Mosquitto of the bench's own on a free port, configured as `kind`; its URL and pid."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "mosquitto.conf"
    extra = BROKER_CONFIGS[kind].format(workdir=workdir)
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n{extra}")
    broker = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            if time.monotonic() > deadline:
                raise SystemExit(f"mosquitto did not start on port {port}")
            time.sleep(0.05)
        yield f"mqtt://127.0.0.1:{port}", broker.pid
    finally:
        broker.terminate()
        broker.wait(timeout=10)


def start_bridge(settings: Settings, batch: int | None) -> subprocess.Popen[str]:
    """`willay bridge` in a subprocess, returned once it has subscribed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WILLAY_")} | {
        "WILLAY_ENVIRONMENT": "testing",
        "WILLAY_PSEUDONYM_KEY": KEY,
        "WILLAY_MQTT_URL": settings.mqtt_url or "",
        "WILLAY_MQTT_TOPIC_ROOT": settings.mqtt_topic_root,
        "WILLAY_SPOOL_DIR": str(settings.spool_dir),
        "WILLAY_BRIDGE_CLIENT_ID": settings.bridge_client_id or "",
        "WILLAY_BRIDGE_GROUP": settings.bridge_group,
        "WILLAY_BRIDGE_BATCH_SIZE": str(batch or settings.bridge_batch_size),
        "WILLAY_BRIDGE_BATCH_SECONDS": "0.2",
        "WILLAY_BRIDGE_SESSION_EXPIRY": "60",
        "WILLAY_BRIDGE_HEALTH_SECONDS": "0.2",
        "WILLAY_INFLUX_URL": settings.influx_url or "",
        "WILLAY_INFLUX_DATABASE": settings.influx_database,
    }
    bridge = subprocess.Popen(
        [sys.executable, "-m", "shell", "--verbose", "bridge"],
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
    threading.Thread(target=_relay_warnings, args=(bridge.stderr,), daemon=True).start()
    return bridge


def _relay_warnings(lines: Iterable[str]) -> None:
    """Keep the bridge's pipe drained, showing what it says about missing events."""
    for line in lines:
        if "missing" in line or "duplicate" in line:
            sys.stderr.write(f"  bridge: {line}")


def connected_sink(settings: Settings) -> MqttEventSink:
    sink = MqttEventSink.from_settings(settings)
    while not sink.connected:
        time.sleep(0.01)
    return sink


def bridge_view(influx: InfluxClient, publisher: str) -> dict[str, float]:
    """The bridge's last `sequence` point for `publisher`, with its time (seconds)."""
    series = influx.query(
        'SELECT last("received") AS "received", last("missing") AS "missing", '
        'last("duplicates") AS "duplicates", last("high") AS "high" FROM "sequence" '
        f'WHERE "publisher" = {quote_string(publisher)} GROUP BY "bridge"'
    )
    view = {"received": 0.0, "missing": 0.0, "duplicates": 0.0, "high": 0.0, "time": 0.0}
    for s in series:
        row = dict(zip(s["columns"], s["values"][0], strict=True))
        for key in ("received", "missing", "duplicates", "high"):
            view[key] += row[key] or 0
    first = influx.query(
        f'SELECT "received" FROM "sequence" WHERE "publisher" = {quote_string(publisher)} '
        f'AND "received" >= {int(view["received"])} LIMIT 1'
    )
    if first:
        view["time"] = first[0]["values"][0][0] / 1e9
    return view


def influx_view(influx: InfluxClient, publisher: str) -> tuple[int, int]:
    """(numbers missing between the first and the last stored, extra copies) in InfluxDB."""
    where = f'WHERE "publisher" = {quote_string(publisher)}'
    series = influx.query(f'SELECT count("seq"), min("seq"), max("seq") FROM "events" {where}')
    if not series:
        return 0, 0
    _, count, low, high = series[0]["values"][0]
    [[_, distinct]] = influx.query(f'SELECT count(distinct("seq")) FROM "events" {where}')[0][
        "values"
    ]
    return int(high - low + 1 - distinct), int(count - distinct)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(settings: Settings, events: int, pids: dict[str, int]) -> dict[str, float]:
    """Publish `events` as fast as possible; what the bridge and InfluxDB say arrived, and when.

    Once the publisher has handed everything to the broker and the bridge's count has not moved
    for a few seconds, one more event is published: a gap at the very end (the broker dropped
    the last messages) shows only when a later number arrives.
    """
    influx = InfluxClient.from_settings(settings)
    burst = [sample_event(n) for n in range(events)]  # made by requests, not by telemetry
    # a publisher of its own (its own spool): its numbers are this burst's alone
    sink = connected_sink(settings.model_copy(update={"spool_dir": settings.spool_dir / "burst"}))
    publisher = sink.publisher
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    cpu_publisher = time.process_time()
    start = time.perf_counter()
    wall = time.time()
    for event in burst:
        sink.publish(event)
    published = time.perf_counter() - start
    last, still = -1.0, 0.0
    while True:
        time.sleep(0.2)
        view = bridge_view(influx, publisher)
        if view["received"] >= events:
            break
        if view["received"] != last or sink.backlog:
            last, still = view["received"], time.monotonic()
        elif time.monotonic() - still > STALL_SECONDS:
            break
    done = (view["time"] or time.time()) - wall
    # the bridge's and the broker's with the polling's idle turns
    cpu = {f"cpu_{name}": cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
    cpu_publisher = time.process_time() - cpu_publisher
    sink.publish(sample_event(events))  # the marker: the next number after the burst
    deadline = time.monotonic() + STALL_SECONDS
    while bridge_view(influx, publisher)["high"] < events + 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    sink.close()
    final = bridge_view(influx, publisher)
    lost_in_influx, copies = influx_view(influx, publisher)
    return {
        "published": published,
        "done": done,
        "received": view["received"],
        "missing": final["missing"],
        "duplicates": final["duplicates"],
        "lost_in_influx": lost_in_influx,
        "copies": copies,
        "cpu_publisher": cpu_publisher,
        **cpu,
    }


def latency_figures(settings: Settings, sessions: int, tmp: Path) -> None:
    """Print the `publish()` cost and the USSD hop latency with each sink."""
    events = [sample_event(n) for n in range(10_000)]
    costs: dict[str, list[float]] = {"file sink": [], "MQTT sink": []}
    by_sink: dict[str, list[float]] = {"file sink": [], "MQTT sink": []}
    warm = FileEventSink(tmp / "warm.jsonl")
    hop_latencies(settings, warm, 20)
    warm.close()
    for round_ in range(ROUNDS):  # alternate, so a busy moment hits both alike
        file_sink = FileEventSink(tmp / f"cost-{round_}.jsonl")
        costs["file sink"].append(publish_cost(file_sink, events))
        file_sink.close()
        mqtt_sink = connected_sink(settings)
        costs["MQTT sink"].append(publish_cost(mqtt_sink, events))
        mqtt_sink.close()
        file_sink = FileEventSink(tmp / f"hops-{round_}.jsonl")
        by_sink["file sink"] += hop_latencies(settings, file_sink, sessions // ROUNDS)
        file_sink.close()
        mqtt_sink = connected_sink(settings)
        by_sink["MQTT sink"] += hop_latencies(settings, mqtt_sink, sessions // ROUNDS)
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


def run(args: argparse.Namespace, broker: tuple[str, int | None], tmp: Path) -> None:
    mqtt_url, broker_pid = broker
    run_id = uuid.uuid4().hex[:8]
    settings = Settings(
        environment=Environment.testing,
        pseudonym_key=KEY,
        events_file=tmp / "events.jsonl",
        mqtt_url=mqtt_url,
        mqtt_topic_root=f"bench-{run_id}",
        spool_dir=tmp / "spool",
        bridge_group=f"bench-{run_id}",
        bridge_client_id=f"bench-bridge-{run_id}",
        influx_url=args.influx_url,
        influx_database=f"willay_bench_{run_id}",
    )
    influx = InfluxClient.from_settings(settings)
    influx.create_database()
    bridge = start_bridge(settings, args.batch)
    try:
        print(f"telemetry bench: broker {mqtt_url} ({args.broker}), InfluxDB {args.influx_url}")
        if args.sessions:
            latency_figures(settings, args.sessions, tmp)
        pids = {"bridge": bridge.pid} | ({"broker": broker_pid} if broker_pid else {})
        figures = throughput(settings, args.events, pids)
        batch = args.batch or settings.bridge_batch_size
        print(f"throughput, {args.events} events, bridge batch {batch}:")
        published = figures["published"]
        print(f"  published in {published:.2f} s ({args.events / published:,.0f} events/s)")
        received, done = int(figures["received"]), figures["done"]
        print(f"  {received} stored by the bridge after {done:.2f} s")
        load = os.getloadavg()[0]
        print(
            f"  CPU per event: publisher {figures['cpu_publisher'] / args.events * 1e6:.1f} us, "
            f"bridge {figures['cpu_bridge'] / args.events * 1e6:.1f} us"
            + (
                f", broker {figures['cpu_broker'] / args.events * 1e6:.1f} us"
                if "cpu_broker" in figures
                else ""
            )
            + f" ({os.cpu_count()} cores, load average {load:.1f})"
        )
        print(
            f"  the bridge: {int(figures['missing'])} missing, "
            f"{int(figures['duplicates'])} duplicate(s) dropped; InfluxDB: "
            f"{figures['lost_in_influx']} number(s) absent, {figures['copies']} extra copies"
        )
        lost = max(int(figures["missing"]), figures["lost_in_influx"])
        duplicated = int(figures["duplicates"]) + figures["copies"]
        print(f"end to end {received / done:.0f} events/s, lost {lost}, duplicated {duplicated}")
    finally:
        bridge.terminate()
        bridge.wait(timeout=30)
        influx.drop_database()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--broker",
        default="willay",
        help="`willay`: start a Mosquitto configured like deploy/ (no queue limit); `stock`: "
        "start one with the defaults (max_queued_messages 1000); or an mqtt:// URL",
    )
    parser.add_argument("--influx-url", default="http://127.0.0.1:8086")
    parser.add_argument("--events", type=int, default=100_000, help="events for throughput")
    parser.add_argument(
        "--sessions", type=int, default=200, help="USSD sessions per sink (0: skip latency)"
    )
    parser.add_argument(
        "--batch", type=int, default=None, help="bridge batch size (default: the setting's)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.broker in BROKER_CONFIGS:
            with own_broker(args.broker, Path(tmp) / "broker") as url_pid:
                run(args, url_pid, Path(tmp))
        else:
            run(args, (args.broker, None), Path(tmp))


if __name__ == "__main__":
    main()
