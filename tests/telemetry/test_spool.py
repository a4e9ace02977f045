"""The disk spool: order, confirmation, restarts, a torn last line, one owner at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from telemetry import Spool
from willay.errors import ConfigurationError


def drain(spool: Spool) -> list[str]:
    taken = list(iter(spool.take, None))
    for segment, _ in taken:
        spool.done(segment)
    return [line for _, line in taken]


def test_lines_come_out_in_order_across_segments(spool: Spool) -> None:
    spool.append(["a", "b"])
    spool.append(["c", "d", "e"])
    assert spool.pending == 5
    assert drain(spool) == ["a", "b", "c", "d", "e"]
    assert spool.pending == 0
    assert list(spool.directory.glob("*.seg")) == []


def test_prepend_goes_before_everything(spool: Spool) -> None:
    spool.append(["c"])
    spool.prepend(["a", "b"])
    assert drain(spool) == ["a", "b", "c"]


def test_unconfirmed_lines_survive_a_restart(tmp_path: Path) -> None:
    first = Spool(tmp_path / "s", segment_lines=2)
    first.append(["a", "b", "c"])
    taken = [first.take(), first.take(), first.take()]
    first.done(taken[0][0])  # only "a" is confirmed
    first.close()
    second = Spool(tmp_path / "s", segment_lines=2)
    assert second.pending == 3  # a segment goes only once all of it is confirmed
    assert drain(second) == ["a", "b", "c"]
    second.close()


def test_rewind_hands_out_again(spool: Spool) -> None:
    spool.append(["a", "b"])
    assert [spool.take()[1], spool.take()[1]] == ["a", "b"]
    spool.rewind()
    assert drain(spool) == ["a", "b"]


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    first = Spool(tmp_path / "s")
    first.append(["whole"])
    first.close()
    [segment] = (tmp_path / "s").glob("*.seg")
    with segment.open("a") as f:
        f.write("torn, no newline")
    second = Spool(tmp_path / "s")
    assert drain(second) == ["whole"]
    second.close()


def test_one_process_owns_a_spool(spool: Spool) -> None:
    with pytest.raises(ConfigurationError, match="in use"):
        Spool(spool.directory)
