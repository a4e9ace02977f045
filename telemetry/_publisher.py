"""The MQTT `EventSink`: QoS 1 publishing that never blocks a request and never loses an event.

`publish()` only appends to a bounded in-memory queue, or, when the broker is unreachable, the
queue is full or older events wait on disk, to a disk spool (`Spool`). A sender thread runs
paho's network loop itself (reconnecting with backoff; no second network thread to contend with,
each PUBLISH written at once) and, between turns, hands paho the events: first the queue, then
the spool, in order, about `max_inflight` messages at a time (a turn's events split by topic may
go one message a topic over); an idle sender looks for new events every `IDLE_WAIT`. Events
waiting together go together: one message carries up to `batch_events` events of one topic, one
JSON object a line (a message of one event is that event's JSON, as before), so the broker, paho
and the bridge pay per message, not per event. paho keeps unacknowledged QoS 1 messages only in
memory, so a spooled line leaves the spool only at its PUBACK, and on `close()` whatever is
still in memory or unacknowledged is written to the front of the spool: the next start sends it
again (the bridge drops numbers it has stored, and a point written twice lands on itself).

Each event is numbered when it is published (`PublisherNumbers`, kept in the spool directory:
the numbering continues across restarts) and carries `publisher` and `seq` in its payload, so
the bridge can count what went missing and what came twice.
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from telemetry._mqtt import KEEPALIVE, Broker, connect_properties, make_client
from telemetry._points import numbered_json
from telemetry._sequence import PublisherNumbers
from telemetry._spool import Spool
from telemetry._topics import event_topic
from willay.config import Settings
from willay.errors import ConfigurationError
from willay.events import Event

__all__ = ["MqttEventSink"]

log = logging.getLogger(__name__)

MAX_SPOOL_DIRS = 64
MAX_BATCH_BYTES = 1 << 16  # a message's payload stops growing past this
MAX_TAKE = 500  # events the sender takes under the lock at a time: `publish()` waits no longer
IDLE_WAIT = 0.05  # longest the sender waits for the network: a new event waits no longer
NO_MATCHING_SUBSCRIBERS = 16  # MQTT 5 PUBACK reason: the broker had nobody to give it to


def _line(topic: str, payload: str) -> str:
    return f"{topic} {payload}"


Pending = tuple[int | None, str]  # a spool segment (None: from memory) and a `topic payload` line


@dataclass(slots=True)
class _Batch:
    """Events of one topic that go in one message, one JSON object a line."""

    topic: str
    items: list[Pending] = field(default_factory=list)
    payloads: list[str] = field(default_factory=list)
    size: int = 0


def batch_by_topic(items: Iterable[Pending], *, most: int) -> list[_Batch]:
    """The lines grouped by topic, in order within each topic, at most `most` events and about
    `MAX_BATCH_BYTES` a message; the batches in the order of their first line."""
    batches: list[_Batch] = []
    filling: dict[str, _Batch] = {}
    for item in items:
        topic, _, payload = item[1].partition(" ")
        batch = filling.get(topic)
        if batch is None or len(batch.items) >= most or batch.size >= MAX_BATCH_BYTES:
            batch = filling[topic] = _Batch(topic)
            batches.append(batch)
        batch.items.append(item)
        batch.payloads.append(payload)
        batch.size += len(payload) + 1
    return batches


def open_publisher_spool(root: Path) -> Spool:
    """The first spool under `root/publisher-N` no other process holds (one per app process)."""
    for n in range(MAX_SPOOL_DIRS):
        try:
            return Spool(root / f"publisher-{n}", buffered=True)
        except ConfigurationError:
            continue
    raise ConfigurationError(f"every publisher spool under {root} is in use")


class MqttEventSink:
    """Publishes events at QoS 1 to `<root>/v1/events/<channel>/<kind>`, spooling when needed."""

    def __init__(
        self,
        broker: Broker,
        *,
        spool: Spool,
        topic_root: str = "willay",
        client_id: str | None = None,
        queue_size: int = 10_000,
        max_inflight: int = 100,
        batch_events: int = 100,
        reconnect: tuple[float, float] = (1.0, 60.0),
        close_timeout: float = 5.0,
    ) -> None:
        self.broker = broker
        self.topic_root = topic_root
        self.client_id = client_id or f"willay-app-{socket.gethostname()}-{os.getpid()}"
        self._queue: collections.deque[tuple[int, Event]] = collections.deque()
        self._queue_size = queue_size
        self._max_inflight = max_inflight
        self._batch_events = batch_events
        self._close_timeout = close_timeout
        self._spool = spool
        self._numbers = PublisherNumbers(spool.directory)
        self._lock = threading.Lock()
        self._acked: collections.deque[tuple[int, bool]] = collections.deque()
        self._reconnect = reconnect
        self._hold_delay = 0.0
        self._hold_until = 0.0
        self._inflight: dict[int, list[Pending]] = {}  # by message id: the events it carries
        self._handing = 0  # taken from the queue by the sender, not yet in `_inflight`
        self._connected = False
        self._closing = False
        self._stopping = False
        self._closed = False
        self.dropped = 0
        self._client = make_client(broker, client_id=self.client_id, reconnect=reconnect)
        self._client.max_inflight_messages_set(0)  # the sender keeps the window (paho scans
        # every message in flight on each PUBACK when it keeps one itself)
        self._client.max_queued_messages_set(0)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.connect_async(
            broker.host, broker.port, keepalive=KEEPALIVE, properties=connect_properties()
        )
        self._sender = threading.Thread(
            target=self._send_loop, name="willay-mqtt-sender", daemon=True
        )
        self._sender.start()
        log.info("publishing events to %s as %s", broker, self.client_id)

    @classmethod
    def from_settings(cls, settings: Settings) -> MqttEventSink:
        """The sink `WILLAY_MQTT_*` describe, spooling under `WILLAY_SPOOL_DIR`."""
        broker = Broker.from_settings(settings)
        spool = open_publisher_spool(settings.spool_dir)
        try:
            return cls(
                broker,
                spool=spool,
                topic_root=settings.mqtt_topic_root,
                client_id=settings.mqtt_client_id,
                queue_size=settings.mqtt_queue_size,
                max_inflight=settings.mqtt_max_inflight,
                reconnect=(settings.mqtt_reconnect_min, settings.mqtt_reconnect_max),
                close_timeout=settings.mqtt_close_timeout,
            )
        except BaseException:
            spool.close()
            raise

    # -- what the app calls -------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """Queue the event for the broker; never blocks on the network, never raises."""
        try:
            with self._lock:
                if self._closed:
                    self.dropped += 1
                    log.error("event %s published after close: dropped", event.id)
                    return
                number = self._numbers.take()
                if (
                    self._spool.unread
                    or not self._connected
                    or len(self._queue) >= self._queue_size
                ):
                    self._spool.append([self._encode(number, event)])
                else:
                    self._queue.append((number, event))
        except Exception:
            self.dropped += 1
            log.exception("event %s could not be queued", event.id)

    def publish_all(self, events: Sequence[Event]) -> None:
        """Queue the events in order, as `publish` does each."""
        for event in events:
            self.publish(event)

    @property
    def backlog(self) -> int:
        """Events not yet acknowledged by the broker: queued, in flight or spooled."""
        with self._lock:
            inflight = sum(map(len, self._inflight.values()))
            return len(self._queue) + self._handing + inflight + self._spool.pending

    @property
    def publisher(self) -> str:
        """This publisher's id: with `seq`, it names each event it sends."""
        return self._numbers.publisher

    @property
    def connected(self) -> bool:
        """True while the broker connection is up."""
        return self._connected

    def close(self) -> None:
        """Send what can be sent within `close_timeout`, spool the rest, disconnect."""
        if self._closing:
            return
        self._closing = True
        deadline = time.monotonic() + self._close_timeout
        while self._connected and self.backlog and time.monotonic() < deadline:
            time.sleep(0.01)
        self._stopping = True
        self._sender.join()
        self._client.disconnect()
        with self._lock:
            self._settle_acks()
            left = [
                line
                for items in self._inflight.values()
                for source, line in items
                if source is None
            ]
            left += [self._encode(*item) for item in self._queue]
            self._spool.prepend(left)
            self._numbers.close()
            self._inflight.clear()
            self._queue.clear()
            self._closed = True
            pending = self._spool.pending
            self._spool.close()
        if pending:
            log.warning("%d event(s) left in the spool %s", pending, self._spool.directory)

    # -- paho callbacks (network thread: never take self._lock here) --------------------------

    def _on_connect(  # noqa: PLR0917 - paho calls it positionally
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("broker %s refused the connection: %s", self.broker, reason)
            return
        self._connected = True
        log.info("connected to %s", self.broker)

    def _on_disconnect(  # noqa: PLR0917 - paho calls it positionally
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if self._connected and not self._closing:
            log.warning("lost the broker %s (%s); spooling events", self.broker, reason)
        self._connected = False

    def _on_publish(  # noqa: PLR0917 - paho calls it positionally
        self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            log.error("broker refused an event (message %d): %s", mid, reason)
        self._acked.append((mid, reason.value == NO_MATCHING_SUBSCRIBERS))

    # -- the sender thread --------------------------------------------------------------------

    def _encode(self, number: int, event: Event) -> str:
        payload = numbered_json(event, publisher=self._numbers.publisher, seq=number)
        return _line(event_topic(self.topic_root, event), payload)

    def _settle_acks(self) -> None:
        """Forget acknowledged messages; a spooled line leaves the spool now (lock held).

        A message the broker had no subscriber for (no bridge has subscribed yet, or the
        broker restarted and lost the shared subscription) was not delivered: it goes back to
        the front of the spool, after which the sender waits, with backoff, before trying again.
        """
        bounced: list[str] = []
        delivered = False
        settled: list[Pending] = []
        while self._acked:
            mid, unheard = self._acked.popleft()
            items = self._inflight.pop(mid, [])
            if unheard:
                bounced += [line for _, line in items]
            delivered = delivered or not unheard
            settled += items
        self._release(settled)
        if bounced:
            self._spool.prepend(bounced + [self._encode(*item) for item in self._queue])
            self._queue.clear()
            low, high = self._reconnect
            self._hold_delay = min(high, max(low, self._hold_delay * 2))
            self._hold_until = time.monotonic() + self._hold_delay
            log.warning(
                "no subscriber for %d event(s) (is a bridge running?); kept, retry in %.1f s",
                len(bounced),
                self._hold_delay,
            )
        elif delivered:
            self._hold_delay = 0.0

    def _release(self, items: Iterable[Pending]) -> None:
        """The spooled lines among `items` are done with: they leave the spool (lock held)."""
        per_segment = collections.Counter(source for source, _ in items)
        for segment, lines in per_segment.items():
            if segment is not None:
                self._spool.done(segment, lines)

    def _next(self) -> tuple[int | None, str | tuple[int, Event]] | None:
        """The next line (or numbered event) to send and its spool segment (lock held)."""
        if not self._connected:
            if self._queue:  # keep them on disk while the broker is away
                self._spool.prepend(self._encode(*item) for item in self._queue)
                self._queue.clear()
            return None
        if len(self._inflight) >= self._max_inflight or time.monotonic() < self._hold_until:
            return None
        if self._queue:
            return None, self._queue.popleft()
        return self._spool.take()

    def _publish(self, batches: list[_Batch]) -> list[tuple[int, list[Pending]]]:
        """Hand paho one message per batch; the message ids with the events each carries."""
        published = []
        for batch in batches:
            try:
                info = self._client.publish(batch.topic, "\n".join(batch.payloads), qos=1)
            except ValueError:
                log.error("unsendable spool line(s) dropped: %.80s", batch.items[0][1])
                with self._lock:
                    self._release(batch.items)
                continue
            published.append((info.mid, batch.items))
        return published

    def _send_loop(self) -> None:
        """The sender thread: paho's network loop, then whatever may be sent, in turn."""
        idle = False
        while True:
            holding = self._hold_until - time.monotonic()
            wait = (holding if 0 < holding < IDLE_WAIT else IDLE_WAIT) if idle else 0.0
            self._client.serve(wait)
            sent = 0
            while True:
                with self._lock:  # as many as the window has room for, in one go
                    self._settle_acks()
                    room = 0 if self._stopping else self._max_inflight - len(self._inflight)
                    most = min(max(room, 0) * self._batch_events, MAX_TAKE)
                    items = list(itertools.islice(iter(self._next, None), most))
                    # between here and `_inflight.update` an event taken from the queue is in
                    # neither: counted here, `backlog` does not read 0 while it is on its way
                    self._handing = sum(source is None for source, _ in items)
                if not items:
                    break
                lines = [
                    (source, taken if isinstance(taken, str) else self._encode(*taken))
                    for source, taken in items
                ]
                published = self._publish(batch_by_topic(lines, most=self._batch_events))
                with self._lock:
                    self._inflight.update(published)
                    self._handing = 0
                sent += len(published)
            idle = not sent
            if self._stopping:
                return
