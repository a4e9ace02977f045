"""Several events in one MQTT message: how the publisher packs them and how the bridge unpacks,
numbers and stores them, on a real Mosquitto and a real InfluxDB.

A message carries up to `batch_events` events of one topic, one JSON object a line. The bridge
judges each event's number on its own: a batch that overlaps another, a gap between two batches,
a whole batch delivered twice and a bad line in the middle of a batch are counted per event.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from telemetry import Bridge, InfluxClient, events_filter
from telemetry._points import numbered_json
from tests.fixtures.telemetry import Listener, Mosquitto, point_ids, running, wait_until
from tests.telemetry.test_loss import raw_client, sequence_point, stored_numbers
from tests.telemetry.test_publisher import ROOT, make_sink
from willay.config import Settings
from willay.events import Event


def hop(n: int, kind: str = "hop") -> Event:
    return Event(channel="ussd", kind=kind, subscriber="anon-batch", data={"n": n})


@pytest.fixture
def listener(own_broker: Mosquitto) -> Iterator[Listener]:
    listening = Listener(own_broker.url, events_filter(ROOT))
    yield listening
    listening.close()


def test_events_waiting_together_go_in_messages_of_one_topic_in_order(
    own_broker, listener, tmp_path
) -> None:
    sink = make_sink(own_broker.url, tmp_path / "spool", max_inflight=1, batch_events=4)
    wait_until(lambda: sink.connected, what="connection")
    own_broker.pause()  # the first message waits for its PUBACK: the others queue up
    sent = [hop(n, kind="hop" if n % 3 else "menu_step") for n in range(13)]
    for event in sent:
        sink.publish(event)
    own_broker.resume()
    wait_until(lambda: len(listener.ids()) >= len(sent), what="every event")
    sink.close()

    assert sorted(listener.ids()) == sorted(e.id for e in sent)  # each once
    sizes = []
    for topic, payload in listener.messages:
        lines = [json.loads(line) for line in payload.split(b"\n")]
        sizes.append(len(lines))
        assert {f"{ROOT}/v1/events/ussd/{line['kind']}" for line in lines} == {topic}
        numbers = [line["seq"] for line in lines]
        assert numbers == sorted(numbers)
    assert 1 < max(sizes) <= 4 and len(sizes) < len(sent), sizes  # batched, within the limit
    by_kind = {kind: [e.id for e in sent if e.kind == kind] for kind in ("hop", "menu_step")}
    for kind, ids in by_kind.items():
        assert [i for i in listener.ids() if i in ids] == ids, kind  # in order within a topic


def test_the_bridge_judges_every_event_of_a_batch_on_its_own(
    telemetry_settings: Settings, influx: InfluxClient, mqtt_url: str
) -> None:
    settings = telemetry_settings.model_copy(update={"bridge_batch_size": 2})  # < a message
    topic = f"{settings.mqtt_topic_root}/v1/events/ussd/hop"
    events = {seq: hop(seq) for seq in range(1, 11)}

    def batch(*numbers: int, extra: bytes = b"") -> bytes:
        lines = [numbered_json(events[n], publisher="batcher", seq=n).encode() for n in numbers]
        return b"\n".join(lines[:1] + ([extra] if extra else []) + lines[1:])

    with raw_client(mqtt_url) as raw, running(Bridge.from_settings(settings)) as bridge:
        wait_until(bridge.ready.is_set, what="the bridge to subscribe")
        for payload in (
            batch(1, 2, 3),
            batch(3, 4),  # overlaps the first: 3 is a duplicate
            batch(7, 8),  # 5 and 6 never come: a gap between two batches
            batch(7, 8),  # the whole batch again
            batch(9, 10, extra=b'{"not": "an event"}'),  # a bad line between two good ones
        ):
            raw.publish(topic, payload, qos=1).wait_for_publish(5)
        wait_until(lambda: bridge.stats.received == 12, what="every line")
        wait_until(lambda: sequence_point(influx, "batcher").get("missing") == 2, what="the gap")

    assert stored_numbers(influx, "batcher") == [1, 2, 3, 4, 7, 8, 9, 10]
    assert sorted(point_ids(influx)) == sorted(events[n].id for n in (1, 2, 3, 4, 7, 8, 9, 10))
    point = sequence_point(influx, "batcher")
    assert (point["received"], point["duplicates"], point["missing"]) == (8, 3, 2)
    assert (bridge.stats.duplicates, bridge.stats.malformed) == (3, 1)
    [aside] = bridge.dead_letter.read_text().splitlines()
    assert json.loads(json.loads(aside)["payload"]) == {"not": "an event"}
