"""Events: random UUID4 ids (not shared by a forked worker), known events, the file sink."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from willay.events import Event, EventKind, FileEventSink, new_event_id


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


def test_a_batch_writes_the_lines_one_by_one_would(tmp_path: Path) -> None:
    events = [
        Event(channel="ussd", kind=kind, subscriber="anon-1", session="s1", data={"n": n})
        for n, kind in enumerate([EventKind.session_start, EventKind.hop, EventKind.tip_served])
    ]
    one_by_one = FileEventSink(tmp_path / "one.jsonl")
    for event in events:
        one_by_one.publish(event)
    one_by_one.close()
    batched = FileEventSink(tmp_path / "batch.jsonl")
    batched.publish_all(events)
    batched.publish_all([])
    batched.close()
    written = (tmp_path / "batch.jsonl").read_bytes()
    assert written == (tmp_path / "one.jsonl").read_bytes()
    assert [Event.model_validate_json(line) for line in written.splitlines()] == events


@pytest.mark.parametrize("kind", list(EventKind))
def test_a_known_event_is_the_event_it_validates_into(kind: EventKind) -> None:
    data = {"screen": "tip", "score": 0.25, "pages": 2, "error": None, "ids": ["a", "b"]}
    known = Event.known(
        channel="ussd", kind=kind, subscriber="anon-1", session="s1", lang=None, data=data
    )
    fields = {name: getattr(known, name) for name in Event.model_fields}
    validated = Event.model_validate(fields)
    assert validated == known and type(validated.kind) is type(known.kind)
    assert known.to_json() == validated.model_dump_json(exclude_none=True)
    assert Event.model_validate_json(known.to_json()) == known


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(
    kind=st.sampled_from(EventKind),
    text=st.text(),
    session=st.none() | st.text(),
    lang=st.none() | st.sampled_from(["es", "quy", 'qu"z']),
    data=st.dictionaries(st.text(), JSON_VALUES, max_size=4),
)
def test_an_events_json_is_the_models_without_empty_fields(
    kind: EventKind, text: str, session: str | None, lang: str | None, data: dict[str, object]
) -> None:
    known = Event.known(
        channel=text, kind=kind, subscriber=text, session=session, lang=lang, data=data
    )
    assert known.to_json() == known.model_dump_json(exclude_none=True)


def _three() -> list[Event]:
    return [
        Event(channel="ussd", kind=EventKind.hop, subscriber="anon-1", session="s1", data={"n": n})
        for n in range(3)
    ]


def test_on_a_loop_one_turns_events_reach_the_file_together_at_the_next_turn(
    tmp_path: Path,
) -> None:
    path, events = tmp_path / "events.jsonl", _three()

    async def scenario() -> None:
        sink = FileEventSink(path)
        sink.publish(events[0])
        sink.publish_all(events[1:])
        assert path.read_bytes() == b""  # gathered in the process during this turn
        await asyncio.sleep(0)
        lines = path.read_bytes().splitlines()
        assert [Event.model_validate_json(line) for line in lines] == events
        sink.close()

    asyncio.run(scenario())


def test_off_a_loop_each_publish_is_on_disk_at_once(tmp_path: Path) -> None:
    path, events = tmp_path / "events.jsonl", _three()
    sink = FileEventSink(path)
    sink.publish_all(events[:2])
    assert len(path.read_bytes().splitlines()) == 2
    sink.publish(events[2])
    assert [Event.model_validate_json(line) for line in path.read_bytes().splitlines()] == events
    sink.close()


def test_closing_in_the_turn_writes_what_is_pending_without_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, events = tmp_path / "events.jsonl", _three()

    async def scenario() -> None:
        sink = FileEventSink(path)
        sink.publish_all(events)
        sink.close()
        await asyncio.sleep(0)  # the flush due finds the file closed

    asyncio.run(scenario())
    assert len(path.read_bytes().splitlines()) == 3
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_off_a_loop_a_publish_is_on_disk_though_a_stopped_loop_owes_a_flush(
    tmp_path: Path,
) -> None:
    path, events = tmp_path / "events.jsonl", _three()
    sink = FileEventSink(path)
    loop = asyncio.new_event_loop()

    def publish_and_stop() -> None:
        sink.publish(events[0])
        loop.stop()  # before the turn that would flush

    loop.call_soon(publish_and_stop)
    loop.run_forever()
    loop.close()
    sink.publish(events[1])  # from this thread, off any loop
    assert len(path.read_bytes().splitlines()) == 2
    sink.close()
