"""Events as InfluxDB points, and back.

One measurement, `events`. Tags (low cardinality only): `channel`, `kind`, `lang` and the data
keys in `DATA_TAGS` (`topic`, `region`, `status`, `network`, `screen`, ...), always strings.
Fields: `id`, `v`, `subscriber`, `session`, the publisher's `publisher` and `seq` (integer)
when the event was numbered, and every other data key: numbers as floats,
booleans, strings; a value that is not one of these (a list, a mapping, a string with a line
break, a number JSON must spell) is stored as JSON text under `json.<key>`, and a key that would
clash with the names above under `data.<key>`, so every event can be rebuilt from its point.

The timestamp is the event's `ts` (microseconds) in nanoseconds, plus a number below 1000 taken
from the event id: the same event always lands on the same point (a duplicate delivery
overwrites it, which is the dedupe) and two events of the same microsecond stay apart.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import math
import re
import zlib
from collections.abc import Mapping
from typing import Any

from pydantic import Field, TypeAdapter, ValidationError

from telemetry._errors import MalformedEvent
from telemetry._topics import parse_event_topic
from willay.events import SCHEMA_VERSION, Event

__all__ = [
    "DATA_TAGS",
    "MEASUREMENT",
    "NumberedEvent",
    "decode_batch",
    "decode_message",
    "event_from_row",
    "event_to_line",
    "numbered_json",
    "timestamp_ns",
]

MEASUREMENT = "events"
EVENT_TAGS = ("channel", "kind", "lang")
EVENT_FIELDS = ("id", "v", "subscriber", "session", "publisher", "seq")
DATA_TAGS = frozenset(
    {"topic", "region", "status", "network", "screen", "to", "key", "field", "medium"}
    | {"text_lang", "model_version", "direction", "hangup_cause"}
)
JSON_PREFIX = "json."
ESCAPE_PREFIX = "data."
RESERVED = frozenset({*EVENT_TAGS, *EVENT_FIELDS, "time"})
EXACT_FLOAT = 2**53
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MICROSECOND = dt.timedelta(microseconds=1)
PHONE = re.compile(r"^\+?\d{8,15}$")

_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": " ", "\r": " ", "\\": "/"})
_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})


class NumberedEvent(Event):
    """An event as it travels: with the id of its publisher and its number there."""

    publisher: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    seq: int | None = Field(default=None, ge=1)


def numbered_json(event: Event, *, publisher: str, seq: int) -> str:
    """The event's JSON with `publisher` and `seq` added (`publisher` must be a safe id)."""
    return f'{event.to_json()[:-1]},"publisher":"{publisher}","seq":{seq}}}'


def timestamp_ns(event: Event) -> int:
    """The point's time: the event's microsecond in nanoseconds plus a tie-breaker from its id."""
    ts = event.ts if event.ts.tzinfo else event.ts.replace(tzinfo=dt.UTC)
    return (ts - EPOCH) // MICROSECOND * 1000 + zlib.crc32(event.id.encode()) % 1000


def _string(value: str) -> str:
    if "\\" in value or '"' in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{value}"'


@functools.lru_cache(maxsize=4096)
def _tag_value(value: str) -> str:
    """A tag value escaped for line protocol ('' when only blanks are left); tags are few."""
    escaped = value.translate(_TAG_ESCAPES)
    return escaped if escaped.strip() else ""


@functools.lru_cache(maxsize=4096)
def _field_key(key: str) -> str:
    if key in RESERVED or key.startswith(("_", JSON_PREFIX, ESCAPE_PREFIX)):
        key = ESCAPE_PREFIX + key
    return key.translate(_KEY_ESCAPES)


def _data_field(key: str, value: Any) -> str | None:
    """A data value as `key=value` in line protocol; None for None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return f"{_field_key(key)}={'true' if value else 'false'}"
    if isinstance(value, int | float) and math.isfinite(value) and abs(value) <= EXACT_FLOAT:
        return f"{_field_key(key)}={float(value)!r}"
    if isinstance(value, str) and "\n" not in value and "\r" not in value:
        return f"{_field_key(key)}={_string(value)}"
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return f"{(JSON_PREFIX + key).translate(_KEY_ESCAPES)}={_string(text)}"


@functools.lru_cache(maxsize=4096)
def _tag_set(tags: tuple[tuple[str, str], ...]) -> str:
    """Tags in line protocol, sorted by key, blank ones left out; the combinations are few."""
    return "".join(
        f",{key}={escaped}" for key, value in sorted(tags) if (escaped := _tag_value(value))
    )


def event_to_line(event: Event | NumberedEvent) -> str:
    """The event as one line of InfluxDB line protocol."""
    tags = [("channel", event.channel), ("kind", str(event.kind))]
    if event.lang:
        tags.append(("lang", event.lang))
    fields = [f"id={_string(event.id)},v={event.v}i,subscriber={_string(event.subscriber)}"]
    if event.session is not None:
        fields.append(f"session={_string(event.session)}")
    if isinstance(event, NumberedEvent) and event.seq is not None and event.publisher:
        fields.append(f"publisher={_string(event.publisher)},seq={event.seq}i")
    data = event.data
    for key in sorted(data):
        value = data[key]
        if key in DATA_TAGS and value is not None and not isinstance(value, dict | list):
            tags.append((key, str(value)))
        elif (field := _data_field(key, value)) is not None:
            fields.append(field)
    return f"{MEASUREMENT}{_tag_set(tuple(tags))} {','.join(fields)} {timestamp_ns(event)}"


def _topic_of(root: str, topic: str) -> tuple[str, str]:
    where = parse_event_topic(root, topic)
    if where is None:
        raise MalformedEvent(f"not an event topic: {topic!r}")
    return where


def _parsed(payload: bytes) -> NumberedEvent:
    try:
        return NumberedEvent.model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        place = ".".join(str(p) for p in first["loc"]) or "payload"
        raise MalformedEvent(f"not an event: {place}: {first['msg']}") from exc


def _checked(event: NumberedEvent, *, where: tuple[str, str], topic: str) -> NumberedEvent:
    if event.v != SCHEMA_VERSION:
        raise MalformedEvent(f"unsupported schema version {event.v}")
    if (event.channel, event.kind.value) != where:
        raise MalformedEvent(f"event {event.channel}/{event.kind.value} on topic {topic!r}")
    if PHONE.match(event.subscriber):
        raise MalformedEvent("subscriber looks like a phone number, not a pseudonym")
    return event


def decode_message(topic: str, payload: bytes, *, root: str) -> NumberedEvent:
    """The event an MQTT message of one event carries; `MalformedEvent` says what is wrong."""
    return _checked(_parsed(payload), where=_topic_of(root, topic), topic=topic)


_EVENT_LIST = TypeAdapter(list[NumberedEvent])
Decoded = NumberedEvent | tuple[bytes, MalformedEvent]  # an event, or a line and what is wrong


def decode_batch(topic: str, payload: bytes, *, root: str) -> list[Decoded]:
    """The events a message carries, one JSON object a line (a publisher's batch), in order; a
    line that is not a valid event on this topic comes as `(line, MalformedEvent)` in its place.

    The lines are validated in one call; only when that fails, one by one. A payload that is
    one event spread over several lines (hand-written) is taken whole.
    """
    try:
        where = _topic_of(root, topic)
    except MalformedEvent as exc:
        return [(payload, exc)]
    lines = payload.split(b"\n")
    events: list[NumberedEvent] = []
    if len(lines) > 1:
        with contextlib.suppress(ValidationError):
            events = _EVENT_LIST.validate_json(b"[" + b",".join(lines) + b"]")
    if len(events) != len(lines):  # one event (perhaps over several lines), or a bad line
        events = []  # also when a line held two objects: the count no longer matches the lines
        try:
            return [_checked(_parsed(payload), where=where, topic=topic)]
        except MalformedEvent as exc:
            if len(lines) == 1:
                return [(payload, exc)]
    decoded: list[Decoded] = []
    for i, line in enumerate(lines):
        try:
            event = events[i] if events else _parsed(line)
            decoded.append(_checked(event, where=where, topic=topic))
        except MalformedEvent as exc:
            decoded.append((line, exc))
    return decoded


def _data_value(column: str, value: Any) -> tuple[str, Any]:
    if column.startswith(JSON_PREFIX):
        return column[len(JSON_PREFIX) :], json.loads(value)
    key = column[len(ESCAPE_PREFIX) :] if column.startswith(ESCAPE_PREFIX) else column
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return key, value


def event_from_row(row: Mapping[str, Any]) -> Event:
    """Rebuild an event from one row of `SELECT * FROM events` (times in nanoseconds)."""
    ns = int(row["time"])
    data = dict(
        _data_value(column, value)
        for column, value in row.items()
        if value is not None and column not in RESERVED
    )
    return Event.model_validate(
        {
            "v": int(row.get("v") or SCHEMA_VERSION),
            "id": row["id"],
            "ts": EPOCH + dt.timedelta(microseconds=ns // 1000),
            "channel": row["channel"],
            "kind": row["kind"],
            "subscriber": row["subscriber"],
            "session": row.get("session"),
            "lang": row.get("lang"),
            "data": data,
        }
    )
