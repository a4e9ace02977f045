"""The MQTT event sink on a real broker: order, spooling, replay, and nothing lost on close."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from telemetry import Broker, MqttEventSink, Spool, events_filter
from tests.fixtures.telemetry import Listener, Mosquitto, wait_until
from willay.events import Event

ROOT = "test-publisher"


def events(n: int) -> list[Event]:
    return [
        Event(channel="ussd", kind="menu_step", subscriber="anon-1", data={"n": i})
        for i in range(n)
    ]


def make_sink(url: str, spool_dir: Path, **options) -> MqttEventSink:
    host, port = url.removeprefix("mqtt://").split(":")
    return MqttEventSink(
        Broker(host=host, port=int(port)),
        spool=Spool(spool_dir),
        topic_root=ROOT,
        reconnect=(0.05, 0.2),
        close_timeout=options.pop("close_timeout", 3.0),
        **options,
    )


@pytest.fixture
def listener(own_broker: Mosquitto) -> Iterator[Listener]:
    """A persistent subscriber: it gets what was published while the broker was away."""
    listening = Listener(own_broker.url, events_filter(ROOT), client_id="listener")
    yield listening
    listening.close()


def test_events_arrive_in_order_on_their_topics(own_broker, listener, tmp_path) -> None:
    sink = make_sink(own_broker.url, tmp_path / "spool")
    sent = events(20)
    wait_until(lambda: sink.connected, what="connection")
    for event in sent:
        sink.publish(event)
    wait_until(lambda: len(listener.ids()) == 20, what="20 events")
    assert listener.ids() == [e.id for e in sent]
    assert {topic for topic, _ in listener.messages} == {f"{ROOT}/v1/events/ussd/menu_step"}
    sink.close()
    assert sink.backlog == 0


def test_broker_away_then_back_replays_the_spool_in_order(own_broker, listener, tmp_path):
    sink = make_sink(own_broker.url, tmp_path / "spool")
    wait_until(lambda: sink.connected, what="connection")
    own_broker.stop()
    wait_until(lambda: not sink.connected, what="the sink to notice")
    sent = events(30)
    for event in sent:
        sink.publish(event)  # neither blocks nor raises
    assert sink._spool.pending == 30
    own_broker.start()
    wait_until(lambda: len(listener.ids()) >= 30, what="replay")
    assert listener.ids() == [e.id for e in sent]
    wait_until(lambda: sink.backlog == 0, what="the spool to empty")
    sink.close()


def test_a_full_queue_spills_to_disk_and_order_holds(own_broker, listener, tmp_path) -> None:
    sink = make_sink(own_broker.url, tmp_path / "spool", queue_size=2, max_inflight=1)
    wait_until(lambda: sink.connected, what="connection")
    own_broker.pause()  # connected, but no PUBACK comes back
    sent = events(10)
    for event in sent:
        sink.publish(event)
    # off the disk: at most one queue's worth (2) in the window's one message, 2 more queued
    assert sink._spool.pending >= 10 - 2 * 2
    own_broker.resume()
    wait_until(lambda: len(listener.ids()) >= 10, what="every event")
    assert listener.ids() == [e.id for e in sent]
    sink.close()


def test_unacknowledged_events_stay_on_disk_across_close(own_broker, listener, tmp_path):
    sink = make_sink(own_broker.url, tmp_path / "spool", close_timeout=0.2)
    wait_until(lambda: sink.connected, what="connection")
    own_broker.pause()
    sent = events(5)
    for event in sent:
        sink.publish(event)
    sink.close()  # in flight, never acknowledged: written to the spool
    left = Spool(tmp_path / "spool")
    assert left.pending == 5
    left.close()
    own_broker.resume()
    again = make_sink(own_broker.url, tmp_path / "spool")
    wait_until(lambda: set(listener.ids()) >= {e.id for e in sent}, what="every event")
    wait_until(lambda: again.backlog == 0, what="the spool to empty")
    again.close()


def test_publish_after_close_neither_blocks_nor_raises(own_broker, tmp_path) -> None:
    sink = make_sink(own_broker.url, tmp_path / "spool")
    sink.close()
    sink.publish(events(1)[0])
    assert sink.dropped == 1


def test_an_event_on_its_way_to_the_broker_counts_in_the_backlog(own_broker, listener, tmp_path):
    """The sender takes events from the queue, then publishes them: in between they are neither
    queued nor in flight, and `backlog` must not read 0 (a caller waiting for it then closes the
    sink with them unacknowledged, and the next start sends them again)."""
    sink = make_sink(own_broker.url, tmp_path / "spool")
    wait_until(lambda: sink.connected, what="connection")
    seen: list[int] = []
    carried: list[int] = []  # events per message: one JSON line each
    publish = sink._client.publish

    def publishing(*args, **kwargs):
        seen.append(sink.backlog)  # the sender calls it without the sink's lock
        payload = kwargs["payload"] if "payload" in kwargs else args[1]
        carried.append(len(payload.splitlines()))
        return publish(*args, **kwargs)

    sink._client.publish = publishing  # type: ignore[method-assign]
    for event in events(5):
        sink.publish(event)
    wait_until(lambda: sink.backlog == 0, what="every acknowledgement")
    sink.close()
    assert seen and min(seen) >= 1, seen  # one look per message (several events each)
    assert sum(carried) == 5, carried  # every event went out, once
    left = Spool(tmp_path / "spool")
    assert left.pending == 0  # nothing acknowledged is spooled again
    left.close()


def test_an_unsendable_spooled_line_is_dropped_and_the_rest_is_sent(
    own_broker, listener, tmp_path
) -> None:
    """A spooled line paho refuses to publish (a wildcard in its topic) leaves the spool, as do
    the lines sent after it once acknowledged: nothing is left to send again."""
    good = events(3)
    topic = f"{ROOT}/v1/events/ussd/menu_step"
    spool = Spool(tmp_path / "spool")
    spool.append([f"{topic} {good[0].to_json()}"])
    spool.append([f"{ROOT}/v1/events/ussd/+ {good[1].to_json()}"])
    spool.append([f"{topic} {good[2].to_json()}"])
    spool.close()
    sink = make_sink(own_broker.url, tmp_path / "spool")
    wait_until(lambda: len(listener.ids()) >= 2, what="the sendable lines")
    wait_until(lambda: sink.backlog == 0, what="the spool to empty")
    sink.close()
    assert listener.ids() == [good[0].id, good[2].id]
    left = Spool(tmp_path / "spool")
    assert left.pending == 0
    left.close()
