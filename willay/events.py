"""Session events: one versioned schema for every channel, and where they go.

`EventSink` is the protocol the channels publish through. `publish` must never block nor raise on
a user's request path. `FileEventSink` (JSON lines in a local file) is the embedded default;
`MemoryEventSink` keeps events in a list for tests and the simulator. The MQTT publisher arrives
with the telemetry package as a third implementation.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import random
import threading
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

__all__ = ["Event", "EventKind", "EventSink", "FileEventSink", "MemoryEventSink"]

SCHEMA_VERSION = 1

log = logging.getLogger(__name__)

# an id is a UUID version 4 (RFC 4122 variant) in hex: 122 random bits
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def new_event_id() -> str:
    """A random UUID4 as 32 hex digits, from the process's generator (reseeded in a forked
    child), not the OS's: an id must be unique, not secret, and a system call per event is
    most of an event's cost."""
    return f"{random.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"


class EventKind(StrEnum):
    session_start = "session_start"
    session_end = "session_end"
    hop = "hop"
    menu_step = "menu_step"
    tip_served = "tip_served"
    tip_completed = "tip_completed"
    feedback = "feedback"
    consent = "consent"
    profile_update = "profile_update"
    subscribe = "subscribe"
    unsubscribe = "unsubscribe"
    data_deleted = "data_deleted"
    error = "error"
    call_end = "call_end"
    sms_sent = "sms_sent"
    sms_delivered = "sms_delivered"
    sms_failed = "sms_failed"
    alert_delivered = "alert_delivered"
    alert_seen = "alert_seen"


class Event(BaseModel):
    """One step of one session. `subscriber` is a pseudonym, never a phone number."""

    v: int = SCHEMA_VERSION
    id: str = Field(default_factory=new_event_id)
    ts: dt.datetime = Field(default_factory=functools.partial(dt.datetime.now, dt.UTC))
    channel: str
    kind: EventKind
    subscriber: str
    session: str | None = None
    lang: str | None = None
    data: dict[str, Any] = {}

    @classmethod
    def known(
        cls,
        *,
        channel: str,
        kind: EventKind,
        subscriber: str,
        session: str | None,
        lang: str | None,
        data: dict[str, Any],
    ) -> Event:
        """An event of fields the code itself built, typed by its signature: the event it
        validates into, without the validation (a third of an event's cost on a hop)."""
        event = cls.__new__(cls)
        put = object.__setattr__
        put(
            event,
            "__dict__",
            {
                "v": SCHEMA_VERSION,
                "id": new_event_id(),
                "ts": dt.datetime.now(dt.UTC),
                "channel": channel,
                "kind": kind,
                "subscriber": subscriber,
                "session": session,
                "lang": lang,
                "data": data,
            },
        )
        put(
            event,
            "__pydantic_fields_set__",
            {"channel", "kind", "subscriber", "session", "lang", "data"},
        )
        put(event, "__pydantic_extra__", None)
        put(event, "__pydantic_private__", None)
        return event

    def to_json(self) -> str:
        """Compact JSON without empty fields (by the model's serializer, not `model_dump_json`'s
        wrapper around it)."""
        return self.to_json_bytes().decode()

    def to_json_bytes(self) -> bytes:
        """`to_json`, UTF-8 encoded: what a file or a socket takes."""
        return _SERIALIZER.to_json(self, exclude_none=True)


_SERIALIZER = Event.__pydantic_serializer__


class EventSink(Protocol):
    """Where events go; `publish` and `publish_all` neither block nor raise."""

    def publish(self, event: Event) -> None: ...

    def publish_all(self, events: Sequence[Event]) -> None: ...

    def close(self) -> None: ...


class FileEventSink:
    """Appends each event as one JSON line to a local file.

    On an event loop, the lines published in one turn of the loop reach the file in one flush
    at its next turn, as the lean Redis link and `OneWriteProtocol` gather their writes; off a
    loop (a thread, a command) each publish is flushed at once.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("ab")
        self._flush_due_on: asyncio.AbstractEventLoop | None = None

    def publish(self, event: Event) -> None:
        """Append the event; a failed write is logged, never raised."""
        self.publish_all((event,))

    def publish_all(self, events: Sequence[Event]) -> None:
        """Append the events in order, in one write; a failure is logged."""
        if not events:
            return
        lines = b"".join([event.to_json_bytes() + b"\n" for event in events])
        with self._lock:
            try:
                self._file.write(lines)
                self._flush_soon()
            except (OSError, ValueError):
                log.exception("events %s.. not written to %s", events[0].id, self._path)

    def _flush_soon(self) -> None:
        """Flush at the next turn of this thread's loop, or now off a loop (lock held).

        A flush due on another loop does not count: that loop may have stopped before it ran.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._file.flush()
            return
        if self._flush_due_on is not loop:
            self._flush_due_on = loop
            loop.call_soon(self._flush)

    def _flush(self) -> None:
        with self._lock:
            self._flush_due_on = None
            if self._file.closed:  # closed in this turn: `close` wrote it
                return
            try:
                self._file.flush()
            except (OSError, ValueError):
                log.exception("events not written to %s", self._path)

    def close(self) -> None:
        """Write what is pending and close the file."""
        with self._lock:
            self._file.close()


class MemoryEventSink:
    """Keeps events in memory, newest last."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, event: Event) -> None:
        """Keep the event."""
        self.events.append(event)

    def publish_all(self, events: Sequence[Event]) -> None:
        """Keep the events, in order."""
        self.events.extend(events)

    def close(self) -> None:
        """Nothing to close."""

    def kinds(self) -> list[str]:
        """The kinds of the events kept, in order."""
        return [e.kind.value for e in self.events]
