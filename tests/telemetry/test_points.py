"""Events as MQTT topics and InfluxDB points, and back, on a real InfluxDB."""

from __future__ import annotations

import datetime as dt
import json

import pytest

import telemetry
from telemetry import (
    InfluxClient,
    MalformedEvent,
    decode_batch,
    decode_message,
    event_to_line,
    event_topic,
    read_events,
    shared_filter,
)
from telemetry._points import timestamp_ns
from willay.config import Settings
from willay.events import Event

TS = dt.datetime(2026, 6, 15, 9, 30, 0, 123456, tzinfo=dt.UTC)


def make_event(**fields) -> Event:
    data = {"channel": "ussd", "kind": "tip_served", "subscriber": "a" * 32, "ts": TS}
    return Event(**(data | fields))


class TestTopics:
    def test_topic_names_version_channel_and_kind(self) -> None:
        assert event_topic("willay", make_event()) == "willay/v1/events/ussd/tip_served"
        assert shared_filter("bridges", "willay") == "$share/bridges/willay/v1/events/#"

    def test_a_channel_outside_lowercase_ascii_is_refused(self) -> None:
        with pytest.raises(ValueError, match="lowercase ASCII"):
            event_topic("willay", make_event(channel="USSD"))


class TestLines:
    def test_ids_and_numbers_are_fields_and_tags_stay_few(self) -> None:
        event = make_event(
            session="ATUid_1",
            lang="quy",
            data={"tip_id": "heladas-abrigo", "topic": "heladas", "score": 4, "region": "puno"},
        )
        line = event_to_line(event)
        tags = line.split(" ", 1)[0]
        assert tags == ("events,channel=ussd,kind=tip_served,lang=quy,region=puno,topic=heladas")
        assert f'id="{event.id}"' in line and 'session="ATUid_1"' in line
        assert 'tip_id="heladas-abrigo"' in line and "score=4.0" in line

    def test_same_event_same_point_and_same_microsecond_apart(self) -> None:
        first, second = make_event(id="a1"), make_event(id="b2")
        assert event_to_line(first) == event_to_line(first.model_copy())
        assert timestamp_ns(first) // 1000 == timestamp_ns(second) // 1000
        assert timestamp_ns(first) != timestamp_ns(second)


BAD = [
    ("willay/v1/events/ussd/tip_served", b"not json", "not an event"),
    ("willay/v1/events/ussd", make_event().to_json().encode(), "not an event topic"),
    ("willay/v1/events/ivr/tip_served", make_event().to_json().encode(), "on topic"),
    ("willay/v1/events/ussd/tip_served", make_event(v=2).to_json().encode(), "version"),
    (
        "willay/v1/events/ussd/tip_served",
        make_event(subscriber="+51987654321").to_json().encode(),
        "phone",
    ),
    (
        "willay/v1/events/ussd/nope",
        make_event().to_json().encode().replace(b"tip_served", b"nope"),
        "kind",
    ),
]


@pytest.mark.parametrize(("topic", "payload", "reason"), BAD)
def test_malformed_messages_say_why(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(MalformedEvent, match=reason):
        decode_message(topic, payload, root="willay")


@pytest.mark.parametrize(("topic", "payload", "reason"), BAD)
def test_a_bad_line_in_a_batch_is_set_apart_from_the_good_ones(
    topic: str, payload: bytes, reason: str
) -> None:
    event = make_event()
    good = event.to_json().encode()
    batch = b"\n".join([good, payload, good])
    decoded = decode_batch(topic, batch, root="willay")
    if reason == "not an event topic":  # the whole message is on no event topic
        [(whole, problem)] = decoded
        assert whole == batch and reason in problem.message
        return
    if topic != "willay/v1/events/ussd/tip_served":  # the good lines are off this topic too
        assert all(isinstance(item, tuple) for item in decoded)
        return
    first, (line, problem), last = decoded
    assert not isinstance(first, tuple) and not isinstance(last, tuple)
    assert first.to_json() == last.to_json() == event.to_json()
    assert line == payload and reason in problem.message


def test_a_line_of_two_events_is_one_bad_line_not_two_events() -> None:
    event = make_event(data={"n": 1})
    good = event.to_json().encode()
    batch = b"\n".join([good, good + b"," + good, good])
    first, (line, problem), last = decode_batch(event_topic("willay", event), batch, root="willay")
    assert not isinstance(first, tuple) and not isinstance(last, tuple)
    assert last.to_json() == event.to_json()
    assert line == good + b"," + good and problem.message.startswith("not an event")


def test_one_event_spread_over_several_lines_is_one_event() -> None:
    event = make_event(data={"n": 1})
    pretty = json.dumps(json.loads(event.to_json()), indent=2).encode()
    [decoded] = decode_batch(event_topic("willay", event), pretty, root="willay")
    assert not isinstance(decoded, tuple) and decoded.to_json() == event.to_json()


class TestRoundTrip:
    """What the bridge writes, `read_events` rebuilds, on a real InfluxDB."""

    @pytest.fixture
    def reader_settings(self, settings: Settings, influx: InfluxClient) -> Settings:
        return settings.model_copy(
            update={"influx_url": influx.url, "influx_database": influx.database}
        )

    def test_every_kind_of_value_comes_back(self, influx: InfluxClient, reader_settings) -> None:
        data = {
            "tip_id": "a b,c=d",
            "score": 0.75,
            "pages": 3,
            "useful": True,
            "error": 'say "hi" \\ back\nslash',
            "kind": "weekly",
            "time": "x",
            "json.x": 1,
            "_x": "y",
            "nested": {"a": [1, 2]},
            "region": "puno",
            "network": "71610",
            "big": 2**60,
            "text": "Ñawi allin, mamá",
        }
        event = make_event(session="ATUid_9", lang="es", data=data | {"nothing": None})
        influx.write([event_to_line(event)])
        [back] = read_events(reader_settings, kinds={"tip_served"})
        assert back == event.model_copy(update={"data": data})

    def test_kinds_and_since_select(self, influx: InfluxClient, reader_settings) -> None:
        old = make_event(kind="feedback", ts=TS - dt.timedelta(days=3))
        new = make_event(kind="feedback")
        other = make_event(kind="menu_step")
        influx.write([event_to_line(e) for e in (new, old, other)])
        assert read_events(reader_settings, kinds={"feedback"}) == [old, new]
        assert read_events(reader_settings, kinds={"feedback"}, since=TS) == [new]
        assert len(read_events(reader_settings, kinds=())) == 3

    def test_pages_through_many_points(self, influx: InfluxClient, reader_settings, monkeypatch):
        monkeypatch.setattr(telemetry._reader, "PAGE", 3)
        events = [make_event(ts=TS + dt.timedelta(seconds=i)) for i in range(8)]
        influx.write([event_to_line(e) for e in events])
        assert read_events(reader_settings, kinds={"tip_served"}) == events
