"""Sequence numbers alone: a publisher's counter across restarts, a bridge's view of a stream."""

from __future__ import annotations

import json
from pathlib import Path

from telemetry._sequence import PublisherNumbers, SequenceTracker, Stream


class TestStream:
    def test_in_order_numbers_are_all_new(self) -> None:
        stream = Stream()
        assert all(stream.check(n) for n in range(1, 101))
        assert (stream.received, stream.high, stream.missing_count) == (100, 100, 0)
        assert (stream.gaps, stream.duplicates, stream.late) == (0, 0, 0)

    def test_a_jump_opens_a_gap_that_late_numbers_fill(self) -> None:
        stream = Stream()
        for n in (1, 2, 3, 10):
            assert stream.check(n)
        assert stream.missing == [[4, 10]] and stream.gaps == 6
        for n in (4, 9, 6):  # the start, the end, the middle of the gap
            assert stream.check(n)
        assert stream.missing == [[5, 6], [7, 9]] and stream.missing_count == 3
        assert stream.describe_missing() == "5, 7-8"
        for n in (5, 7, 8):
            assert stream.check(n)
        assert stream.missing == [] and (stream.gaps, stream.late) == (6, 6)
        assert stream.received == 10

    def test_a_number_seen_before_is_a_duplicate(self) -> None:
        stream = Stream()
        for n in (1, 2, 5):
            stream.check(n)
        assert not stream.check(2)  # below the gap
        assert not stream.check(5)  # the highest
        assert stream.check(3)  # in the gap: late, not a duplicate
        assert not stream.check(3)
        assert (stream.duplicates, stream.received, stream.missing_count) == (3, 4, 1)

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
        assert set(tracker.changed()) == {"a", "b"}
        assert set(tracker.changed()) == {"a"}  # still missing 3: reported every time
        tracker.save()

        again = SequenceTracker(path)
        assert again.streams == tracker.streams
        assert not again.check("a", 2)  # remembered: a duplicate
        assert again.check("a", 3)  # the gap, filled after the restart
        assert again.streams["a"].missing == []

    def test_an_unreadable_state_starts_afresh(self, tmp_path: Path) -> None:
        path = tmp_path / "sequences.json"
        path.write_text("{not json")
        assert SequenceTracker(path).streams == {}


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
