"""The cache as the app reads it: which file plays a tip or a prompt, and which names exist.

The manifest is read again whenever a build replaces it (checked by its modification time and
size on each lookup), so a running app picks up new audio without a restart. A file name is
served only if the manifest names it: anything else is unknown without looking at the disk.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from audio_cache.formats import CONTENT_TYPES
from audio_cache.manifest import FILE_NAME, MANIFEST_NAME, AudioFile, Manifest, load_manifest
from audio_cache.utterances import Kind
from willay.languages import fallbacks
from willay.signoff import text_sha256

__all__ = ["AudioLibrary", "ServedFile"]


@dataclass(frozen=True)
class ServedFile:
    """A file the audio route may send."""

    path: Path
    content_type: str
    etag: str
    bytes: int


class AudioLibrary:
    """Looks clips up in the manifest of `cache_dir`; builds their public URLs."""

    def __init__(self, cache_dir: Path, *, base_url: str) -> None:
        self._dir = cache_dir
        self._base = base_url.rstrip("/")
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._manifest = Manifest()
        self._files: dict[str, AudioFile] = {}

    def _current(self) -> Manifest:
        try:
            stat = (self._dir / MANIFEST_NAME).stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp != self._stamp:
                self._manifest = (load_manifest(self._dir) if stamp else None) or Manifest()
                self._files = self._manifest.files()
                self._stamp = stamp
            return self._manifest

    @property
    def manifest(self) -> Manifest:
        """The manifest now: the same object until a build replaces the file."""
        return self._current()

    @property
    def ready(self) -> bool:
        """True once a build has left a manifest with at least one clip."""
        manifest = self._current()
        return bool(manifest.tips or manifest.prompts)

    def clip(
        self, kind: Kind, *, item_id: str, lang: str, fmt: str = "call", text: str | None = None
    ) -> tuple[AudioFile, str] | None:
        """The file playing an item in `lang` (or its fallback), with the language used.

        With `text`, only a file made from exactly that text: after an edit, until the cache is
        built again, nothing plays (the provider's voice reads the text instead).
        """
        manifest = self._current()
        wanted = text_sha256(text) if text is not None else None
        for code in fallbacks(lang):
            files = manifest.get(kind, item_id=item_id, lang=code)
            if files and fmt in files and wanted in (None, files[fmt].text_sha256):
                return files[fmt], code
        return None

    def url(self, audio: AudioFile) -> str:
        """The public URL of a cached file."""
        return f"{self._base}/audio/{audio.file}"

    def served(self, name: str) -> ServedFile | None:
        """The file behind a name from a URL, or None for any name the manifest does not hold."""
        if not FILE_NAME.fullmatch(name):
            return None
        self._current()
        audio = self._files.get(name)
        if audio is None:
            return None
        return ServedFile(
            path=self._dir / audio.file,
            content_type=CONTENT_TYPES[audio.file.rsplit(".", 1)[1]],
            etag=f'"{audio.sha256[:32]}"',
            bytes=audio.bytes,
        )
