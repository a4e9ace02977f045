"""The manifest: per tip (or prompt), language and format, the file in use and what it holds.

```json
{"version": 1, "formats": {"call": {...}, "app": {...}},
 "tips": {"anemia-hierro-gratis": {"quy": {"call": {"file": "3f...e1.mp3", "bytes": 18233,
          "duration": 8.93, "source": "human", "sha256": "...", "text_sha256": "..."},
          "app": {...}}}},
 "prompts": {"main": {"es": {...}}}}
```

It is replaced atomically after every clip a build finishes, so whatever stops a build, the
manifest on disk is whole and names only files that exist.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from audio_cache.utterances import Kind

__all__ = [
    "FILE_NAME",
    "MANIFEST_NAME",
    "AudioFile",
    "Manifest",
    "load_manifest",
    "save_manifest",
]

MANIFEST_NAME = "manifest.json"
FILE_NAME = re.compile(r"^[0-9a-f]{24}\.(mp3|opus)$")  # a cached file: its content hash

log = logging.getLogger(__name__)


class AudioFile(BaseModel):
    """One encoded file of one clip."""

    model_config = ConfigDict(frozen=True)

    file: str
    bytes: int = Field(ge=0)
    duration: float = Field(ge=0, description="seconds, as the file decodes")
    source: Literal["tts", "human"]
    sha256: str
    text_sha256: str | None = None  # of the text the file speaks: audio follows the text


# item id -> language -> format name -> file
Entries = dict[str, dict[str, dict[str, AudioFile]]]


class Manifest(BaseModel):
    version: Literal[1] = 1
    formats: dict[str, dict[str, object]] = {}
    tips: Entries = {}
    prompts: Entries = {}

    def section(self, kind: Kind) -> Entries:
        """The entries of tips or of prompts."""
        return self.tips if kind == "tip" else self.prompts

    def get(self, kind: Kind, *, item_id: str, lang: str) -> dict[str, AudioFile] | None:
        """The files of one item in one language, by format."""
        return self.section(kind).get(item_id, {}).get(lang)

    def put(self, kind: Kind, *, item_id: str, lang: str, files: dict[str, AudioFile]) -> None:
        """Record the files of one item in one language."""
        self.section(kind).setdefault(item_id, {})[lang] = files

    def files(self) -> dict[str, AudioFile]:
        """Every file named, by file name."""
        return {
            f.file: f
            for section in (self.tips, self.prompts)
            for langs in section.values()
            for formats in langs.values()
            for f in formats.values()
        }


def load_manifest(cache_dir: Path) -> Manifest | None:
    """The manifest in `cache_dir`, or None if there is none (or it cannot be read)."""
    path = cache_dir / MANIFEST_NAME
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError) as exc:
        log.warning("audio manifest %s unreadable, ignored: %s", path, exc)
        return None


def save_manifest(cache_dir: Path, manifest: Manifest) -> None:
    """Write the manifest atomically."""
    partial = cache_dir / f".tmp-{uuid.uuid4().hex}.json"
    try:
        partial.write_text(manifest.model_dump_json(indent=1), encoding="utf-8")
        os.replace(partial, cache_dir / MANIFEST_NAME)
    finally:
        partial.unlink(missing_ok=True)
