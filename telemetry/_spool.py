"""A first-in first-out queue of text lines on disk that survives a restart or a crash.

Lines live in numbered segment files (`<number>.seg`, oldest first). `take()` hands out the
oldest line not yet handed out; a segment file is deleted only once every line taken from it
has been confirmed with `done()`, so a line handed out but never confirmed (a message in flight
when the process dies) is read again on the next start. `prepend()` puts lines before every
other, for what was in memory when a process stops; `rewind()` hands out again what was taken
and not confirmed, for a batch that could not be delivered. One process at a time owns a directory
(an exclusive `flock` on its `.lock` file).

Appended lines reach the file at once (`flush`), or, `buffered`, when 8 KiB have gathered, the
segment is read or the spool closes: a killed process then loses at most those last lines, as it
loses what it held in memory (the publisher's numbers show them missing).
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from willay.errors import ConfigurationError

__all__ = ["Spool"]

log = logging.getLogger(__name__)

SUFFIX = ".seg"
FIRST_SEGMENT = 10**12


class Spool:
    """Lines on disk in order; not thread-safe (its owner holds a lock around every call)."""

    def __init__(
        self,
        directory: Path,
        *,
        segment_lines: int = 1000,
        sync: bool = False,
        buffered: bool = False,
    ) -> None:
        self.directory = directory
        self._segment_lines = segment_lines
        self._sync = sync
        self._buffered = buffered and not sync
        directory.mkdir(parents=True, exist_ok=True)
        self._lock_file = (directory / ".lock").open("a")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._lock_file.close()
            raise ConfigurationError(f"spool {directory} is in use by another process") from exc
        self._segments: list[int] = sorted(
            int(p.stem) for p in directory.glob(f"*{SUFFIX}") if p.stem.isdigit()
        )
        self._writer: IO[str] | None = None
        self._writing: int | None = None
        self._written = 0
        self._reader: IO[str] | None = None
        self._reading: int | None = None
        self._taken: dict[int, int] = {}
        self._exhausted: set[int] = set()
        self.unread = sum(self._count(s) for s in self._segments)
        self.pending = self.unread
        if self.pending:
            log.info("spool %s holds %d line(s) from before", directory, self.pending)

    def _path(self, segment: int) -> Path:
        return self.directory / f"{segment:020d}{SUFFIX}"

    def _count(self, segment: int) -> int:
        with self._path(segment).open("rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))

    def _write(self, segment: int, *, lines: list[str], mode: str) -> None:
        with self._path(segment).open(mode, encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))
            f.flush()
            if self._sync:
                os.fsync(f.fileno())

    def append(self, lines: Iterable[str]) -> None:
        """Add lines after every other."""
        batch = list(lines)
        while batch:
            if self._writer is None or self._written >= self._segment_lines:
                self._seal()
                self._writing = (self._segments[-1] + 1) if self._segments else FIRST_SEGMENT
                self._segments.append(self._writing)
                self._writer = self._path(self._writing).open("a", encoding="utf-8")
                self._written = 0
            room = self._segment_lines - self._written
            part, batch = (batch, []) if len(batch) <= room else (batch[:room], batch[room:])
            self._writer.write("\n".join(part) + "\n")
            if not self._buffered:
                self._writer.flush()
            if self._sync:
                os.fsync(self._writer.fileno())
            self._written += len(part)
            self.unread += len(part)
            self.pending += len(part)

    def prepend(self, lines: Iterable[str]) -> None:
        """Put lines before every other (they are older than anything spooled)."""
        batch = list(lines)
        if not batch:
            return
        segment = (self._segments[0] - 1) if self._segments else FIRST_SEGMENT
        self._write(segment, lines=batch, mode="w")
        self._segments.insert(0, segment)
        self.unread += len(batch)
        self.pending += len(batch)

    def _seal(self) -> None:
        """Stop writing the current segment, so it can be read to its end."""
        if self._writer is not None:
            self._writer.close()
            self._writer = self._writing = None

    def take(self) -> tuple[int, str] | None:
        """The oldest line not yet handed out, with its segment number; None when none is left."""
        while True:
            if self._reader is None:
                waiting = [s for s in self._segments if s not in self._exhausted]
                if not waiting:
                    return None
                self._reading = waiting[0]
                if self._reading == self._writing:
                    self._seal()
                self._reader = self._path(self._reading).open(encoding="utf-8", errors="replace")
            assert self._reading is not None
            line = self._reader.readline()
            if line.endswith("\n"):
                self._taken[self._reading] = self._taken.get(self._reading, 0) + 1
                self.unread -= 1
                return self._reading, line[:-1]
            if line:
                log.warning("spool %s: skipping a partly written last line", self.directory)
            self._reader.close()
            self._reader, finished = None, self._reading
            self._exhausted.add(finished)
            self._forget_if_done(finished)

    def done(self, segment: int, lines: int = 1) -> None:
        """Lines taken from `segment` are safely elsewhere now."""
        self._taken[segment] -= lines
        self.pending -= lines
        self._forget_if_done(segment)

    def _forget_if_done(self, segment: int) -> None:
        if segment in self._exhausted and not self._taken.get(segment):
            self._path(segment).unlink(missing_ok=True)
            self._segments.remove(segment)
            self._exhausted.discard(segment)
            self._taken.pop(segment, None)

    def rewind(self) -> None:
        """Hand out again every line not confirmed yet, from the oldest segment on."""
        if self._writer is not None:
            self._writer.flush()
        if self._reader is not None:
            self._reader.close()
            self._reader = self._reading = None
        self._taken.clear()
        self._exhausted.clear()
        self.unread = self.pending = sum(self._count(s) for s in self._segments)

    def close(self) -> None:
        """Close the files and release the directory; what is left is read on the next start."""
        self._seal()
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._lock_file.close()
