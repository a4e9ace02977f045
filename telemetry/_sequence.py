"""Sequence numbers: each publisher numbers its events, each bridge checks the numbers.

A publisher (`PublisherNumbers`) has an id and a counter kept in its spool directory: the
counter is a memory-mapped file, so a restart, even after a kill, continues where the last run
stopped, and events lost in between show as a gap. After a machine crash the page cache (and
with it the counter) may have been lost; a run that did not stop cleanly on an earlier boot
takes a new id instead of reusing numbers.

The bridge (`SequenceTracker`) keeps, per publisher, the highest number seen and the numbers
below it not seen yet. A number seen before is a duplicate (dropped); a jump opens a gap, which
a late arrival fills. Numbers below the first one a tracker saw of a publisher are stored and
not judged (another bridge, or a bridge before it, saw them).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import logging
import mmap
import os
import re
import socket
import struct
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "GIVE_UP_SECONDS",
    "PublisherNumbers",
    "SequenceTracker",
    "Stream",
    "decode_note",
    "encode_note",
]

log = logging.getLogger(__name__)

COUNTER = struct.Struct("<Q")
GIVE_UP_SECONDS = 3600  # a hole open this long counts as lost, no longer as missing
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _boot_id() -> str:
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return ""


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_json(path: Path, record: dict[str, Any]) -> None:
    _write_text(path, json.dumps(record))


class PublisherNumbers:
    """A publisher's id and its next sequence number, kept in `directory` (its spool's)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._state = directory / "publisher.json"
        boot = _boot_id()
        try:
            state = json.loads(self._state.read_text())
        except (OSError, ValueError):
            state = {}
        counter = directory / "sequence"
        publisher = state.get("publisher")
        if publisher and not state.get("clean") and state.get("boot") != boot:
            log.warning(
                "publisher %s did not stop cleanly before a reboot: numbering as a new publisher",
                publisher,
            )
            publisher = None
        if not publisher:
            host = _UNSAFE.sub("-", socket.gethostname())[:40]
            publisher = f"{host}-{uuid.uuid4().hex[:8]}"
            counter.unlink(missing_ok=True)
        self.publisher: str = publisher
        with counter.open("ab") as f:
            if f.tell() < COUNTER.size:
                f.write(b"\0" * (COUNTER.size - f.tell()))
        self._file = counter.open("r+b")
        self._map = mmap.mmap(self._file.fileno(), COUNTER.size)
        self._next: int = max(1, int(COUNTER.unpack_from(self._map)[0]))
        _write_json(self._state, {"publisher": publisher, "boot": boot, "clean": False})

    @property
    def next_number(self) -> int:
        """The number the next event will get."""
        return self._next

    def take(self) -> int:
        """The next number; the counter in the file moves past it before it is used."""
        number = self._next
        self._next = number + 1
        COUNTER.pack_into(self._map, 0, self._next)
        return number

    def close(self) -> None:
        """Write the counter to disk and mark a clean stop."""
        self._map.flush()
        os.fsync(self._file.fileno())
        self._map.close()
        self._file.close()
        state = {"publisher": self.publisher, "boot": _boot_id(), "clean": True}
        _write_json(self._state, state)


@dataclass
class Stream:
    """What the bridges saw of one publisher's numbers, as one bridge knows it.

    A hole below `high` is normal for a moment (numbers out of order, or received by another
    bridge of the group whose note has not come yet); it counts as missing once it has lasted
    a whole report interval (`settle`): it is then in `gaps`, and in `late` if it comes after all.
    A hole still open `GIVE_UP_SECONDS` after it opened counts as lost instead of missing (the
    alert on missing events resolves), but a late number in it is still recognised and stored.
    """

    low: int = 0  # the first number seen: below it, nothing is judged
    high: int = 0  # the highest number seen
    received: int = 0  # distinct numbers this bridge received
    duplicates: int = 0  # numbers received again (dropped)
    gaps: int = 0  # numbers that went missing (a hole that lasted a report interval)
    late: int = 0  # of those, how many arrived afterwards
    settled: int = 0  # holes up to this number count (as missing, or lost)
    reported_high: int = 0  # `high` at the last report: the next `settled`
    given_up: float = 0.0  # holes opened before this time (epoch seconds) count as lost
    missing: list[list[int]] = field(default_factory=list)  # holes: [start, end, opened at]

    def _holes(self, *, lost: bool) -> int:
        count = 0
        for start, end, opened in self.missing:
            if start > self.settled:
                break
            if (opened < self.given_up) == lost:
                count += min(end, self.settled + 1) - start
        return count

    @property
    def missing_count(self) -> int:
        """Numbers missing now: in holes up to `settled`, not given up."""
        return self._holes(lost=False)

    @property
    def lost_count(self) -> int:
        """Numbers given up on: in holes open longer than `GIVE_UP_SECONDS`."""
        return self._holes(lost=True)

    @property
    def open_holes(self) -> bool:
        """True while a hole is not yet given up (the newest hole is the last one)."""
        return bool(self.missing) and self.missing[-1][2] >= self.given_up

    def check(self, number: int) -> bool:
        """Record a number this bridge received; False when it was seen before (a duplicate)."""
        if self.see(number):
            self.received += 1
            return True
        self.duplicates += 1
        return False

    def see(self, number: int) -> bool:
        """Record a number (received here or by another bridge); False if seen before."""
        high = self.high
        if number == high + 1 or not high:
            self.high = number
            self.low = self.low or number
            return True
        if number > high:
            self.missing.append([high + 1, number, int(time.time())])
            self.high = number
            return True
        if number < self.low:
            return True
        i = bisect.bisect_right(self.missing, number, key=lambda r: r[0]) - 1
        if i < 0 or number >= self.missing[i][1]:
            return False
        start, end, opened = self.missing[i]
        if end - start == 1:
            del self.missing[i]
        elif number == start:
            self.missing[i][0] = number + 1
        elif number == end - 1:
            self.missing[i][1] = number
        else:
            self.missing[i : i + 1] = [[start, number, opened], [number + 1, end, opened]]
        if number <= self.settled:
            self.late += 1
        return True

    def settle(self, now: float | None = None) -> None:
        """A report: holes below the `high` of the last report now count as missing."""
        before = self.missing_count + self.lost_count
        self.settled, self.reported_high = max(self.settled, self.reported_high), self.high
        self.given_up = (time.time() if now is None else now) - GIVE_UP_SECONDS
        self.gaps += self.missing_count + self.lost_count - before

    def describe_missing(self, limit: int = 5) -> str:
        """The missing numbers as ranges, the first `limit` of them."""
        holes = [
            (s, min(e, self.settled + 1))
            for s, e, opened in self.missing
            if s <= self.settled and opened >= self.given_up
        ]
        parts = [f"{s}" if e == s + 1 else f"{s}-{e - 1}" for s, e in holes[:limit]]
        if len(holes) > limit:
            parts.append(f"... ({len(holes) - limit} more ranges)")
        return ", ".join(parts)


class SequenceTracker:
    """Every publisher's stream as one bridge sees it; saved to and loaded from a file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.streams: dict[str, Stream] = {}
        self._changed: set[str] = set()  # since the last report
        self._dirty = False  # since the last save
        if path is not None and path.exists():
            try:
                saved = json.loads(path.read_text())
                self.streams = {p: Stream(**s) for p, s in saved.items()}
            except (OSError, ValueError, TypeError) as exc:
                log.warning("sequence state %s unreadable (%s): starting afresh", path, exc)

    def _stream(self, publisher: str, first: int) -> Stream:
        stream = self.streams.get(publisher)
        if stream is None:
            stream = self.streams[publisher] = Stream()
            log.info("new publisher %s, from number %d", publisher, first)
        self._changed.add(publisher)
        self._dirty = True
        return stream

    def check(self, publisher: str, number: int) -> bool:
        """Record the number of an event this bridge received; False for a duplicate."""
        return self._stream(publisher, number).check(number)

    def see(self, publisher: str, numbers: list[int]) -> None:
        """Record numbers another bridge of the group stored."""
        if numbers:
            stream = self._stream(publisher, numbers[0])
            for number in numbers:
                stream.see(number)

    def snapshot(self) -> str | None:
        """The streams as JSON text, if they changed since the last one and there is a file."""
        if self.path is None or not self._dirty:
            return None
        self._dirty = False
        return json.dumps({p: asdict(s) for p, s in self.streams.items()})

    def write(self, state: str) -> None:
        """Write a snapshot to the file (only numbers already stored may be in it)."""
        assert self.path is not None
        _write_text(self.path, state)

    def save(self) -> None:
        """Write the streams to the file now (only numbers already stored may be in them)."""
        if (state := self.snapshot()) is not None:
            self.write(state)

    def report(self) -> dict[str, Stream]:
        """Settle and return the streams that moved since the last report or miss numbers."""
        names = self._changed | {p for p, s in self.streams.items() if s.open_holes}
        self._changed = set()
        for name in names:
            self.streams[name].settle()
        self._dirty = True
        return {p: self.streams[p] for p in sorted(names)}


def encode_note(bridge: str, seen: dict[str, list[int]]) -> bytes:
    """What a bridge tells the others of its group: the numbers it stored, per publisher.

    Numbers close together go as a bitmap from the first (`from`, `bits` in base64), others
    as a list (`numbers`).
    """
    body: dict[str, dict[str, Any]] = {}
    for publisher, numbers in seen.items():
        first, span = min(numbers), max(numbers) - min(numbers) + 1
        if span > 64 * len(numbers):
            body[publisher] = {"numbers": sorted(numbers)}
            continue
        bits = bytearray((span + 7) // 8)
        for number in numbers:
            offset = number - first
            bits[offset >> 3] |= 1 << (offset & 7)
        body[publisher] = {"from": first, "bits": base64.b64encode(bits).decode()}
    return json.dumps({"bridge": bridge, "seen": body}, separators=(",", ":")).encode()


def decode_note(payload: bytes) -> tuple[str, dict[str, list[int]]]:
    """The bridge a note comes from and the numbers it stored; ValueError if it is not a note."""
    try:
        record = json.loads(payload)
        seen: dict[str, list[int]] = {}
        for publisher, part in record["seen"].items():
            if "numbers" in part:
                seen[publisher] = [int(n) for n in part["numbers"]]
                continue
            first, bits = int(part["from"]), base64.b64decode(part["bits"], validate=True)
            seen[publisher] = [
                first + (i << 3) + j
                for i, byte in enumerate(bits)
                if byte
                for j in range(8)
                if byte >> j & 1
            ]
        return str(record["bridge"]), seen
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise ValueError(f"not a note of the bridges: {exc}") from exc
