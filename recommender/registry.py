"""Versioned model files in a folder: serve the pinned one, else the newest that loads.

Files are `willay-recommender-v<N>.tflite`, each with its card `willay-recommender-v<N>.json`.
A file `PINNED` in the folder (written by `willay model pin vN`, removed by `unpin`) names the
version every replica must serve, older or not; the folder is what all replicas share, so one
command rolls them all back. Without a pin the newest version that loads serves; deleting it
rolls back to the next. Models the release gate refused wait in `candidates/`, never served.

`start()` loads the chosen model; `reload()` (called by a background thread every
`poll_seconds`, or by hand) loads the one now chosen, if it is not the one serving, completely
and checks it before one reference assignment makes it current, so a request sees either the
old model or the new one, never a mix. A refused file is logged once with the reason and the
previous model keeps serving; it is tried again when its size or modification time changes (a
copy that was still being written, then finished).
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

from recommender.runtime import RecommenderModel, load_model
from willay.errors import ModelError

__all__ = [
    "CANDIDATES",
    "MODEL_NAME",
    "PIN_FILE",
    "ModelRegistry",
    "clear_pin",
    "model_file",
    "model_files",
    "parse_version",
    "read_pin",
    "write_pin",
]

MODEL_NAME = "willay-recommender"
PIN_FILE = "PINNED"
CANDIDATES = "candidates"
_PATTERN = re.compile(rf"^{MODEL_NAME}-v(\d+)\.tflite$")
_VERSION = re.compile(rf"^(?:{MODEL_NAME}-)?v?(\d+)$")

log = logging.getLogger(__name__)


def model_file(folder: Path, number: int) -> Path:
    """The path of version `number` of the model in `folder`."""
    return folder / f"{MODEL_NAME}-v{number}.tflite"


def model_files(folder: Path) -> list[tuple[int, Path]]:
    """Every versioned model file in `folder`, newest first."""
    if not folder.is_dir():
        return []
    found = [
        (int(match.group(1)), path)
        for path in folder.iterdir()
        if (match := _PATTERN.match(path.name)) is not None
    ]
    return sorted(found, reverse=True)


def parse_version(text: str) -> int:
    """The number in `v3`, `3` or `willay-recommender-v3`; `ValueError` otherwise."""
    match = _VERSION.match(text.strip())
    if match is None:
        raise ValueError(f"{text.strip()!r} is not a model version (v<N>)")
    return int(match.group(1))


def read_pin(folder: Path) -> int | None:
    """The pinned version number, or None; `ValueError` if the pin file says nothing valid."""
    try:
        text = (folder / PIN_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return parse_version(text)


def write_pin(folder: Path, number: int) -> None:
    """Pin version `number` for every replica watching `folder` (atomically)."""
    partial = folder / f".{PIN_FILE}.partial"
    partial.write_text(f"{MODEL_NAME}-v{number}\n", encoding="utf-8")
    partial.replace(folder / PIN_FILE)


def clear_pin(folder: Path) -> bool:
    """Remove the pin; True if there was one."""
    try:
        (folder / PIN_FILE).unlink()
    except FileNotFoundError:
        return False
    return True


class ModelRegistry:
    """Holds the model being served and replaces it when a newer file appears."""

    def __init__(self, folder: Path, *, poll_seconds: float = 10.0) -> None:
        self.folder = folder
        self.poll_seconds = poll_seconds
        self.last_error: str | None = None
        self._current: RecommenderModel | None = None
        self._number = -1
        self._refused: dict[Path, tuple[int, int]] = {}
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def current(self) -> RecommenderModel:
        """The model serving now; read it once per request."""
        model = self._current
        if model is None:
            raise ModelError(f"no recommender model loaded from {self.folder}")
        return model

    def start(self) -> RecommenderModel:
        """Load the newest model that loads and start watching; `ModelError` if none does."""
        self.reload()
        if self._current is None:
            reason = self.last_error or f"no {MODEL_NAME}-v<N>.tflite file in {self.folder}"
            raise ModelError(reason)
        if self.poll_seconds > 0 and self._thread is None:
            self._thread = threading.Thread(
                target=self._watch, name="willay-model-watch", daemon=True
            )
            self._thread.start()
        return self._current

    def _choices(self) -> list[tuple[int, Path]]:
        """The files that may serve, best first: the pinned one only, or all, newest first."""
        try:
            pinned = read_pin(self.folder)
        except (ValueError, OSError) as exc:
            if self.last_error != str(exc):
                self.last_error = str(exc)
                log.error(
                    "bad %s in %s (%s); still serving %s",
                    PIN_FILE,
                    self.folder,
                    exc,
                    self._describe(),
                )
            return []
        found = model_files(self.folder)
        if pinned is None:
            return found
        chosen = [(n, p) for n, p in found if n == pinned]
        if not chosen and self.last_error != f"pinned v{pinned} missing":
            self.last_error = f"pinned v{pinned} missing"
            log.error(
                "pinned %s-v%d is not in %s; still serving %s",
                MODEL_NAME,
                pinned,
                self.folder,
                self._describe(),
            )
        return chosen

    def reload(self) -> bool:
        """Serve the chosen model (pinned, else the newest that loads) if it is not serving
        already; True if it swapped."""
        with self._reload_lock:
            for number, path in self._choices():
                if number == self._number:
                    return False
                try:
                    stat = path.stat()
                except OSError:
                    continue
                signature = (stat.st_mtime_ns, stat.st_size)
                if self._refused.get(path) == signature:
                    continue
                try:
                    model = load_model(path)
                except ModelError as exc:
                    self._refused[path] = signature
                    self.last_error = exc.message
                    log.error("%s; still serving %s", exc.message, self._describe())
                    continue
                previous = self._describe()
                self._current, self._number = model, number
                log.info("recommender model %s now serving (was %s)", model.version, previous)
                return True
            return False

    def _describe(self) -> str:
        return self._current.version if self._current else "no model"

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.reload()
            except OSError:
                log.exception("cannot scan %s for new recommender models", self.folder)

    def close(self) -> None:
        """Stop watching the folder."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
