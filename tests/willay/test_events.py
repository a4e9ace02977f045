"""Event ids: random UUID4s, unique, and not shared by a forked worker and its parent."""

from __future__ import annotations

import os
import uuid

from willay.events import Event, EventKind, new_event_id


def test_event_ids_are_unique_uuid4s() -> None:
    ids = {new_event_id() for _ in range(50_000)}
    assert len(ids) == 50_000
    for one in list(ids)[:1000]:
        parsed = uuid.UUID(one)
        assert parsed.hex == one and parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
    event = Event(channel="ussd", kind=EventKind.hop, subscriber="anon-1")
    assert uuid.UUID(event.id).version == 4 and event.ts.tzinfo is not None


def test_a_forked_child_draws_other_ids() -> None:
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.write(write, "".join(new_event_id() for _ in range(4)).encode())
        os._exit(0)
    os.close(write)
    theirs = os.read(read, 4096).decode()
    os.close(read)
    os.waitpid(child, 0)
    ours = "".join(new_event_id() for _ in range(4))
    assert len(theirs) == len(ours) == 128 and theirs != ours
