"""Events from the app through a real broker and bridge into a real InfluxDB, and the faults."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from shell.app import create_app
from telemetry import Bridge, InfluxClient, MqttEventSink, numbered_json, read_events
from tests.fixtures.environment import TEST_KEY
from tests.fixtures.telemetry import (
    Influxd,
    Mosquitto,
    RecordingSink,
    point_ids,
    running,
    wait_until,
)
from tests.fixtures.ussd import Phone
from willay.config import Settings
from willay.events import Event
from willay.profiles import pseudonym

ROOT_DIR = Path(__file__).resolve().parents[2]
LOW_CARDINALITY = {
    "channel",
    "kind",
    "lang",
    "topic",
    "region",
    "status",
    "network",
    "screen",
    "to",
    "key",
    "field",
    "medium",
    "text_lang",
    "model_version",
    "direction",
    "hangup_cause",
}


def read_tip_session(phone: Phone) -> int:
    """Dial as a new person, accept, read a tip to its last page, hang up; the keys pressed."""
    phone.dial()
    presses = 0
    for key in ("1", "1", "1"):  # Español, Acepto, Consejo para mi
        reply = phone.press(key)
        presses += 1
    while "1 Util" not in reply.screen:
        reply = phone.press("98")
        presses += 1
    assert phone.hang_up("Incomplete") == 200
    return presses


class TestEndToEnd:
    def test_a_ussd_session_becomes_points(self, telemetry_settings, influx) -> None:
        with running(Bridge.from_settings(telemetry_settings)) as bridge:
            wait_until(bridge.ready.is_set, what="the bridge to subscribe")
            with TestClient(create_app(telemetry_settings)) as client:
                phone = Phone(client)
                presses = read_tip_session(phone)
            expected = collections.Counter(
                {"session_start": 1, "hop": presses, "menu_step": presses}
                | {"consent": 1, "tip_served": 1, "tip_completed": 1, "session_end": 1}
            )
            wait_until(lambda: len(point_ids(influx)) == expected.total(), what="every point")

        stored = read_events(telemetry_settings, kinds=(), client=influx)
        assert collections.Counter(e.kind.value for e in stored) == expected
        assert {e.session for e in stored} == {phone.session_id}
        person = pseudonym(phone.number, TEST_KEY)
        assert {e.subscriber for e in stored if e.kind.value == "tip_served"} == {person}
        served = next(e for e in stored if e.kind.value == "tip_served")
        assert {"tip_id", "topic", "score", "propensity", "model_version"} <= set(served.data)

        tags = {row[0] for s in influx.query('SHOW TAG KEYS FROM "events"') for row in s["values"]}
        assert tags <= LOW_CARDINALITY and {"channel", "kind", "network", "screen"} <= tags
        [[_, starts]] = influx.query(
            """SELECT count("id") FROM "events" WHERE "network" = '71610' """
            """AND "kind" = 'session_start'"""
        )[0]["values"]
        assert starts == 1
        everything = json.dumps(influx.query('SELECT * FROM "events"'))
        assert "987654321" not in everything  # no phone number, anywhere

    def test_garbage_is_counted_and_set_aside_while_the_rest_flows(
        self, telemetry_settings, influx, mqtt_url
    ) -> None:
        root = telemetry_settings.mqtt_topic_root
        good = Event(channel="ussd", kind="menu_step", subscriber="anon-x")
        garbage = [
            (f"{root}/v1/events/ussd/menu_step", b"\xff\xfe not json"),
            (f"{root}/v1/events/ussd/menu_step", b'{"v": 1}'),
            (f"{root}/v1/events/ussd", good.to_json().encode()),
            (f"{root}/v1/events/sms/menu_step", good.to_json().encode()),
        ]
        sink = MqttEventSink.from_settings(telemetry_settings)
        raw = mqtt.Client(CallbackAPIVersion.VERSION2)
        host, port = mqtt_url.removeprefix("mqtt://").split(":")
        raw.connect(host, int(port))
        raw.loop_start()
        with running(Bridge.from_settings(telemetry_settings)) as bridge:
            wait_until(bridge.ready.is_set, what="the bridge to subscribe")
            for topic, payload in garbage:
                raw.publish(topic, payload, qos=1).wait_for_publish(5)
            sink.publish(good)
            wait_until(lambda: point_ids(influx) == [good.id], what="the good event")
            wait_until(lambda: bridge.stats.malformed == len(garbage), what="the count")
        raw.disconnect()
        raw.loop_stop()
        sink.close()
        aside = [json.loads(line) for line in bridge.dead_letter.read_text().splitlines()]
        assert len(aside) == len(garbage)
        assert all(record["reason"] for record in aside)


@pytest.fixture
def own_influx_settings(telemetry_settings: Settings, own_influx: Influxd) -> Settings:
    return telemetry_settings.model_copy(update={"influx_url": own_influx.url})


class TestFaults:
    def test_influxdb_down_the_bridge_spools_then_stores_everything(
        self, own_influx_settings, own_influx: Influxd
    ) -> None:
        influx = InfluxClient.from_settings(own_influx_settings)
        sink = MqttEventSink.from_settings(own_influx_settings)
        sent = [Event(channel="ussd", kind="hop", subscriber="anon-y") for _ in range(30)]
        with running(Bridge.from_settings(own_influx_settings)) as bridge:
            wait_until(bridge.ready.is_set, what="the bridge to subscribe")
            for event in sent[:10]:
                sink.publish(event)
            wait_until(lambda: len(point_ids(influx)) == 10, what="the first points")
            own_influx.stop()
            for event in sent[10:]:
                sink.publish(event)
            wait_until(lambda: bridge.spool.pending >= 20, what="the bridge to spool")
            own_influx.start()
            wait_until(lambda: sorted(point_ids(influx)) == sorted(e.id for e in sent), what="all")
            wait_until(lambda: bridge.spool.pending == 0, what="the spool to empty")
        sink.close()
        assert bridge.stats.write_errors >= 1
        assert influx.query('SELECT last("spool") FROM "bridge"')  # health points kept too

    def test_broker_stopped_during_a_burst_every_event_exactly_once(
        self, telemetry_settings, influx, tmp_path: Path
    ) -> None:
        broker = Mosquitto(tmp_path / "broker")
        broker.start()
        settings = telemetry_settings.model_copy(update={"mqtt_url": broker.url})
        recorder = RecordingSink(MqttEventSink.from_settings(settings))
        try:
            with running(Bridge.from_settings(settings)) as bridge:
                wait_until(bridge.ready.is_set, what="the bridge to subscribe")
                with TestClient(create_app(settings, events=recorder)) as client:
                    for n in range(12):
                        if n == 4:
                            broker.stop()
                        if n == 8:
                            broker.start()
                        read_tip_session(Phone(client, number=f"+5198765{n:04d}"))
                    wait_until(lambda: recorder.sink.backlog == 0, what="the spool to replay")
                    recorder.close()
                sent = [e.id for e in recorder.events]
                wait_until(lambda: len(point_ids(influx)) >= len(sent), what="every event")
        finally:
            broker.stop()
        stored = point_ids(influx)
        assert sorted(stored) == sorted(sent)  # each once: none lost, none doubled


class BridgeProcess:
    """`willay bridge` in a subprocess, its log lines collected."""

    def __init__(self, settings: Settings, *, health_seconds: float = 3600) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WILLAY_")}
        env |= {
            "WILLAY_ENVIRONMENT": "testing",
            "WILLAY_PSEUDONYM_KEY": TEST_KEY,
            "WILLAY_MQTT_URL": settings.mqtt_url or "",
            "WILLAY_MQTT_TOPIC_ROOT": settings.mqtt_topic_root,
            "WILLAY_MQTT_RECONNECT_MIN": "0.05",
            "WILLAY_MQTT_RECONNECT_MAX": "0.2",
            "WILLAY_SPOOL_DIR": str(settings.spool_dir),
            "WILLAY_BRIDGE_GROUP": settings.bridge_group,
            "WILLAY_BRIDGE_CLIENT_ID": settings.bridge_client_id or "",
            "WILLAY_BRIDGE_BATCH_SECONDS": "0.05",
            "WILLAY_BRIDGE_SESSION_EXPIRY": "120",
            "WILLAY_BRIDGE_HEALTH_SECONDS": str(health_seconds),
            "WILLAY_INFLUX_URL": settings.influx_url or "",
            "WILLAY_INFLUX_DATABASE": settings.influx_database,
            "WILLAY_INFLUX_TIMEOUT": "60",  # a write to a frozen InfluxDB hangs: mid-batch
            "WILLAY_INFLUX_RETRY_MIN": "0.05",
            "WILLAY_INFLUX_RETRY_MAX": "0.2",
        }
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "shell", "--verbose", "bridge"],
            cwd=ROOT_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def saw(self, text: str, *, after: int = 0) -> bool:
        return any(text in line for line in self.lines[after:])


@pytest.fixture
def bridge_process() -> Iterator[list[BridgeProcess]]:
    started: list[BridgeProcess] = []
    yield started
    for bridge in started:
        if bridge.process.poll() is None:
            bridge.process.kill()
        bridge.process.wait(timeout=10)
        bridge.reader.join(timeout=10)
        assert bridge.process.stderr is not None
        bridge.process.stderr.close()


def test_bridge_killed_mid_batch_and_restarted_loses_nothing(
    own_influx_settings, own_influx: Influxd, bridge_process
) -> None:
    influx = InfluxClient.from_settings(own_influx_settings)
    sink = MqttEventSink.from_settings(own_influx_settings)
    sent = [Event(channel="ivr", kind="hop", subscriber=f"anon-{uuid.uuid4()}") for _ in range(60)]

    first = BridgeProcess(own_influx_settings)
    bridge_process.append(first)
    wait_until(lambda: first.saw("bridge subscribed"), what="the bridge to subscribe")
    # its first health point written (and the answer read), the bridge waits for messages
    wait_until(lambda: first.saw("wrote 1 point"), what="the first health point")
    own_influx.pause()  # the next write hangs with its batch in hand
    for event in sent:
        sink.publish(event)
    wait_until(lambda: first.saw("storing"), what="a batch to be in flight")
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    own_influx.resume()

    second = BridgeProcess(own_influx_settings)
    bridge_process.append(second)
    wait_until(lambda: second.saw("bridge subscribed"), what="the bridge to subscribe again")
    wait_until(lambda: sorted(set(point_ids(influx))) == sorted(e.id for e in sent), what="all")
    second.process.send_signal(signal.SIGTERM)
    assert second.process.wait(timeout=20) == 0
    sink.close()
    assert second.saw("resumed session")


def test_willay_bridge_logs_missing_and_duplicated_events(
    telemetry_settings, influx, mqtt_url, bridge_process
) -> None:
    bridge = BridgeProcess(telemetry_settings, health_seconds=0.1)
    bridge_process.append(bridge)
    wait_until(lambda: bridge.saw("bridge subscribed"), what="the bridge to subscribe")
    raw = mqtt.Client(CallbackAPIVersion.VERSION2)
    host, port = mqtt_url.removeprefix("mqtt://").split(":")
    raw.connect(host, int(port))
    raw.loop_start()
    topic = f"{telemetry_settings.mqtt_topic_root}/v1/events/ivr/hop"
    events = [Event(channel="ivr", kind="hop", subscriber="anon-z") for _ in range(3)]
    for seq, event in ((1, events[0]), (2, events[1]), (2, events[1]), (6, events[2])):
        payload = numbered_json(event, publisher="logged", seq=seq)
        raw.publish(topic, payload, qos=1).wait_for_publish(5)
    raw.disconnect()
    raw.loop_stop()
    wait_until(
        lambda: bridge.saw("publisher logged: 3 event(s) missing (numbers 3-5)"),
        what="the bridge to log the gap",
    )
    assert bridge.saw("1 duplicate(s) dropped")
    bridge.process.send_signal(signal.SIGTERM)
    assert bridge.process.wait(timeout=20) == 0
    assert sorted(point_ids(influx)) == sorted(e.id for e in events)
