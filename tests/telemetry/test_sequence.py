"""Sequence numbers alone: a publisher's counter across restarts, a bridge's view of a stream."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from telemetry._sequence import (
    GIVE_UP_SECONDS,
    PublisherNumbers,
    SequenceTracker,
    Stream,
    decode_note,
    encode_note,
)


class TestStream:
    def test_in_order_numbers_are_all_new(self) -> None:
        stream = Stream()
        assert all(stream.check(n) for n in range(1, 101))
        stream.settle()
        assert (stream.received, stream.high, stream.missing_count) == (100, 100, 0)
        assert (stream.gaps, stream.duplicates, stream.late) == (0, 0, 0)

    def test_a_hole_counts_as_missing_once_it_lasted_a_report(self) -> None:
        stream = Stream()
        for n in (1, 2, 3, 10):
            assert stream.check(n)
        assert [hole[:2] for hole in stream.missing] == [[4, 10]]
        stream.settle()  # the report that saw the hole open: it may still fill
        assert (stream.missing_count, stream.gaps) == (0, 0)
        stream.check(11)
        stream.settle()  # a whole interval later: missing
        assert (stream.missing_count, stream.gaps) == (6, 6)
        for n in (4, 9, 6):  # the start, the end, the middle of the hole
            assert stream.check(n)
        assert [hole[:2] for hole in stream.missing] == [[5, 6], [7, 9]]
        assert stream.missing_count == 3
        assert stream.describe_missing() == "5, 7-8"
        for n in (5, 7, 8):
            assert stream.check(n)
        assert stream.missing == [] and (stream.gaps, stream.late) == (6, 6)
        assert stream.received == 11

    def test_a_hole_filled_before_the_next_report_is_not_counted(self) -> None:
        stream = Stream()
        for n in (1, 3, 2, 5, 4):  # out of order, as a second bridge's share would be
            stream.check(n)
        stream.settle()
        stream.settle()
        assert (stream.gaps, stream.late, stream.missing_count) == (0, 0, 0)

    def test_a_number_seen_before_is_a_duplicate(self) -> None:
        stream = Stream()
        for n in (1, 2, 5):
            stream.check(n)
        assert not stream.check(2)  # below the hole
        assert not stream.check(5)  # the highest
        assert stream.check(3)  # in the hole: not a duplicate
        assert not stream.check(3)
        assert (stream.duplicates, stream.received) == (3, 4)
        assert [hole[:2] for hole in stream.missing] == [[4, 5]]

    def test_numbers_another_bridge_saw_fill_holes_and_make_duplicates(self) -> None:
        stream = Stream()
        for n in (1, 3, 5):
            stream.check(n)
        for n in (2, 4, 6):  # the other bridge's share
            assert stream.see(n)
        assert stream.missing == [] and stream.received == 3
        assert not stream.check(6)  # delivered again, here: a duplicate
        assert stream.duplicates == 1

    def test_a_hole_open_too_long_is_given_up_as_lost_and_a_late_number_still_kept(
        self,
    ) -> None:
        stream = Stream()
        for n in (1, 2, 6):
            stream.check(n)
        stream.settle()
        stream.settle()
        assert (stream.missing_count, stream.lost_count) == (3, 0) and stream.open_holes
        stream.settle(now=time.time() + GIVE_UP_SECONDS + 1)
        assert (stream.missing_count, stream.lost_count, stream.gaps) == (0, 3, 3)
        assert not stream.open_holes  # no longer reported: the alert resolves
        assert stream.check(4)  # late, but still an event to store, not a duplicate
        assert (stream.lost_count, stream.late, stream.duplicates) == (2, 1, 0)

    def test_numbers_below_the_first_seen_are_kept_and_not_judged(self) -> None:
        stream = Stream()
        assert stream.check(500)  # a bridge that joins a stream under way
        assert stream.check(499) and stream.check(2)
        assert (stream.received, stream.duplicates, stream.gaps) == (3, 0, 0)


class TestTracker:
    def test_streams_are_per_publisher_and_survive_a_restart(self, tmp_path: Path) -> None:
        path = tmp_path / "sequences.json"
        tracker = SequenceTracker(path)
        for n in (1, 2, 4):
            tracker.check("a", n)
        tracker.check("b", 1)
        assert set(tracker.report()) == {"a", "b"}
        assert set(tracker.report()) == {"a"}  # still missing 3: reported every time
        assert tracker.streams["a"].missing_count == 1
        tracker.save()

        again = SequenceTracker(path)
        assert again.streams == tracker.streams
        assert not again.check("a", 2)  # remembered: a duplicate
        assert again.check("a", 3)  # the hole, filled after the restart: late
        assert again.streams["a"].missing == [] and again.streams["a"].late == 1

    def test_an_unreadable_state_starts_afresh(self, tmp_path: Path) -> None:
        path = tmp_path / "sequences.json"
        path.write_text("{not json")
        assert SequenceTracker(path).streams == {}


class TestNotes:
    def test_numbers_round_trip(self) -> None:
        seen = {"a": [5, 7, 8, 300], "b": [1], "c": [10, 10_000_000]}  # c: too far for bits
        bridge, back = decode_note(encode_note("bridge-1", seen))
        assert bridge == "bridge-1" and back == seen
        assert b'"numbers"' in encode_note("x", {"c": seen["c"]})

    @pytest.mark.parametrize(
        "payload", [b"not json", b"{}", b'{"bridge":"x","seen":{"a":{"from":1,"bits":"!"}}}']
    )
    def test_what_is_not_a_note_is_refused(self, payload: bytes) -> None:
        with pytest.raises(ValueError, match="not a note"):
            decode_note(payload)


class TestPublisherNumbers:
    def test_numbers_continue_after_a_clean_stop(self, tmp_path: Path) -> None:
        numbers = PublisherNumbers(tmp_path)
        assert [numbers.take() for _ in range(3)] == [1, 2, 3]
        publisher = numbers.publisher
        numbers.close()
        again = PublisherNumbers(tmp_path)
        assert (again.publisher, again.take()) == (publisher, 4)
        again.close()

    def test_numbers_continue_after_a_kill(self, tmp_path: Path) -> None:
        killed = PublisherNumbers(tmp_path)  # never closed: the process died
        for _ in range(5):
            killed.take()
        again = PublisherNumbers(tmp_path)
        assert (again.publisher, again.take()) == (killed.publisher, 6)
        again.close()
        killed._map.close()  # what the dead process held
        killed._file.close()

    def test_an_unclean_stop_before_a_reboot_starts_a_new_publisher(self, tmp_path: Path) -> None:
        numbers = PublisherNumbers(tmp_path)
        numbers.take()
        state = json.loads((tmp_path / "publisher.json").read_text())
        (tmp_path / "publisher.json").write_text(json.dumps(state | {"boot": "another boot"}))
        again = PublisherNumbers(tmp_path)  # the counter may have lost its last writes
        assert again.publisher != numbers.publisher and again.take() == 1
        again.close()
        numbers._map.close()
        numbers._file.close()

    def test_separate_directories_are_separate_publishers(self, tmp_path: Path) -> None:
        a, b = PublisherNumbers(tmp_path / "a"), PublisherNumbers(tmp_path / "b")
        assert a.publisher != b.publisher
        a.close()
        b.close()
