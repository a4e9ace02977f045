"""One look at the alert board per process, however many pages hold a stream open.

A single task checks the board's version every `interval` seconds and wakes every waiting stream
when it changes; a stream otherwise sleeps until then or until its heartbeat is due.
"""

from __future__ import annotations

import asyncio
import contextlib

from willay.alerts import AlertBoard

__all__ = ["AlertWatch"]


class AlertWatch:
    """Wakes the alert streams of this process when the board changes."""

    def __init__(self, board: AlertBoard, *, interval: float = 0.05) -> None:
        self._board = board
        self._interval = interval
        self._changed: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        seen = self._board.version
        while True:
            await asyncio.sleep(self._interval)
            if self._board.version != seen:
                seen = self._board.version
                assert self._changed is not None
                self._changed.set()
                self._changed = asyncio.Event()  # the next change wakes the next waiters

    @property
    def version(self) -> int:
        """The board's version now."""
        return self._board.version

    async def wait(self, seen: int, timeout: float) -> bool:
        """True once the board is past version `seen` (at once if it already is), False when
        `timeout` seconds pass without a change."""
        if self._board.version != seen:
            return True
        if self._task is None or self._task.done():
            self._changed = asyncio.Event()
            self._task = asyncio.create_task(self._watch(), name="willay-alert-watch")
        assert self._changed is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)
            return True
        return False
