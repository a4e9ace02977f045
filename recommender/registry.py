"""Versioned model files in a folder: serve the newest that loads, swap in newer ones live.

Files are `willay-recommender-v<N>.tflite`, each with its card `willay-recommender-v<N>.json`.
`start()` loads the newest model that passes its checks; `reload()` (called by a background
thread every `poll_seconds`, or by hand) loads any newer one completely and checks it before one
reference assignment makes it current, so a request sees either the old model or the new one,
never a mix. A refused file is logged once with the reason and the previous model keeps serving;
it is tried again when its size or modification time changes (a copy that was still being
written, then finished).
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

from recommender.runtime import RecommenderModel, load_model
from willay.errors import ModelError

__all__ = ["MODEL_NAME", "ModelRegistry", "model_file", "model_files"]

MODEL_NAME = "willay-recommender"
_PATTERN = re.compile(rf"^{MODEL_NAME}-v(\d+)\.tflite$")

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

    def reload(self) -> bool:
        """Swap in the newest model file newer than the one serving; True if it swapped."""
        with self._reload_lock:
            for number, path in model_files(self.folder):
                if number <= self._number:
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
