"""Audio builds started from the studio: one item after a recording, or everything.

One build at a time writes the cache: an exclusive `flock` on `<WILLAY_STUDIO_DIR>/build.lock`
is held while a build runs (across the app's processes too). A full rebuild runs in a
background thread and writes its progress to `<WILLAY_STUDIO_DIR>/rebuild.json` after every
clip, so anyone can leave the page and come back, from any process; a second one is refused
while it runs. A one-item build after a recording waits for the lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Literal

from pydantic import BaseModel

from audio_cache import AudioFile, Utterance, load_manifest
from audio_cache.build import AudioBuild, ItemDone
from studio.errors import Conflict
from willay.config import Settings
from willay.errors import WillayError

__all__ = ["Builder", "RebuildStatus"]

LOCK_FILE = "build.lock"
STATUS_FILE = "rebuild.json"
SAVE_EVERY = 0.5  # seconds between progress writes

log = logging.getLogger(__name__)


class RebuildStatus(BaseModel):
    """Where the latest full rebuild stands."""

    state: Literal["idle", "running", "done", "failed", "stopped"] = "idle"
    started_by: str | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    total: int = 0
    done: int = 0
    rendered: int = 0
    bytes: int = 0
    current: str = ""
    failed: list[str] = []
    summary: str = ""


class Builder:
    """Runs the cache's builds for the studio, one at a time."""

    def __init__(self, settings: Settings, utterances: Callable[[], Sequence[Utterance]]) -> None:
        self._settings = settings
        self._utterances = utterances
        self._dir = settings.studio_dir
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def _locked(self, *, wait: bool) -> Iterator[None]:
        self._dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                raise Conflict("a full audio rebuild is running; follow it on the page") from None
            yield
        finally:
            os.close(fd)  # closing releases the lock

    # -- one item ---------------------------------------------------------------------------

    def build_one(self, utterance: Utterance) -> dict[str, AudioFile]:
        """Render one item (waiting for a running build); its files by format."""
        with self._locked(wait=True):
            build = AudioBuild(
                self._settings,
                self._utterances(),
                only=[utterance.id],
                languages=[utterance.lang],
            )
            report = build.run()
        if report.failed:
            raise WillayError(f"the audio build failed: {'; '.join(report.failed)}")
        manifest = load_manifest(self._settings.audio_dir)
        files = (
            manifest.get(utterance.kind, item_id=utterance.id, lang=utterance.lang)
            if manifest
            else None
        )
        if not files:
            raise WillayError(f"{utterance.label} is not in the audio manifest after its build")
        return files

    # -- everything -------------------------------------------------------------------------

    def status(self) -> RebuildStatus:
        """The latest rebuild's progress; `stopped` if its process died while it ran."""
        try:
            status = RebuildStatus.model_validate_json((self._dir / STATUS_FILE).read_bytes())
        except (FileNotFoundError, ValueError):
            return RebuildStatus()
        if status.state == "running" and not self._busy():
            status = status.model_copy(update={"state": "stopped"})
        return status

    def _busy(self) -> bool:
        try:
            with self._locked(wait=False):
                return False
        except Conflict:
            return True

    def _save(self, status: RebuildStatus) -> None:
        partial = self._dir / f".tmp-{uuid.uuid4().hex}.json"
        try:
            partial.write_text(status.model_dump_json(), encoding="utf-8")
            os.replace(partial, self._dir / STATUS_FILE)
        finally:
            partial.unlink(missing_ok=True)

    def start(self, started_by: str) -> RebuildStatus:
        """Start a full rebuild in the background; `Conflict` while one runs."""
        if self._thread is not None and self._thread.is_alive():
            raise Conflict("a full audio rebuild is running; follow it on the page")
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with self._locked(wait=False):
                    status = RebuildStatus(
                        state="running", started_by=started_by, started_at=dt.datetime.now(dt.UTC)
                    )
                    self._save(status)
                    started.set()
                    self._rebuild(status)
            except Conflict as exc:
                failure.append(exc)
                started.set()
            except Exception:
                log.exception("studio rebuild failed")
                started.set()

        self._stop.clear()
        self._thread = threading.Thread(target=run, name="studio-rebuild", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            raise failure[0]
        return self.status()

    def _rebuild(self, status: RebuildStatus) -> None:
        try:
            build = AudioBuild(self._settings, self._utterances())
            status.total = build.total
            self._save(status)
            saved = time.monotonic()

            def on_item(item: ItemDone) -> None:
                nonlocal saved
                status.done += 1
                status.current = item.label
                if item.rendered:
                    status.rendered += 1
                    status.bytes += item.bytes
                if item.error:
                    status.failed.append(f"{item.label}: {item.error}")
                if time.monotonic() - saved >= SAVE_EVERY:
                    self._save(status)
                    saved = time.monotonic()

            report = build.run(on_item=on_item, stop=self._stop)
            status.summary = report.summary()
            status.state = (
                "stopped" if report.interrupted else "failed" if report.failed else "done"
            )
        except WillayError as exc:
            status.state, status.summary = "failed", exc.message
        finally:
            if status.state == "running":
                status.state = "failed"
            status.finished_at = dt.datetime.now(dt.UTC)
            self._save(status)

    def close(self) -> None:
        """Stop a running rebuild at the next finished clip and wait for it (app shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
