"""Loss you can see: numbered events through a real broker and bridge into a real InfluxDB.

A broker that drops messages (a stock Mosquitto's `max_queued_messages` while the bridge is
away), a publisher killed with events in memory, and deliveries that come twice: every case
ends with the bridge's `sequence` points in InfluxDB saying what went missing or came twice,
and InfluxDB holding each event once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from telemetry import Bridge, InfluxClient, MqttEventSink
from telemetry._influx import quote_string
from telemetry._points import numbered_json
from tests.fixtures.environment import TEST_KEY
from tests.fixtures.telemetry import Mosquitto, point_ids, running, wait_until
from willay.config import Settings
from willay.events import Event

ROOT_DIR = Path(__file__).resolve().parents[2]
BURST = 2000  # events: at least 20 messages of at most 100 events, more than a queue of 10


def hop(n: int) -> Event:
    return Event(channel="ussd", kind="hop", subscriber="anon-loss", data={"n": n})


def sequence_point(influx: InfluxClient, publisher: str) -> dict[str, Any]:
    """The last `sequence` point the bridge wrote for `publisher` ({} if none)."""
    series = influx.query(
        f'SELECT * FROM "sequence" WHERE "publisher" = {quote_string(publisher)} '
        "ORDER BY time DESC LIMIT 1"
    )
    if not series:
        return {}
    return dict(zip(series[0]["columns"], series[0]["values"][0], strict=True))


def stored_numbers(influx: InfluxClient, publisher: str) -> list[int]:
    series = influx.query(
        f'SELECT "seq" FROM "events" WHERE "publisher" = {quote_string(publisher)}'
    )
    return sorted(row[1] for s in series for row in s["values"])


def wait_for_hole(influx: InfluxClient, publisher: str, *, last: int, what: str) -> None:
    """Until the sequence point counts as missing every number up to `last` not stored."""
    wait_until(
        lambda: (
            sequence_point(influx, publisher).get("missing")
            == last - len(stored_numbers(influx, publisher))
        ),
        what=f"the hole: {what}",
    )


@contextlib.contextmanager
def raw_client(url: str) -> Iterator[mqtt.Client]:
    """A plain paho client on the broker, for messages no `MqttEventSink` would send."""
    host, port = url.removeprefix("mqtt://").split(":")
    raw = mqtt.Client(CallbackAPIVersion.VERSION2)
    raw.connect(host, int(port))
    raw.loop_start()
    try:
        yield raw
    finally:
        raw.disconnect()
        raw.loop_stop()


def publish_and_drain(sink: MqttEventSink, events: list[Event]) -> None:
    for event in events:
        sink.publish(event)
    wait_until(lambda: sink.backlog == 0, what="the broker to acknowledge every event")


def test_a_stock_broker_dropping_messages_shows_as_a_stored_gap(
    telemetry_settings: Settings, influx: InfluxClient, tmp_path: Path, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="telemetry")
    with Mosquitto(tmp_path / "broker", extra="max_queued_messages 10\n") as broker:
        settings = telemetry_settings.model_copy(update={"mqtt_url": broker.url})
        with running(Bridge.from_settings(settings)) as bridge:  # subscribes, then leaves
            wait_until(bridge.ready.is_set, what="the bridge to subscribe")
        sink = MqttEventSink.from_settings(settings)
        wait_until(lambda: sink.connected, what="the publisher to connect")
        # the broker acknowledges every message (at most 100 events each: 20 or more) and keeps
        # only the 10 its queue holds for the bridge
        publish_and_drain(sink, [hop(n) for n in range(BURST)])
        with running(Bridge.from_settings(settings)) as bridge:
            wait_until(bridge.ready.is_set, what="the bridge to come back")
            wait_until(lambda: bridge.stats.received >= 1, what="the queued events")
            sink.publish(hop(BURST))  # a later number: what came before and never arrived shows
            last = BURST + 1
            wait_until(lambda: last in stored_numbers(influx, sink.publisher), what="the last")
            # a hole counts once it has lasted a report interval
            wait_for_hole(influx, sink.publisher, last=last, what="the sequence point to count it")
        sink.close()

    stored = stored_numbers(influx, sink.publisher)
    lost = BURST + 1 - len(stored)
    assert 0 < lost < BURST and stored[0] == 1  # the broker kept the oldest, dropped the rest
    point = sequence_point(influx, sink.publisher)
    assert (point["missing"], point["gaps"], point["duplicates"]) == (lost, lost, 0)
    assert point["received"] == len(stored) and point["bridge"] == settings.bridge_client_id
    [[_, total]] = influx.query('SELECT last("missing") FROM "bridge"')[0]["values"]
    assert total == lost
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"{sink.publisher}: {lost} event(s) missing" in m for m in warnings), warnings


def test_a_repeated_delivery_is_dropped_and_counted(
    telemetry_settings: Settings, influx: InfluxClient, mqtt_url: str
) -> None:
    root = telemetry_settings.mqtt_topic_root
    events = [hop(n) for n in range(3)]
    with raw_client(mqtt_url) as raw, running(Bridge.from_settings(telemetry_settings)) as bridge:
        wait_until(bridge.ready.is_set, what="the bridge to subscribe")
        # a publisher that did not hear the broker's acknowledgement sends 2 again, then 5
        for seq, event in ((1, events[0]), (2, events[1]), (2, events[1]), (5, events[2])):
            payload = numbered_json(event, publisher="retrier", seq=seq)
            raw.publish(f"{root}/v1/events/ussd/hop", payload, qos=1).wait_for_publish(5)
        wait_until(lambda: bridge.stats.received == 4, what="all four deliveries")
        wait_until(lambda: sequence_point(influx, "retrier").get("missing") == 2, what="the hole")
    assert sorted(point_ids(influx)) == sorted(e.id for e in events)  # each event once
    assert stored_numbers(influx, "retrier") == [1, 2, 5]
    point = sequence_point(influx, "retrier")
    assert (point["duplicates"], point["missing"], point["received"]) == (1, 2, 3)
    assert bridge.stats.duplicates == 1


def test_a_publisher_restarted_cleanly_continues_its_numbers(
    telemetry_settings: Settings, influx: InfluxClient
) -> None:
    with running(Bridge.from_settings(telemetry_settings)) as bridge:
        wait_until(bridge.ready.is_set, what="the bridge to subscribe")
        first = MqttEventSink.from_settings(telemetry_settings)
        wait_until(lambda: first.connected, what="the publisher to connect")
        publish_and_drain(first, [hop(n) for n in range(5)])
        first.close()
        second = MqttEventSink.from_settings(telemetry_settings)  # same spool: same publisher
        wait_until(lambda: second.connected, what="the publisher to connect again")
        publish_and_drain(second, [hop(n) for n in range(5, 10)])
        second.close()
        wait_until(
            lambda: sequence_point(influx, second.publisher).get("high") == 10, what="the point"
        )
    assert second.publisher == first.publisher
    assert stored_numbers(influx, first.publisher) == list(range(1, 11))
    point = sequence_point(influx, first.publisher)
    assert (point["missing"], point["duplicates"], point["received"]) == (0, 0, 10)


KILLED_PUBLISHER = """
import sys, time
from telemetry import MqttEventSink
from willay.config import Settings
from willay.events import Event

sink = MqttEventSink.from_settings(Settings())
while not sink.connected:
    time.sleep(0.01)
for n in range(10):  # the bridge gets to know this publisher
    sink.publish(Event(channel="ussd", kind="hop", subscriber="anon-killed", data={"n": n}))
while sink.backlog:
    time.sleep(0.01)
print("connected", flush=True)
sys.stdin.readline()
for n in range(int(sys.argv[1])):
    sink.publish(Event(channel="ussd", kind="hop", subscriber="anon-killed", data={"n": n}))
print("published", sink.publisher, flush=True)
time.sleep(60)
"""


def test_a_publisher_killed_with_events_in_memory_shows_them_missing_after_its_restart(
    telemetry_settings: Settings, influx: InfluxClient, tmp_path: Path
) -> None:
    with Mosquitto(tmp_path / "broker") as broker:
        settings = telemetry_settings.model_copy(update={"mqtt_url": broker.url})
        with running(Bridge.from_settings(settings)) as bridge:
            wait_until(bridge.ready.is_set, what="the bridge to subscribe")
            env = {k: v for k, v in os.environ.items() if not k.startswith("WILLAY_")} | {
                "WILLAY_ENVIRONMENT": "testing",
                "WILLAY_PSEUDONYM_KEY": TEST_KEY,
                "WILLAY_MQTT_URL": broker.url,
                "WILLAY_MQTT_TOPIC_ROOT": settings.mqtt_topic_root,
                "WILLAY_SPOOL_DIR": str(settings.spool_dir),
            }
            child = subprocess.Popen(
                [sys.executable, "-c", KILLED_PUBLISHER, "500"],
                cwd=ROOT_DIR,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert child.stdin is not None and child.stdout is not None
            assert child.stdout.readline().strip() == "connected"
            broker.pause()  # the broker stops reading: events pile up in the publisher's memory
            child.stdin.write("go\n")
            child.stdin.close()
            words = child.stdout.readline().split()
            assert words[0] == "published"
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
            child.stdout.close()
            broker.resume()

            restarted = MqttEventSink.from_settings(settings)  # the same spool directory
            assert restarted.publisher == words[1]
            wait_until(lambda: restarted.connected, what="the publisher to reconnect")
            publish_and_drain(restarted, [hop(510)])
            wait_for_hole(influx, restarted.publisher, last=511, what="the killed process's")
            restarted.close()
    stored = stored_numbers(influx, restarted.publisher)
    point = sequence_point(influx, restarted.publisher)
    assert stored[:10] == list(range(1, 11)) and stored[-1] == 511
    assert len(stored) < 511  # some died with the process
    assert point["missing"] == 511 - len(stored) == point["gaps"]
    assert point["duplicates"] == 0


def test_bridges_sharing_a_group_count_no_gap_where_the_other_received(
    telemetry_settings: Settings, influx: InfluxClient, mqtt_url: str
) -> None:
    second = telemetry_settings.model_copy(
        update={"bridge_client_id": telemetry_settings.bridge_client_id + "-b"}
    )
    root = telemetry_settings.mqtt_topic_root
    host, port = mqtt_url.removeprefix("mqtt://").split(":")
    raw = mqtt.Client(CallbackAPIVersion.VERSION2)
    raw.connect(host, int(port))
    raw.loop_start()
    with (
        running(Bridge.from_settings(telemetry_settings)) as one,
        running(Bridge.from_settings(second)) as two,
    ):
        wait_until(lambda: one.ready.is_set() and two.ready.is_set(), what="both to subscribe")
        sink = MqttEventSink.from_settings(telemetry_settings)
        wait_until(lambda: sink.connected, what="the publisher to connect")
        publish_and_drain(sink, [hop(n) for n in range(200)])
        # and a publisher whose number 3 never arrives
        for seq in (1, 2, 4, 5):
            payload = numbered_json(hop(seq), publisher="holed", seq=seq)
            raw.publish(f"{root}/v1/events/ussd/hop", payload, qos=1).wait_for_publish(5)
        wait_until(lambda: len(stored_numbers(influx, sink.publisher)) == 200, what="all 200")
        wait_until(
            lambda: one.stats.missing == two.stats.missing == 1, what="both to count the hole"
        )
        sink.close()
    raw.disconnect()
    raw.loop_stop()
    assert one.stats.received and two.stats.received  # the group shared the events
    assert one.stats.received + two.stats.received == 204
    for bridge in (one, two):
        stream = bridge.sequences.streams[sink.publisher]
        assert (stream.high, stream.missing, stream.gaps) == (200, [], 0)
        assert [hole[:2] for hole in bridge.sequences.streams["holed"].missing] == [[3, 4]]
    assert stored_numbers(influx, "holed") == [1, 2, 4, 5]
