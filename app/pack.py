"""The content pack of one language: every current tip with its source and clip, compact JSON.

Each tip carries `h`, a short hash of everything the app shows of it; the pack's version is a
hash of those. An app holding a pack asks with `If-None-Match: "<version>"` and the hashes it
has (`have`): nothing changed is a `304`; otherwise the answer is a delta holding only the tips
whose hash it lacks, and `keep`, the hashes of the whole new pack in order, from which the app
rebuilds it (a tip no longer there is simply not in `keep`).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from audio_cache import AudioLibrary
from willay.catalog import Catalog, Tip
from willay.languages import pick_text

__all__ = ["BuiltPack", "Pack", "Packs", "build_pack", "compress", "to_json"]

HASH_CHARS = 8


def to_json(data: object) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def compress(body: bytes) -> bytes:
    """gzip at the highest level, reproducibly (no time stamp)."""
    return gzip.compress(body, compresslevel=9, mtime=0)


def _short_hash(data: object) -> str:
    return hashlib.sha256(to_json(data)).hexdigest()[:HASH_CHARS]


def _tip(tip: Tip, lang: str, *, audio: AudioLibrary) -> dict[str, Any]:
    text, _ = tip.text_for(lang)
    clip = audio.clip(
        "tip", item_id=tip.id, lang=lang, fmt="app", text=text
    )  # only audio of this very text
    item: dict[str, Any] = {
        "id": tip.id,
        "t": tip.topic,
        "x": text,
        "s": [tip.source.name, tip.source.url],
    }
    if clip is not None:
        item["a"] = [clip[0].file, clip[0].bytes, round(clip[0].duration, 1)]
    item["h"] = _short_hash(item)
    return item


@dataclass(frozen=True)
class Pack:
    """One language's pack; `version` changes whenever anything the app shows changes."""

    lang: str
    topics: list[list[str]]
    regions: list[list[str]]
    tips: list[dict[str, Any]]

    @property
    def version(self) -> str:
        """A short hash of everything the app shows."""
        return _short_hash([self.topics, self.regions, [t["h"] for t in self.tips]])

    def _head(self) -> dict[str, Any]:
        return {
            "v": self.version,
            "lang": self.lang,
            "topics": self.topics,
            "regions": self.regions,
        }

    def full(self) -> dict[str, Any]:
        """The whole pack."""
        return {**self._head(), "tips": self.tips}

    def delta(self, have: set[str]) -> dict[str, Any]:
        """What an app holding the tips hashed `have` lacks, and the order of the new pack."""
        return {
            **self._head(),
            "tips": [t for t in self.tips if t["h"] not in have],
            "keep": [t["h"] for t in self.tips],
        }


def build_pack(catalog: Catalog, *, lang: str, audio: AudioLibrary, today: dt.date) -> Pack:
    """The pack of `lang` (texts fall back as on every channel) with the app's Opus clips."""
    topics = [[t.id, pick_text(t.name, lang)[0]] for t in catalog.topics]
    regions = [[r.id, r.name] for r in sorted(catalog.regions, key=lambda r: r.name)]
    tips = [_tip(tip, lang, audio=audio) for tip in catalog.current_tips(today)]
    return Pack(lang=lang, topics=topics, regions=regions, tips=tips)


@dataclass(frozen=True)
class BuiltPack:
    """A pack with its whole answer as sent, plain and gzipped."""

    pack: Pack
    body: bytes
    gzipped: bytes
    today: dt.date
    manifest: object


class Packs:
    """Each language's pack, built and compressed once, again only when the day or the audio
    manifest changes (the catalog is the app's for its lifetime), not on every request."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._built: dict[str, BuiltPack] = {}

    def get(self, lang: str, *, audio: AudioLibrary, today: dt.date) -> BuiltPack:
        """The pack of `lang` today with the clips the audio manifest holds now."""
        manifest = audio.manifest
        built = self._built.get(lang)
        if built is None or built.today != today or built.manifest is not manifest:
            pack = build_pack(self._catalog, lang=lang, audio=audio, today=today)
            body = to_json(pack.full())
            built = BuiltPack(pack, body, compress(body), today, manifest)
            self._built[lang] = built
        return built
