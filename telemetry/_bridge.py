"""The bridge: events from MQTT into InfluxDB, in batches, losing none.

It subscribes to `$share/<group>/<root>/v1/events/#` (several bridges share the load) with a
persistent MQTT 5 session under a fixed client id (the broker keeps its messages while it is
away) and acknowledges a message only once it is stored: written to InfluxDB, or, when InfluxDB
cannot take it, written and synced to the bridge's disk spool, or, when it is not an event, set
aside in the dead-letter file. A crash before that leaves the message unacknowledged, and the
broker sends it again. Spooled points are sent again with exponential backoff; a point InfluxDB
refuses (a field of another type) is found by halving the batch and set aside alone. Every
`health_seconds` the bridge writes its own point (`bridge` measurement): counters, spool size
and lag.

A message carries one event or a publisher's batch of them, one a line, each judged on its own.
Events carry their publisher's id and number (`publisher`, `seq`): the bridge drops a number it
has already stored (a duplicate delivery), counts the numbers that never came (gaps, e.g. a
broker that dropped messages), writes one `sequence` point per publisher (tags `bridge`,
`publisher`) with every health point, and logs what changed. Its view of each publisher is saved
in `sequences.json` after each stored batch, so a restart keeps judging where it stopped. The
bridges of one group, which share the events, tell each other after each batch which numbers
they stored (`<root>/v1/bridges/<group>/seen`), so that none counts as missing what another got.
"""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import json
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt

from telemetry._errors import InfluxRejected, InfluxUnavailable, MalformedEvent
from telemetry._influx import InfluxClient
from telemetry._mqtt import KEEPALIVE, Broker, connect_properties, make_client
from telemetry._points import MEASUREMENT, decode_batch, event_to_line
from telemetry._sequence import (
    GIVE_UP_SECONDS,
    SequenceTracker,
    Stream,
    decode_note,
    encode_note,
)
from telemetry._spool import Spool
from telemetry._topics import notes_topic, shared_filter
from willay.config import Settings

__all__ = ["Bridge", "BridgeStats"]

log = logging.getLogger(__name__)

HEALTH_MEASUREMENT = "bridge"
SEQUENCE_MEASUREMENT = "sequence"
# Messages the broker may have in flight to the bridge, unacknowledged (MQTT 5 Receive Maximum):
# a burst waits here rather than in the broker's per-client queue (`max_queued_messages`).
MAX_RECEIVE = 65_535
NETWORK_WAIT = 0.1  # longest wait in the network loop: how soon a stop is noticed


@dataclass
class BridgeStats:
    """Counters since the bridge started."""

    received: int = 0
    written: int = 0
    spooled: int = 0
    malformed: int = 0
    rejected: int = 0
    duplicates: int = 0
    missing: int = 0
    write_errors: int = 0
    lag_ms: float = 0.0


class _Job(NamedTuple):
    """What the store thread does with one batch: write `lines`, then save the tracker's
    `state` (as it was once the batch was checked: no number not yet stored), then send the
    note and the acknowledgements; with `health`, the bridge's own point goes with the lines."""

    lines: list[str]
    state: str | None
    note: bytes | None = None
    acks: Sequence[int] = ()
    health: bool = False


class _Message(NamedTuple):
    mid: int
    qos: int
    topic: str
    payload: bytes
    events: int  # lines: a publisher sends up to a batch of events in one message


class Bridge:
    """Moves events from the broker to InfluxDB until `run`'s stop event is set."""

    def __init__(
        self,
        *,
        broker: Broker,
        influx: InfluxClient,
        workdir: Path,
        client_id: str,
        topic_root: str = "willay",
        group: str = "willay-bridge",
        batch_size: int = 500,
        batch_seconds: float = 1.0,
        session_expiry: int = 604_800,
        health_seconds: float = 10.0,
        reconnect: tuple[float, float] = (1.0, 60.0),
        retry: tuple[float, float] = (1.0, 60.0),
    ) -> None:
        self.broker, self.influx = broker, influx
        self.client_id, self.topic_root, self.group = client_id, topic_root, group
        self.batch_size, self.batch_seconds = batch_size, batch_seconds
        self.health_seconds = health_seconds
        self.stats = BridgeStats()
        self.spool = Spool(workdir / "spool", segment_lines=batch_size, sync=True)
        self.dead_letter = workdir / "dead-letter.jsonl"
        self.sequences = SequenceTracker(workdir / "sequences.json")
        self._reported: dict[str, tuple[int, int, int, int]] = {}
        self._session_expiry = session_expiry
        self._retry_min, self._retry_max = retry
        self._retry_delay = 0.0
        self._retry_at = 0.0
        self._lag_ms = 0.0
        self._pending: list[_Message] = []
        self._pending_events = 0
        self._jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=1)
        self._dead_letter_lock = threading.Lock()
        self._acks: collections.deque[Sequence[int]] = collections.deque()
        self._outbox: collections.deque[bytes] = collections.deque()
        self._notes = notes_topic(topic_root, group)
        self._failure: BaseException | None = None
        self._stopping = False
        self.ready = threading.Event()  # subscribed: messages published from now on come here
        self._client = make_client(
            broker,
            client_id=client_id,
            reconnect=reconnect,
            manual_ack=True,
            on_raw_message=self._on_message,
        )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe

    @classmethod
    def from_settings(cls, settings: Settings) -> Bridge:
        """The bridge `WILLAY_MQTT_*`, `WILLAY_INFLUX_*` and `WILLAY_BRIDGE_*` describe."""
        client_id = settings.bridge_client_id or f"willay-bridge-{socket.gethostname()}"
        return cls(
            broker=Broker.from_settings(settings),
            influx=InfluxClient.from_settings(settings),
            workdir=settings.spool_dir / f"bridge-{client_id}",
            client_id=client_id,
            topic_root=settings.mqtt_topic_root,
            group=settings.bridge_group,
            batch_size=settings.bridge_batch_size,
            batch_seconds=settings.bridge_batch_seconds,
            session_expiry=settings.bridge_session_expiry,
            health_seconds=settings.bridge_health_seconds,
            reconnect=(settings.mqtt_reconnect_min, settings.mqtt_reconnect_max),
            retry=(settings.influx_retry_min, settings.influx_retry_max),
        )

    # -- running ------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Bridge until `stop` is set, then store what was received and disconnect.

        This thread runs paho's network loop (between batches: no network thread of paho's),
        checks each batch (decodes, drops duplicates, counts gaps, builds the points) and writes
        the acknowledgements; a second thread stores each checked batch (writes to InfluxDB or
        spools, saves the tracker's state) while the next one arrives and is checked, and hands
        back what may be acknowledged.
        """
        self._client.connect_async(
            self.broker.host,
            self.broker.port,
            keepalive=KEEPALIVE,
            clean_start=False,
            properties=connect_properties(
                session_expiry=self._session_expiry,
                receive_maximum=MAX_RECEIVE,
            ),
        )
        self.influx.create_database()
        storing = threading.Thread(target=self._store_loop, name="willay-bridge-store")
        storing.start()
        next_health = time.monotonic()
        try:
            while not stop.is_set():
                self._hand_over(self._check(self._collect(stop)), storing)
                self._send_acks()
                if time.monotonic() >= next_health:
                    self._hand_over(self._health_job(), storing)
                    next_health = time.monotonic() + self.health_seconds
            while self._pending:
                self._hand_over(self._check(self._collect(stop)), storing)
            self._hand_over(self._health_job(), storing)
        finally:
            self._jobs.put(None)
            storing.join()
            self._send_acks()
            self._stopping = True
            self._client.disconnect()
            self.spool.close()
            log.info("bridge stopped: %s", asdict(self.stats))
        if self._failure is not None:
            raise self._failure

    def _hand_over(self, job: _Job | None, storing: threading.Thread) -> None:
        """Queue a job for the store thread, sending acknowledgements while it is busy."""
        if job is None:
            return
        while storing.is_alive():
            try:
                self._jobs.put(job, timeout=NETWORK_WAIT)
                return
            except queue.Full:
                self._send_acks()
        raise RuntimeError("the bridge's store thread stopped") from self._failure

    def _send_acks(self) -> None:
        """Acknowledge stored batches and tell the group which numbers they held."""
        while self._outbox:
            self._client.publish(self._notes, self._outbox.popleft(), qos=1)
        while self._acks:
            self._client.ack_all(self._acks.popleft())

    def _store_loop(self) -> None:
        """The store thread: checked batches and health points, spooled points to send again."""
        try:
            while (job := self._next_job()) is not None:
                self._commit(job)
                self._drain_spool()
        except BaseException as exc:
            self._failure = exc
            log.exception("the bridge's store thread failed")

    def _next_job(self) -> _Job | None:
        try:
            return self._jobs.get(timeout=self.batch_seconds)
        except queue.Empty:
            return _Job(lines=[], state=None)

    def _commit(self, job: _Job) -> None:
        """Store a job's lines, save the tracker's state, then let its messages be acknowledged."""
        if job.acks:
            log.debug("storing %d event(s)", len(job.lines))
        self._store(job.lines + [self._health_line()] if job.health else job.lines)
        if job.state is not None:
            self.sequences.write(job.state)
        if job.note is not None:
            self._outbox.append(job.note)
        if job.acks:
            self._acks.append(job.acks)

    def _collect(self, stop: threading.Event) -> list[_Message]:
        """Run the network loop until `batch_size` events wait or `batch_seconds` pass; take
        messages holding about `batch_size` events (at least one message)."""
        deadline = time.monotonic() + self.batch_seconds
        while self._pending_events < self.batch_size and not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._client.serve(min(left, NETWORK_WAIT))
        taken, events = 0, 0
        for message in self._pending:
            if taken and events + message.events > self.batch_size:
                break
            taken, events = taken + 1, events + message.events
        batch = self._pending[:taken]
        del self._pending[:taken]
        self._pending_events -= events
        return batch

    # -- paho callbacks (from `serve`) --------------------------------------------------------

    def _on_connect(  # noqa: PLR0917 - paho calls it positionally
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("broker %s refused the bridge: %s", self.broker, reason)
            return
        client.subscribe([(shared_filter(self.group, self.topic_root), 1), (self._notes, 1)])
        resumed = "resumed" if flags.session_present else "new"
        log.info("bridge connected to %s as %s (%s session)", self.broker, self.client_id, resumed)

    def _on_subscribe(  # noqa: PLR0917 - paho calls it positionally
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any
    ) -> None:
        if any(reason.is_failure for reason in reasons):
            log.error("broker %s refused the subscription: %s", self.broker, reasons)
            return
        log.info("bridge subscribed to %s", shared_filter(self.group, self.topic_root))
        self.ready.set()

    def _on_disconnect(  # noqa: PLR0917 - paho calls it positionally
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.ready.clear()
        if not self._stopping:
            log.warning("bridge lost the broker %s: %s", self.broker, reason)

    def _on_message(self, payload: bytes, *, topic: bytes, mid: int, qos: int) -> None:
        events = payload.count(b"\n") + 1
        self._pending.append(_Message(mid, qos, topic.decode("utf-8", "replace"), payload, events))
        self._pending_events += events

    # -- storing ------------------------------------------------------------------------------

    def _check(self, batch: list[_Message]) -> _Job | None:
        """A batch's events as points, duplicates dropped and numbers counted, with what to
        save and acknowledge once they are stored; None for no messages."""
        if not batch:
            return None
        lines = []
        stored: dict[str, list[int]] = collections.defaultdict(list)
        for message in batch:
            if message.topic == self._notes:
                self._take_note(message.payload)
                continue
            for event in decode_batch(message.topic, message.payload, root=self.topic_root):
                self.stats.received += 1
                if isinstance(event, tuple):
                    line, problem = event
                    self._set_malformed(message.topic, payload=line, exc=problem)
                    continue
                if event.publisher and event.seq:
                    if not self.sequences.check(event.publisher, event.seq):
                        self.stats.duplicates += 1
                        continue
                    stored[event.publisher].append(event.seq)
                lines.append(event_to_line(event))
        return _Job(
            lines=lines,
            state=self.sequences.snapshot(),
            note=encode_note(self.client_id, stored) if stored else None,
            acks=[message.mid for message in batch if message.qos == 1],
        )

    def _health_job(self) -> _Job:
        """The `sequence` points of the publishers that moved, and the bridge's own point."""
        lines = self._sequence_lines()
        return _Job(lines=lines, state=self.sequences.snapshot(), health=True)

    def _set_malformed(self, topic: str, *, payload: bytes, exc: MalformedEvent) -> None:
        self.stats.malformed += 1
        log.warning("malformed message on %s set aside: %s", topic, exc.message)
        text = payload.decode("utf-8", "replace")
        self._set_aside(topic=topic, reason=exc.message, payload=text)

    def _take_note(self, payload: bytes) -> None:
        """Another bridge of the group stored these numbers: they are not missing."""
        try:
            bridge, seen = decode_note(payload)
        except ValueError as exc:
            log.warning("ignored a note on %s: %s", self._notes, exc)
            return
        if bridge != self.client_id:
            for publisher, numbers in seen.items():
                self.sequences.see(publisher, numbers)

    def _store(self, lines: list[str]) -> None:
        """Write the lines to InfluxDB, or to the spool when it cannot take them now."""
        if not lines:
            return
        if self.spool.unread or time.monotonic() < self._retry_at:
            self._spool(lines)
            return
        try:
            self._write(lines)
        except InfluxUnavailable as exc:
            self._failed(exc)
            self._spool(lines)

    def _spool(self, lines: list[str]) -> None:
        self.spool.append(lines)
        self.stats.spooled += len(lines)

    def _drain_spool(self) -> None:
        """Send spooled points again, a batch at a time, once the backoff has passed."""
        while self.spool.unread and time.monotonic() >= self._retry_at:
            taken = list(itertools.islice(iter(self.spool.take, None), self.batch_size))
            if not taken:
                return
            try:
                self._write([line for _, line in taken])
            except InfluxUnavailable as exc:
                self._failed(exc)
                self.spool.rewind()
                return
            for segment, _ in taken:
                self.spool.done(segment)
            log.info("sent %d spooled point(s); %d left", len(taken), self.spool.pending)

    def _write(self, lines: list[str]) -> None:
        """Write to InfluxDB; a refused batch is halved until the refused point stands alone."""
        try:
            self.influx.write(lines)
        except InfluxRejected as exc:
            if len(lines) == 1:
                self.stats.rejected += 1
                log.error("InfluxDB refused a point, set aside: %s", exc.message)
                self._set_aside(topic=None, reason=exc.message, payload=lines[0])
                return
            half = len(lines) // 2
            self._write(lines[:half])
            self._write(lines[half:])
            return
        self._written(lines)

    def _written(self, lines: list[str]) -> None:
        log.debug("wrote %d point(s)", len(lines))
        now = time.time_ns()
        events = [line for line in lines if line.startswith(MEASUREMENT + ",")]
        self.stats.written += len(events)
        if events:
            oldest = min(int(line.rsplit(" ", 1)[1]) for line in events)
            self._lag_ms = max(self._lag_ms, (now - oldest) / 1e6)
        self._retry_delay = 0.0
        self._retry_at = 0.0

    def _failed(self, exc: InfluxUnavailable) -> None:
        self.stats.write_errors += 1
        self._retry_delay = min(self._retry_max, max(self._retry_min, self._retry_delay * 2))
        self._retry_at = time.monotonic() + self._retry_delay
        log.warning(
            "InfluxDB write failed (%s); retrying in %.1f s", exc.message, self._retry_delay
        )
        if "database not found" in exc.message:
            self.influx.create_database()

    def _set_aside(self, *, topic: str | None, reason: str, payload: str) -> None:
        record = {
            "at": dt.datetime.now(dt.UTC).isoformat(),
            "topic": topic,
            "reason": reason,
            "payload": payload,
        }
        with self._dead_letter_lock, self.dead_letter.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _sequence_lines(self) -> list[str]:
        """One `sequence` point per publisher that moved (or still misses numbers); logs it."""
        now = time.time_ns()
        bridge = _tag(self.client_id)
        lines = []
        for publisher, stream in self.sequences.report().items():
            self._log_stream(publisher, stream)
            fields = {
                "received": stream.received,
                "duplicates": stream.duplicates,
                "gaps": stream.gaps,
                "late": stream.late,
                "missing": stream.missing_count,
                "lost": stream.lost_count,
                "high": stream.high,
            }
            values = ",".join(f"{key}={value}i" for key, value in fields.items())
            tags = f"bridge={bridge},publisher={_tag(publisher)}"
            lines.append(f"{SEQUENCE_MEASUREMENT},{tags} {values} {now}")
        self.stats.missing = sum(s.missing_count for s in self.sequences.streams.values())
        return lines

    def _log_stream(self, publisher: str, stream: Stream) -> None:
        gaps, duplicates, late, lost = self._reported.get(publisher, (0, 0, 0, 0))
        now = (stream.gaps, stream.duplicates, stream.late, stream.lost_count)
        self._reported[publisher] = now
        if (stream.gaps, stream.duplicates) != (gaps, duplicates):
            log.warning(
                "publisher %s: %d event(s) missing%s; since start %d went missing, "
                "%d came late, %d duplicate(s) dropped",
                publisher,
                stream.missing_count,
                f" (numbers {stream.describe_missing()})" if stream.missing_count else "",
                stream.gaps,
                stream.late,
                stream.duplicates,
            )
        elif stream.late != late:
            log.info(
                "publisher %s: %d missing event(s) came late; %d still missing",
                publisher,
                stream.late - late,
                stream.missing_count,
            )
        if now[3] > lost:
            log.warning(
                "publisher %s: %d event(s) missing for over %d s given up as lost (%d in all)",
                publisher,
                now[3] - lost,
                GIVE_UP_SECONDS,
                now[3],
            )

    def _health_line(self) -> str:
        """The bridge's own point: counters, spool size and the largest lag since the last."""
        self.stats.lag_ms, self._lag_ms = self._lag_ms, 0.0
        fields = asdict(self.stats) | {"spool": self.spool.pending}
        values = ",".join(f"{key}={float(value)!r}" for key, value in sorted(fields.items()))
        return f"{HEALTH_MEASUREMENT},bridge={_tag(self.client_id)} {values} {time.time_ns()}"


def _tag(value: str) -> str:
    """A tag value safe in line protocol."""
    return value.replace(" ", "_").replace(",", "_").replace("=", "_")
